"""``planewatch simulate``: serve a simulated fabric over gNMI, sFlow and BIRD on loopback."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from planewatch.cli import fabric_options as opt
from planewatch.cli.fabric_options import FabricOptions, parse_speed
from planewatch.cli.inputs import parse_host_port
from planewatch.clock import ScaledClock
from planewatch.simulator import Simulator
from planewatch.simulator.serve import HANDSHAKE, serve_fabric

err = Console(stderr=True)


def simulate(
    inventory_file: Optional[Path] = typer.Option(None, "--inventory", "-i", help="Simulate this inventory's fabric instead of a generated one."),
    planes: int = opt.PLANES, racks: int = opt.RACKS, servers_per_rack: int = opt.SERVERS_PER_RACK, seed: int = opt.SEED,
    scenario: Optional[str] = opt.SCENARIO, at: float = opt.AT, lasting: float = opt.FOR,
    plane: Optional[int] = opt.PLANE, server: Optional[str] = opt.SERVER, magnitude: Optional[float] = opt.MAGNITUDE,
    duration: Optional[float] = opt.DURATION,
    speed: str = typer.Option("1", "--speed", help="Simulated seconds per real second."),
    workdir: Path = typer.Option(Path("planewatch-sim"), "--workdir", help="Where sockets, certificates and fabric.json go."),
    sflow_target: str = typer.Option("127.0.0.1:6343", "--sflow-target", help="Where the switches send sFlow (HOST:PORT)."),
    start: Optional[float] = typer.Option(None, "--start", help="Simulated start time, epoch seconds (default: now).", hidden=True),
    origin: Optional[float] = typer.Option(None, "--origin", help="time.monotonic() at --start, to share a clock with planewatch up.", hidden=True),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing unless something fails.", hidden=True),
) -> None:
    """Serve a simulated multi-plane fabric on loopback, as the real one would be seen.

    Every switch is a gNMI target (mutual TLS with a throwaway CA, one port per switch),
    every ToR exports sFlow v5 to --sflow-target, and every server answers on a BIRD 1.6
    control socket. When ready, WORKDIR/fabric.json lists the endpoints and certificate
    paths, so any gNMI client, sFlow collector or birdc can be pointed at it.
    'planewatch up' runs this in a child process and watches it through its collectors.
    """
    pace = parse_speed(speed)
    try:
        target = parse_host_port(sflow_target)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--sflow-target") from None
    if pace is None:
        raise typer.BadParameter("a served fabric runs in time; give a number", param_hint="--speed")
    fabric = FabricOptions(inventory_file, planes, racks, servers_per_rack, seed, scenario, at, lasting, plane, server, magnitude)
    inventory = fabric.inventory()
    faults = fabric.faults(inventory)
    start_ts = float(int(time.time())) if start is None else start
    clock = ScaledClock(start_ts, pace, origin)
    simulator = Simulator(inventory, faults=faults, start_ts=start_ts, seed=seed)
    logging.basicConfig(level=logging.WARNING, format="simulate: %(levelname)s %(name)s: %(message)s")
    if not quiet:
        err.print(f"serving {len(inventory.switches)} switches and {len(inventory.servers)} servers; "
                  f"endpoints in {workdir / HANDSHAKE} once ready; Ctrl-C stops")
    asyncio.run(_serve(simulator, clock, workdir, target, duration))


async def _serve(simulator: Simulator, clock: ScaledClock, workdir: Path, target: tuple[str, int],
                 duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_fabric(simulator, clock, workdir, target, duration=duration, stop=stop)

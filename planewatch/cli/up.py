"""``planewatch up``: collectors (or the simulator) -> bus -> detectors -> store, in one process."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from planewatch.cli.output import format_time
from planewatch.inventory import Inventory, InventoryError, load_inventory
from planewatch.schemas import Finding, Record
from planewatch.simulator import SCENARIOS, Fault, Simulator, build_fabric
from planewatch.sources import simulated_source
from planewatch.status import FabricStatus
from planewatch.store import EmbeddedStore, StoreInUseError
from planewatch.streams.inprocess import EmbeddedPipeline, PipelineStats, from_source
from planewatch.streams.plane_failure import PlaneFailureDetector

err = Console(stderr=True)

EPILOG = "Fault scenarios (--scenario):\n\n" + "\n\n".join(f"  [bold]{name}[/bold]: {text}" for name, text in SCENARIOS.items())


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("use a positive number (1 = real time, 20 = twenty times faster) or 'max'") from None
    if speed <= 0:
        raise typer.BadParameter("use a positive number (1 = real time, 20 = twenty times faster) or 'max'")
    return speed


def up(
    inventory_file: Optional[Path] = typer.Option(
        None, "--inventory", "-i", help="Fabric inventory YAML. Without it, a built-in simulated fabric is watched."
    ),
    simulate: bool = typer.Option(
        False, "--simulate", help="With --inventory: simulate that fabric instead of polling its devices."
    ),
    data: Path = typer.Option(Path("planewatch-data"), "--data", "-d", help="Embedded store directory (one process at a time)."),
    scenario: Optional[str] = typer.Option(None, "--scenario", "-s", help="Fault to inject into the simulated fabric (list below)."),
    at: float = typer.Option(60.0, "--at", help="Simulated seconds after start when the fault begins."),
    lasting: float = typer.Option(120.0, "--for", help="How long the fault lasts (simulated seconds)."),
    plane: Optional[int] = typer.Option(None, "--plane", help="Plane the fault hits (plane-down, broadcast-storm, mac-leak, ecmp-imbalance)."),
    server: Optional[str] = typer.Option(None, "--server", help="Server the fault hits (server-down, bgp-flap, mac-leak)."),
    magnitude: Optional[float] = typer.Option(None, "--magnitude", help="How hard the fault hits (storm pps per port, leaked MACs/s, imbalanced share, seconds between flaps)."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many simulated seconds (default: run until Ctrl-C)."),
    speed: str = typer.Option("1", "--speed", help="Simulated seconds per real second, or 'max'."),
    planes: int = typer.Option(4, "--planes", min=2, max=16, help="Simulated fabric: number of planes."),
    racks: int = typer.Option(8, "--racks", min=1, help="Simulated fabric: racks (one ToR per rack per plane)."),
    servers_per_rack: int = typer.Option(16, "--servers-per-rack", min=1, help="Simulated fabric: servers per rack."),
    seed: int = typer.Option(0, "--seed", help="Simulator seed (same seed, same fabric and noise)."),
) -> None:
    """Watch a fabric: live per-plane status, findings as they fire and resolve, everything kept in the store.

    With no --inventory this runs the simulated fabric (4 planes x 8 racks x 16 servers by default),
    so you can see planewatch at work with nothing installed:

      planewatch up --scenario plane-down --plane 2 --at 60 --for 120 --duration 300 --speed 20

    Ctrl-C stops cleanly: every record and finding received so far is flushed to the store.
    Afterwards ask the store what happened: planewatch query timeline --data DIR
    """
    pace = _speed(speed)
    inventory = _inventory(inventory_file, simulate, planes, racks, servers_per_rack, seed)
    faults = []
    if scenario:
        try:
            faults.append(Fault.create(scenario, at=at, duration=lasting, plane=plane, server=server,
                                       magnitude=magnitude, inventory=inventory))
        except ValueError as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(2)
    try:
        store = EmbeddedStore.open(data)
    except StoreInUseError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)
    simulator = Simulator(inventory, faults=faults, start_ts=float(int(time.time())), seed=seed)
    try:
        stats = asyncio.run(_watch(inventory, simulator, store, duration, pace, faults))
    finally:
        store.close()
    err.print(
        f"stopped at {format_time(simulator.now)} (simulated): {stats.records_in:,} records, "
        f"{stats.rows_written:,} rows written, {stats.findings} finding transitions. "
        f"Store: {data}\nNext: [bold]planewatch query timeline --data {data}[/bold]",
        soft_wrap=True,
    )


def _inventory(path: Path | None, simulate: bool, planes: int, racks: int, servers_per_rack: int, seed: int) -> Inventory:
    if path is None:
        return build_fabric(planes=planes, racks=racks, servers_per_rack=servers_per_rack, seed=seed)
    try:
        inventory = load_inventory(path)
    except InventoryError as error:
        err.print(f"[red]error:[/red] {error}\n(run: planewatch inventory check {path})")
        raise typer.Exit(2)
    if not simulate:
        err.print(
            "[red]error:[/red] collecting from real devices (gNMI, sFlow, BIRD) is not available in this "
            "version yet; add --simulate to watch a simulation of this inventory's fabric."
        )
        raise typer.Exit(2)
    return inventory


async def _watch(
    inventory: Inventory, simulator: Simulator, store: EmbeddedStore, duration: float | None,
    speed: float | None, faults: list[Fault],
) -> PipelineStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if not stop.is_set():
            err.print("[yellow]stopping: draining the pipeline and flushing the store…[/yellow]")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    status = FabricStatus(inventory)
    console = Console()
    interactive = console.is_terminal
    last_line = [0.0]

    def on_records(batch: list[Record]) -> None:
        for record in batch:
            status.update(record)
        if interactive:
            live.update(_status_view(status, faults))
        elif status.now - last_line[0] >= 60:
            last_line[0] = status.now
            console.print(_status_line(status), soft_wrap=True)

    def on_finding(finding: Finding) -> None:
        console.print(_finding_line(inventory, finding), soft_wrap=True)

    pipeline = EmbeddedPipeline(
        [from_source(lambda stop_event: simulated_source(simulator, stop_event, duration=duration, speed=speed))],
        [PlaneFailureDetector(inventory)],
        store,
        on_records=on_records,
        on_finding=on_finding,
    )
    with Live(_status_view(status, faults), console=console, auto_refresh=interactive,
              refresh_per_second=4, transient=False) if interactive else _NoLive() as live:
        try:
            return await pipeline.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class _NoLive:
    def __enter__(self) -> "_NoLive":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object) -> None:
        return None


def _status_view(status: FabricStatus, faults: list[Fault]) -> Group:
    table = Table(title=f"planewatch · {format_time(status.now) if status.now else 'starting'} (UTC)", header_style="bold")
    for column in ("plane", "BGP sessions up", "server ports up", "traffic share", "bcast+mcast pps"):
        table.add_column(column, justify="right" if column != "plane" else "left")
    planes = status.planes()
    fair = 1 / len(planes) if planes else 0
    for plane in planes:
        sessions_style = "red" if plane.sessions and plane.sessions_up < plane.sessions else ""
        ports_style = "red" if plane.ports and plane.ports_up < plane.ports else ""
        share_style = "red" if abs(plane.share - fair) > fair * 0.3 else ""
        table.add_row(
            f"{plane.plane} {plane.name}",
            Text(f"{plane.sessions_up}/{plane.sessions}", style=sessions_style),
            Text(f"{plane.ports_up}/{plane.ports}", style=ports_style),
            Text(f"{plane.share:.1%}", style=share_style),
            f"{plane.broadcast_pps:,.1f}",
        )
    notes = [Text(f"fault: {f.describe()}", style="dim") for f in faults]
    return Group(table, *notes)


def _status_line(status: FabricStatus) -> str:
    parts = [
        f"{p.plane}:{p.sessions_up}/{p.sessions} sess {p.ports_up}/{p.ports} ports {p.share:.0%} {p.broadcast_pps:.1f}pps"
        for p in status.planes()
    ]
    return f"{format_time(status.now)}  " + " | ".join(parts)


def _finding_line(inventory: Inventory, finding: Finding) -> Text:
    colour = "bold red" if finding.status == "firing" else "bold green"
    where = f"plane {finding.plane} ({inventory.plane_name(finding.plane)})" if finding.plane else "fabric"
    line = Text()
    line.append(f"{format_time(finding.ts)}  ")
    line.append(f"{finding.status.upper():8}", style=colour)
    line.append(f" {finding.severity:8} {finding.kind:14} {where}: {finding.summary}")
    if finding.status == "firing":
        line.append(f"  (began {format_time(finding.started_at)}, detected +{finding.ts - finding.started_at:.0f}s)", style="dim")
    return line

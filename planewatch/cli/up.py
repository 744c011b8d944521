"""``planewatch up``: collectors (or the simulator) -> bus -> detectors -> store, in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from planewatch.cli import fabric_options as opt
from planewatch.cli.fabric_options import FabricOptions, parse_speed
from planewatch.cli.output import format_time, parse_time
from planewatch.cli import collect as collect_cli
from planewatch.cli import service_options
from planewatch.cli.inputs import alertmanager_or_exit
from planewatch.clock import ScaledClock, WallClock
from planewatch.collectors import Collector
from planewatch.collectors.health import collector_summary, unhealthy_targets
from planewatch.inventory import Inventory
from planewatch.alerting import AlertmanagerClient
from planewatch.schemas import BgpRouteCounters, Finding, PortCounters, Record, SflowCounterSample, inventory_records
from planewatch.simulator import Fault, Simulator
from planewatch.simulator.protocols import ProtocolFabric, SimulatorError
from planewatch.sources import heartbeat, simulated_source
from planewatch.status import FabricStatus
from planewatch.store import EmbeddedStore, StoreInUseError
from planewatch.streams.inprocess import EmbeddedPipeline, PipelineStats, Producer, from_source
from planewatch.streams.config import ConfigError, DetectorsConfig
from planewatch.streams.registry import default_detectors

err = Console(stderr=True)

PERIODIC = (PortCounters, BgpRouteCounters, SflowCounterSample)
"""Records every device sends on a fixed interval: how far behind the clock they arrive is the lag."""
REDRAW_EVERY = 0.25
"""Seconds between redraws of the live view."""
LAG_WARNING = 30.0
"""Simulated seconds the newest collected record may trail the simulated clock before the user is told."""


def up(
    inventory_file: Optional[Path] = typer.Option(
        None, "--inventory", "-i", help="Fabric inventory YAML. Without it, a built-in simulated fabric is watched."
    ),
    simulate: bool = typer.Option(
        False, "--simulate", help="With --inventory: simulate that fabric instead of polling its devices."
    ),
    data: Path = typer.Option(Path("planewatch-data"), "--data", "-d", help="Embedded store directory (one process at a time)."),
    scenario: Optional[str] = opt.SCENARIO, at: float = opt.AT, lasting: float = opt.FOR,
    plane: Optional[int] = opt.PLANE, server: Optional[str] = opt.SERVER, magnitude: Optional[float] = opt.MAGNITUDE,
    duration: Optional[float] = opt.DURATION,
    speed: str = typer.Option("1", "--speed", help="Simulated seconds per real second, or 'max' (implies --direct)."),
    direct: bool = typer.Option(False, "--direct", help="Hand the simulator's records straight to the detectors instead of reading them over gNMI, sFlow and BIRD (fastest; for scenario runs)."),
    planes: int = opt.PLANES, racks: int = opt.RACKS, servers_per_rack: int = opt.SERVERS_PER_RACK, seed: int = opt.SEED,
    sflow_listen: str = collect_cli.SFLOW_LISTEN, bird: Optional[list[str]] = collect_cli.BIRD, no_gnmi: bool = collect_cli.NO_GNMI,
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Detector thresholds YAML ('planewatch eval --show-thresholds' prints every one with its default)."),
    alertmanager: Optional[str] = service_options.ALERTMANAGER,
    start_at: Optional[str] = typer.Option(None, "--start", help="Simulated fabric: when its clock starts (ISO 8601, -10m, epoch; default now). A start in the past replays an incident that has already ended, e.g. for a report or a paging test."),
) -> None:
    """Watch a fabric: live per-plane status, findings as they fire and resolve, everything kept in the store.

    With --inventory FILE it collects from the real devices (gNMI from every switch, sFlow from
    the inventory's agents, BIRD from calico-node's socket). With no --inventory this watches a simulated fabric (4 planes x 8 racks x 16 servers by default)
    exactly as it would watch a real one: the simulated switches and servers run in a child process
    and speak gNMI, sFlow and BIRD on loopback to planewatch's collectors.

      planewatch up --scenario plane-down --plane 2 --at 60 --for 120 --duration 300 --speed 10

    Ctrl-C stops cleanly: every record and finding received so far is flushed to the store.
    With --alertmanager URL findings also page: one alert per fault, resolved when it clears.
    Afterwards ask the store what happened: planewatch query timeline --data DIR
    """
    pace = parse_speed(speed)
    fabric = FabricOptions(inventory_file, planes, racks, servers_per_rack, seed, scenario, at, lasting, plane, server, magnitude)
    real = inventory_file is not None and not simulate
    if real and scenario:
        err.print("[red]error:[/red] --scenario injects faults into a simulation; add --simulate (or drop --scenario)")
        raise typer.Exit(2)
    if real and start_at is not None:
        err.print("[red]error:[/red] --start sets a simulated clock; a real fabric runs on the wall clock (add --simulate or drop --start)")
        raise typer.Exit(2)
    try:
        thresholds = DetectorsConfig.load(config) if config else None
    except ConfigError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2)
    inventory = fabric.inventory()
    faults = fabric.faults(inventory)
    collectors = collect_cli.real_collectors(inventory, collect_cli.fleet_options(sflow_listen, bird, no_gnmi)) if real else []
    pager = alertmanager_or_exit(alertmanager, {inventory.fabric: inventory}, data / "alertmanager-state.json") if alertmanager else None
    try:
        store = EmbeddedStore.open(data)
    except StoreInUseError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)
    log_file = _log_to(data / "planewatch.log")
    start = float(int(parse_time(start_at) if start_at is not None else time.time()))
    store.write(inventory_records(inventory, start))  # plane names and uplinks for queries, dashboards, reports
    protocols: ProtocolFabric | None = None
    if real:
        clock = WallClock()
        producers: list[Producer] = [c.run for c in collectors]
        producers.append(lambda publish, stop: heartbeat(publish, stop, clock=clock))
    elif direct or pace is None:
        simulator = Simulator(inventory, faults=faults, start_ts=start, seed=seed)
        producers = [from_source(lambda stop: simulated_source(simulator, stop, duration=duration, speed=pace))]
    else:
        protocols = ProtocolFabric(inventory, ScaledClock(start, pace), fabric.simulate_args(), duration=duration)
        producers = [protocols.run]
    try:
        stats, now = asyncio.run(_watch(inventory, producers, store, faults, protocols, collectors, thresholds, pager))
    except SimulatorError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1)
    finally:
        store.close()
        if pager is not None:
            pager.close()
            _report_paging(pager)
    err.print(
        f"stopped at {format_time(now)} (simulated): {stats.records_in:,} records, "
        f"{stats.rows_written:,} rows written, {stats.findings} finding transitions. "
        f"Store: {data} (log: {log_file})\nNext: [bold]planewatch query timeline --data {data}[/bold]",
        soft_wrap=True,
    )


def _report_paging(pager: AlertmanagerClient) -> None:
    """One line on what reached Alertmanager, so a page that never left is not a silent surprise."""
    status = pager.status()
    line = f"Alertmanager {pager.url}: {status['sent']} alert(s) sent"
    if status["pending"] or status["failed"] or status["rejected"]:
        err.print(f"[yellow]{line}; {status['pending']} undelivered, {status['failed']} failed, "
                  f"{status['rejected']} rejected (see the log)[/yellow]", soft_wrap=True)
    else:
        err.print(line, soft_wrap=True)


def _log_to(path: Path) -> Path:
    """Collector warnings (a switch refusing, a socket gone) go to a log file; the terminal shows status."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return path


async def _watch(
    inventory: Inventory, producers: list[Producer], store: EmbeddedStore, faults: list[Fault],
    fabric: ProtocolFabric | None, collectors: list[Collector], thresholds: DetectorsConfig | None,
    pager: AlertmanagerClient | None = None,
) -> tuple[PipelineStats, float]:
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

    newest: dict[type, float] = {}
    last_draw = [0.0]
    warned = [False]

    def on_records(batch: list[Record]) -> None:
        for record in batch:
            status.update(record)
            if isinstance(record, PERIODIC) and record.ts > newest.get(type(record), 0.0):
                newest[type(record)] = record.ts
        if fabric is not None and newest and not warned[0]:
            lag = fabric.clock.now() - min(newest.values())  # the slowest periodic stream
            if lag > LAG_WARNING:
                warned[0] = True
                console.print(Text(
                    f"warning: planewatch is {lag:.0f} simulated seconds behind the simulated fabric; findings "
                    "will come late. Lower --speed or simulate a smaller fabric (--racks, --servers-per-rack).",
                    style="yellow"), soft_wrap=True)
        if interactive:
            # Collectors publish many small batches; redrawing the whole view for each one kept the
            # process busy enough to fall 30 s behind the fabric. A person reads 4 frames a second.
            if time.monotonic() - last_draw[0] >= REDRAW_EVERY:
                last_draw[0] = time.monotonic()
                live.update(_status_view(status, faults, _collector_rows(fabric, collectors)))
        elif status.now - last_line[0] >= 60:
            last_line[0] = status.now
            console.print(_status_line(status), soft_wrap=True)

    def on_finding(finding: Finding) -> None:
        console.print(_finding_line(inventory, finding), soft_wrap=True)
        if pager is not None:
            pager.submit([finding])  # already fabric-stamped by the pipeline; a background thread posts, retrying

    pipeline = EmbeddedPipeline(
        producers,
        default_detectors(inventory, thresholds).detectors,
        store,
        on_records=on_records,
        on_finding=on_finding,
        fabric=inventory.fabric,
    )
    with Live(_status_view(status, faults, _collector_rows(fabric, collectors)), console=console, auto_refresh=interactive,
              refresh_per_second=4, transient=False) if interactive else _NoLive() as live:
        try:
            return await pipeline.run(stop), status.now
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


def _collector_rows(fabric: ProtocolFabric | None, collectors: list[Collector]) -> list[dict[str, object]] | None:
    if fabric is not None:
        return fabric.status()
    if collectors:
        return [{"collector": c.name, **row} for c in collectors for row in c.status()]
    return None


def _status_view(status: FabricStatus, faults: list[Fault], collector_rows: list[dict[str, object]] | None = None) -> Group:
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
    if collector_rows is not None:
        sick = [Text(line, style="yellow") for line in unhealthy_targets(collector_rows, status.now)]
        notes[:0] = [Text(collector_summary(collector_rows), style="dim"), *sick]
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

"""Benchmarks: ``planewatch bench …`` measures planewatch next to a reference implementation on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

bench_app = typer.Typer(help="Measure planewatch's decoders next to reference implementations.", no_args_is_help=True)


@bench_app.callback()
def bench() -> None:
    """Measure planewatch's decoders next to reference implementations (same machine, same input)."""


@bench_app.command("sflow")
def sflow(
    pcap: Optional[Path] = typer.Option(None, "--pcap", exists=True, dir_okay=False,
                                        help="Capture of sFlow datagrams (UDP to 6343); generated when omitted."),
    datagrams: int = typer.Option(20_000, "--datagrams", min=1, help="Datagrams to generate when no --pcap is given."),
    repeats: int = typer.Option(2, "--repeats", min=1, help="Runs per decoder; the fastest counts."),
) -> None:
    """sFlow decode rate (samples/s, one core): planewatch vs pmacct's sfacctd on the same capture."""
    from planewatch.bench.sflow import run_sflow_bench

    run_sflow_bench(pcap, datagrams, out=typer.echo, repeats=repeats)


@bench_app.command("detectors")
def detectors(
    racks: int = typer.Option(250, "--racks", min=1, help="Racks (x --servers-per-rack servers)."),
    servers_per_rack: int = typer.Option(80, "--servers-per-rack", min=1, help="Servers per rack."),
    planes: int = typer.Option(4, "--planes", min=2, help="Planes."),
    seconds: float = typer.Option(180.0, "--seconds", min=10.0, help="Simulated seconds of records to generate."),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="Also measure detector memory (an extra, untimed pass)."),
) -> None:
    """Detector throughput (records/s, one core) on a 20,000-server fabric with a plane failure, vs a no-op consumer."""
    from planewatch.bench.detectors import run_detectors_bench

    result = run_detectors_bench(racks, servers_per_rack, planes, seconds, memory=memory, out=typer.echo)
    if result.plane_findings != 1 or result.other_plane_findings:
        raise typer.Exit(1)

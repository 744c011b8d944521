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


@bench_app.command("stream")
def stream(
    kafka: str = typer.Option(..., "--kafka", metavar="HOST:PORT[,HOST:PORT...]",
                              help="Running Kafka bootstrap servers (PLANEWATCH_KAFKA_* for TLS/SASL)."),
    clickhouse: str = typer.Option(..., "--clickhouse", metavar="HOST:PORT",
                                   help="Running ClickHouse, native protocol (PLANEWATCH_CLICKHOUSE_USER, _PASSWORD_FILE)."),
    servers: int = typer.Option(20_000, "--servers", min=1, help="Servers in all, split evenly over --fabrics."),
    fabrics: int = typer.Option(2, "--fabrics", min=1, help="Fabrics (one per partition; workers split the work by fabric)."),
    planes: int = typer.Option(4, "--planes", min=2, help="Planes."),
    duration: float = typer.Option(60.0, "--duration", min=5.0, help="Simulated seconds of records; plane 2 is down for the middle half."),
    workers: str = typer.Option("1,2", "--workers", help="Worker counts to run, comma-separated."),
    partitions: int = typer.Option(2, "--partitions", min=1, help="Partitions when the topics do not exist yet (else theirs are used)."),
    checkpoint_every: float = typer.Option(5.0, "--checkpoint-every", min=0.1, help="The workers' --checkpoint-every (offsets commit at checkpoints)."),
    keep: bool = typer.Option(False, "--keep", help="Keep the databases, state topics and worker logs."),
) -> None:
    """End-to-end records/s (collector -> Kafka -> planewatch stream -> ClickHouse) with 1 and 2 workers, and consumer lag, vs plain kafka-python."""
    from planewatch.bench.stream import StreamBenchError, run_stream_bench

    try:
        counts = sorted({int(part) for part in workers.split(",") if part.strip()})
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        typer.echo(f"error: --workers {workers!r}: give worker counts like 1,2", err=True)
        raise typer.Exit(2)
    try:
        result = run_stream_bench(kafka, clickhouse, servers=servers, fabrics=fabrics, planes=planes, duration=duration,
                                  workers=counts, partitions=partitions, checkpoint_every=checkpoint_every, keep=keep,
                                  out=typer.echo)
    except (StreamBenchError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    if not result.ok:
        raise typer.Exit(1)

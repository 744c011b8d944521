"""Benchmarks: ``planewatch bench …`` measures planewatch next to a reference implementation on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

bench_app = typer.Typer(help="Benchmarks that print their figure beside a reference measured in the same run.", no_args_is_help=True)


@bench_app.callback()
def bench() -> None:
    """Measure planewatch next to a reference on the same machine and input: decoders, detectors, the stream, queries."""


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


@bench_app.command("query")
def query(
    servers: int = typer.Option(20_000, "--servers", min=1, help="Servers (racks of 80), each with a port and two BGP sessions on every plane."),
    planes: int = typer.Option(4, "--planes", min=2, help="Planes; plane 2 fails for 10 minutes a little after mid-day."),
    hours: float = typer.Option(24.0, "--hours", min=1.0, help="Hours of data (a day by default), ending before now."),
    counter_interval: float = typer.Option(60.0, "--counter-interval", min=1.0,
                                           help="Seconds between gNMI counter samples of every port (collectors poll every 10 s; "
                                                "60 s keeps a day at ~120 M rows on a 2-core machine)."),
    route_interval: float = typer.Option(300.0, "--route-interval", min=1.0, help="Seconds between BIRD route counters of every session."),
    fdb_interval: float = typer.Option(3600.0, "--fdb-interval", min=1.0,
                                       help="Seconds between whole-MAC-table snapshots of every switch (changes are stored as they happen)."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Runs per query (and of its raw-scan reference); median and max are printed."),
    data: Optional[Path] = typer.Option(None, "--data", file_okay=False,
                                        help="Write the day here and leave it (must hold no planewatch data yet). "
                                             "Default: a temporary directory, removed at the end unless --keep."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary store and print how to query it."),
) -> None:
    """Forensic query latency on a day of a 20,000-server fabric, each beside a raw scan of the same rows.

    A "day" here: every ToR, uplink and spine port's counters each --counter-interval, every BGP
    session's route counters each --route-interval, every switch's whole MAC table each
    --fdb-interval, the initial state and then each change of ports, sessions and MACs, a
    10-minute failure of plane 2 with its finding, and 5 % of the servers rebooting once. At the
    defaults that is ~168 M rows, ~2.8 GiB; ClickHouse writes it itself (INSERT ... SELECT FROM
    numbers) and the row counts and size on disk are printed.

    Then timeline, alerts, asof, diff and top (whatever planewatch.forensics has) run --repeats
    times each, alternating with a SELECT count(), sum(cityHash64(...)) over the same tables and
    window: the ratio between the two stays meaningful on a busy machine. Exit status 1 when the
    data came out wrong (row counts, or the plane failure not found by alerts/timeline).

    Examples:

        planewatch bench query                                  # the full day (~4 min on 2 cores)

        planewatch bench query --servers 2000 --hours 6         # a quick look

        planewatch bench query --keep                           # then: planewatch query --data <printed dir> timeline ...
    """
    from planewatch.bench.query import BenchQueryError, run_query_bench
    from planewatch.store.embedded import StoreError

    try:
        result = run_query_bench(servers, planes, hours, counter_interval, route_interval, fdb_interval,
                                 data=data, keep=keep, repeats=repeats, out=typer.echo)
    except BenchQueryError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2)
    except StoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
    if not result.ok:
        raise typer.Exit(1)

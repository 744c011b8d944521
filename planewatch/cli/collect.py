"""``planewatch collect``: run the collectors against real devices and emit their records."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Optional

import msgspec
import typer
from rich.console import Console
from rich.markup import escape

from planewatch.clock import WallClock, wait_or_stop
from planewatch.collectors import Collector
from planewatch.collectors.fleet import FleetError, FleetOptions, build_collectors, default_bird_sockets, parse_bird_socket
from planewatch.collectors.health import collector_summary
from planewatch.cli.inputs import kafka_settings_or_exit, load_inventory_or_exit, parse_host_port
from planewatch.inventory import Inventory
from planewatch.kafka import KafkaPublisher, KafkaSettings
from planewatch.schemas import Record
from planewatch.sources import heartbeat

err = Console(stderr=True)

INVENTORY = typer.Option(..., "--inventory", "-i", help="Fabric inventory YAML (switches, their gNMI settings and sFlow agents).")
SFLOW_LISTEN = typer.Option("0.0.0.0:6343", "--sflow-listen", help="Where to receive sFlow (HOST:PORT); 'off' to disable.")
BIRD = typer.Option(None, "--bird", help="A BIRD control socket to poll, NODE=PATH or PATH (repeatable). Default: calico-node's /var/run/calico/bird.ctl when present.")
NO_GNMI = typer.Option(False, "--no-gnmi", help="Do not subscribe to the switches over gNMI.")
KAFKA = typer.Option(
    None, "--kafka", metavar="HOST:PORT[,HOST:PORT...]",
    help="Publish to Kafka instead of writing JSON lines: the brokers to bootstrap from. Topics "
         "(planewatch.<type>.v1) must exist; messages are keyed by the inventory's fabric. TLS and SASL "
         "settings come from PLANEWATCH_KAFKA_* environment variables (see above).")
KAFKA_BUFFER = typer.Option(
    200_000, "--kafka-buffer", min=1,
    help="With --kafka: records kept while the brokers are unreachable. Beyond it the OLDEST are dropped, "
         "counted in the status line and logged; nothing is lost silently.")
KAFKA_CLOSE_TIMEOUT = 15.0
"""Seconds ``collect --kafka`` spends delivering what is still buffered when it stops."""


def fleet_options(sflow_listen: str, bird: list[str] | None, no_gnmi: bool) -> FleetOptions:
    """Command-line choices -> :class:`FleetOptions`; exits 2 saying what to fix."""
    try:
        listen = None
        if sflow_listen != "off":
            try:
                listen = parse_host_port(sflow_listen)
            except ValueError as error:
                raise FleetError(f"--sflow-listen {error} (or 'off')") from None
        sockets = tuple(parse_bird_socket(b) for b in bird) if bird else default_bird_sockets()
    except FleetError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2)
    return FleetOptions(gnmi=not no_gnmi, sflow_listen=listen, bird_sockets=sockets)


def real_collectors(inventory: Inventory, options: FleetOptions) -> list[Collector]:
    try:
        return build_collectors(inventory, options, WallClock())
    except (FleetError, ValueError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2)


def collect(
    inventory_file: Path = INVENTORY,
    sflow_listen: str = SFLOW_LISTEN,
    bird: Optional[list[str]] = BIRD,
    no_gnmi: bool = NO_GNMI,
    output: Path = typer.Option(Path("-"), "--output", "-o", help="Where the records go as JSON lines ('-' = stdout); not with --kafka."),
    kafka: Optional[str] = KAFKA,
    kafka_buffer: int = KAFKA_BUFFER,
    status_every: float = typer.Option(30.0, "--status-every", help="Seconds between collector status lines on stderr (0 = never)."),
) -> None:
    """Collect from real devices: gNMI from every switch, sFlow from the inventory's agents, BIRD from calico-node.

    Records are written as JSON lines (one record per line, its type in the "record"
    field), the same contract the bus carries. Collector health goes to stderr. Use
    'planewatch up --inventory FILE' to also detect and store.

    With --kafka the records go to Kafka instead (distributed mode), with a
    watermark every 5 s; the status line adds whether Kafka is reachable and
    how many records were sent, are buffered and were dropped. An outage is
    ridden out in a bounded buffer (--kafka-buffer). Security settings come
    from the environment, never from the command line:

    PLANEWATCH_KAFKA_SECURITY_PROTOCOL: PLAINTEXT (default), SSL, SASL_SSL, SASL_PLAINTEXT

    PLANEWATCH_KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512

    PLANEWATCH_KAFKA_SASL_USERNAME, PLANEWATCH_KAFKA_SASL_PASSWORD_FILE (a file holding the password)

    PLANEWATCH_KAFKA_CA_FILE (the brokers' CA), PLANEWATCH_KAFKA_CERT_FILE + PLANEWATCH_KAFKA_KEY_FILE (mutual TLS)

    Example: PLANEWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL PLANEWATCH_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
    PLANEWATCH_KAFKA_SASL_USERNAME=planewatch PLANEWATCH_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka
    planewatch collect -i fabric.yaml --kafka kafka-1:9093,kafka-2:9093
    """
    settings = kafka_settings_or_exit(kafka) if kafka is not None else None
    if settings is not None and str(output) != "-":
        err.print("[red]error:[/red] --output and --kafka exclude each other: records go either to a file or to Kafka")
        raise typer.Exit(2)
    inventory = load_inventory_or_exit(inventory_file)
    collectors = real_collectors(inventory, fleet_options(sflow_listen, bird, no_gnmi))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if settings is not None:
        # kafka-python logs every failed reconnect (twice a second during an outage); the publisher
        # says once that Kafka is unreachable and once that it is back, and the status line counts.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        asyncio.run(_collect_to_kafka(collectors, settings, inventory.fabric, kafka_buffer, status_every))
        return
    sink = sys.stdout.buffer if str(output) == "-" else output.open("ab")
    try:
        asyncio.run(_collect(collectors, sink, status_every))
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()


async def _collect(collectors: list[Collector], sink, status_every: float) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    encoder = msgspec.json.Encoder()
    writing = asyncio.Lock()

    def write(data: bytes) -> None:
        sink.write(data)
        sink.flush()

    async def publish(records: list[Record]) -> None:
        # A slow reader (a full pipe) must not freeze the event loop, nor may a signal
        # interrupt a half-written line: whole batches are written, in order, off the loop.
        data = b"".join(encoder.encode(r) + b"\n" for r in records)
        async with writing:
            await asyncio.to_thread(write, data)

    async def report() -> None:
        while status_every > 0 and not await wait_or_stop(stop, status_every):
            rows = [{"collector": c.name, **row} for c in collectors for row in c.status()]
            err.print(collector_summary(rows), soft_wrap=True)

    await asyncio.gather(*(c.run(publish, stop) for c in collectors), report())


async def _collect_to_kafka(collectors: list[Collector], settings: KafkaSettings, fabric: str, buffer: int,
                            status_every: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    publisher = KafkaPublisher(settings, fabric, max_buffered_records=buffer)
    err.print(f"publishing fabric {fabric!r} to Kafka at {settings.describe()}", markup=False, highlight=False)

    async def report() -> None:
        while status_every > 0 and not await wait_or_stop(stop, status_every):
            rows = [{"collector": c.name, **row} for c in collectors for row in c.status()]
            err.print(f"{collector_summary(rows)} · {publisher.status_line()}", soft_wrap=True, markup=False,
                      highlight=False)

    try:
        await asyncio.gather(*(c.run(publisher.publish, stop) for c in collectors),
                             heartbeat(publisher.publish, stop, clock=WallClock()), report())
    finally:
        await publisher.close(timeout=KAFKA_CLOSE_TIMEOUT)
        err.print(publisher.status_line(), soft_wrap=True, markup=False, highlight=False)

"""``planewatch stream``: a Faust worker detecting over Kafka and storing to ClickHouse server."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from planewatch.cli import service_options as opt
from planewatch.cli.inputs import alertmanager_or_exit, clickhouse_settings_or_exit, kafka_settings_or_exit, load_inventory_or_exit

err = Console(stderr=True)


def stream(
    kafka: str = opt.KAFKA,
    clickhouse: str = opt.CLICKHOUSE,
    inventory_files: list[Path] = typer.Option(..., "--inventory", "-i", help="Inventory of a fabric to analyse (repeatable: one per fabric). Records of fabrics without one are stored, not analysed."),
    database: str = opt.DATABASE,
    config: Optional[Path] = typer.Option(None, "--config", help="Detector thresholds YAML (see 'planewatch eval --show-thresholds')."),
    workdir: Path = typer.Option(Path("planewatch-stream"), "--workdir", help="Faust's local data directory."),
    web_port: int = typer.Option(6066, "--web-port", help="Faust's web endpoint (health, /stats); 0 disables it."),
    web_bind: str = typer.Option("127.0.0.1", "--web-bind", help="Address for --web-port (0.0.0.0 in a pod, for probes)."),
    checkpoint_every: float = typer.Option(5.0, "--checkpoint-every", min=0.1, help="Seconds between detector-state checkpoints; input offsets are committed only up to the last one."),
    clickhouse_secure: bool = opt.CLICKHOUSE_SECURE,
    clickhouse_ca_file: Optional[Path] = opt.CLICKHOUSE_CA,
    session_timeout: float = typer.Option(30.0, "--session-timeout", min=3.0, help="Seconds after which Kafka gives a silent worker's partitions to the others.", hidden=True),
    alertmanager: Optional[str] = opt.ALERTMANAGER,
    app_id: str = opt.APP_ID,
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run a stream worker: Kafka records -> detectors per fabric -> ClickHouse, findings to the findings topic.

    Start as many as you like with the same options: Kafka splits the partitions (so the
    fabrics) between them, and a worker that dies hands its fabrics, with their detector
    state, to the others. Nothing is acknowledged before it is written to ClickHouse and
    covered by a state checkpoint, so a crash loses nothing and a replay duplicates
    nothing. Run 'planewatch init' first.
    """
    from planewatch.kafka.admin import TopicLayoutError, input_partitions
    from planewatch.store.server import ServerStore
    from planewatch.streams.config import ConfigError, DetectorsConfig
    from planewatch.streams.distributed.app import StreamSettings, build_app

    kafka_settings = kafka_settings_or_exit(kafka)
    ch = clickhouse_settings_or_exit(clickhouse, database, secure=clickhouse_secure,
                                     **({"ca_file": clickhouse_ca_file} if clickhouse_ca_file else {}))
    inventories = {}
    for path in inventory_files:
        inventory = load_inventory_or_exit(path)
        if inventory.fabric in inventories:
            err.print(f"[red]error:[/red] two inventories name fabric {inventory.fabric!r}; each fabric needs its own name")
            raise typer.Exit(2)
        inventories[inventory.fabric] = inventory
    thresholds = None
    if config is not None:
        try:
            thresholds = DetectorsConfig.load(config)
        except ConfigError as error:
            err.print(f"[red]error:[/red] {escape(str(error))}")
            raise typer.Exit(2)
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    try:
        partitions = input_partitions(kafka_settings, app_id)
    except TopicLayoutError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1)
    except Exception as error:
        err.print(f"[red]error:[/red] kafka {escape(kafka_settings.target)}: {type(error).__name__}: {escape(str(error))} "
                  "(is the broker running and reachable?)")
        raise typer.Exit(1)

    def open_store() -> ServerStore:
        store = ServerStore.connect(ch)
        problems = store.schema_problems()
        if problems:
            raise SystemExit(f"ClickHouse {ch.address} database {database} does not match this planewatch: "
                             f"{'; '.join(problems)} (run 'planewatch init')")
        return store

    workdir.mkdir(parents=True, exist_ok=True)
    pager = alertmanager_or_exit(alertmanager, inventories, workdir / "alertmanager-state.json") if alertmanager else None
    settings = StreamSettings(
        kafka=kafka_settings, open_store=open_store, inventories=inventories, partitions=partitions,
        workdir=workdir, config=thresholds, checkpoint_every=checkpoint_every,
        web_port=web_port or None, web_bind=web_bind, session_timeout=session_timeout, alertmanager=pager, app_id=app_id,
    )
    app, _ = build_app(settings)
    err.print(f"stream: fabrics {', '.join(sorted(inventories))}; Kafka {escape(kafka_settings.describe())}, "
              f"{partitions} partitions; ClickHouse {ch.address}/{database}", highlight=False)
    from faust.worker import Worker

    Worker(app, loglevel=log_level.upper(), quiet=True, override_logging=False).execute_from_commandline()

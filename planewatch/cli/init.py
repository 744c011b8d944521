"""``planewatch init``: create the Kafka topics and the ClickHouse schema distributed mode needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from planewatch.cli import service_options as opt
from planewatch.cli.inputs import clickhouse_settings_or_exit, kafka_settings_or_exit

out = Console()
err = Console(stderr=True)


def init(
    kafka: str = opt.KAFKA,
    clickhouse: str = opt.CLICKHOUSE,
    database: str = opt.DATABASE,
    partitions: int = typer.Option(12, "--partitions", min=1, help="Partitions of every topic. Each fabric lives on one partition, so more partitions than fabrics buys nothing; it cannot be changed later."),
    replication_factor: int = typer.Option(1, "--replication-factor", min=1, help="Kafka replicas of every topic (3 in production)."),
    retention_hours: float = typer.Option(24.0, "--retention-hours", min=0.1, help="How long Kafka keeps raw records (findings: 30 days). ClickHouse keeps the history."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="ClickHouse cluster name: create ReplicatedReplacingMergeTree tables and Distributed tables ON CLUSTER."),
    clickhouse_secure: bool = opt.CLICKHOUSE_SECURE,
    clickhouse_ca_file: Optional[Path] = opt.CLICKHOUSE_CA,
    app_id: str = opt.APP_ID,
    skip_kafka: bool = typer.Option(False, "--skip-kafka", help="Only set up ClickHouse."),
    skip_clickhouse: bool = typer.Option(False, "--skip-clickhouse", help="Only set up Kafka."),
) -> None:
    """Create the Kafka topics and run the ClickHouse migrations. Safe to run again: it changes only what is missing.

    Topics: one per record type, the findings topic and the workers' compacted state
    changelog, all with the same partition count (a fabric's records must meet on one
    partition number). ClickHouse: the database and one table per record type, or with
    --cluster the replicated tables and Distributed tables on every node.
    Prints one line per change, or says there was nothing to do; exit 1 if a service
    is unreachable or has an incompatible layout, with what to fix.
    """
    from planewatch.kafka.admin import TopicLayoutError, ensure_topics
    from planewatch.store.server import StoreError, init_schema

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # its reconnect noise; our errors say it once
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
    failed = False
    if not skip_kafka:
        settings = kafka_settings_or_exit(kafka)
        try:
            actions = ensure_topics(settings, partitions=partitions, replication_factor=replication_factor,
                                    retention_hours=retention_hours, app_id=app_id)
            for line in actions or [f"Kafka {settings.target}: topics are as planewatch needs them"]:
                out.print(f"kafka: {escape(line)}", highlight=False, soft_wrap=True)
        except (TopicLayoutError, ValueError) as error:
            err.print(f"[red]error:[/red] kafka: {escape(str(error))}", highlight=False)
            failed = True
        except Exception as error:  # kafka-python's errors: unreachable, auth
            err.print(f"[red]error:[/red] kafka {escape(settings.target)}: {type(error).__name__}: {escape(str(error))} "
                      "(is the broker running and reachable? are PLANEWATCH_KAFKA_* right?)", highlight=False)
            failed = True
    if not skip_clickhouse:
        ch = clickhouse_settings_or_exit(clickhouse, database, secure=clickhouse_secure,
                                         **({"ca_file": clickhouse_ca_file} if clickhouse_ca_file else {}))
        try:
            for line in init_schema(ch, cluster=cluster):
                out.print(f"clickhouse: {escape(line)}", highlight=False, soft_wrap=True)
        except (StoreError, ValueError) as error:
            err.print(f"[red]error:[/red] clickhouse: {escape(str(error))}", highlight=False)
            failed = True
    if failed:
        raise typer.Exit(1)

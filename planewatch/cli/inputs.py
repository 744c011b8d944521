"""What people hand the CLI, checked once: inventory files, HOST:PORT addresses, Kafka and ClickHouse settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

import typer
from rich.console import Console

from rich.markup import escape

from planewatch.inventory import Inventory, InventoryError, load_inventory

if TYPE_CHECKING:
    from planewatch.alerting import AlertmanagerClient
    from planewatch.kafka import KafkaSettings
    from planewatch.store.server import ClickHouseSettings

err = Console(stderr=True)


def load_inventory_or_exit(path: Path) -> Inventory:
    """The validated inventory; otherwise every problem on stderr and exit 2."""
    try:
        return load_inventory(path)
    except InventoryError as error:
        err.print(f"[red]error:[/red] {error}\n(run: planewatch inventory check {path})")
        raise typer.Exit(2)


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:6343``, ``[::1]:6343`` -> (host, port); ValueError saying what to write."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: use HOST:PORT, e.g. 127.0.0.1:6343")
    return host.strip("[]"), int(port)


def kafka_settings_or_exit(bootstrap: str) -> "KafkaSettings":
    """``--kafka`` and the PLANEWATCH_KAFKA_* environment -> :class:`KafkaSettings`; exits 2 saying what to fix."""
    from planewatch.kafka import KafkaSettings

    try:
        return KafkaSettings.from_env(bootstrap)
    except ValueError as error:
        err.print(f"[red]error:[/red] --kafka: {escape(str(error))}", highlight=False)
        raise typer.Exit(2)


def clickhouse_settings_or_exit(host_port: str, database: str, **options: object) -> "ClickHouseSettings":
    """``--clickhouse`` and the PLANEWATCH_CLICKHOUSE_* environment -> settings; exits 2 saying what to fix."""
    from planewatch.store.server import ClickHouseSettings

    try:
        return ClickHouseSettings.from_env(host_port, database, **options)
    except ValueError as error:
        err.print(f"[red]error:[/red] --clickhouse: {escape(str(error))}", highlight=False)
        raise typer.Exit(2)


def alertmanager_or_exit(url: str, inventories: dict[str, Inventory], state_path: Path) -> "AlertmanagerClient":
    """``--alertmanager`` -> a client that remembers what it resolved in ``state_path``; exits 2 on a bad URL."""
    from planewatch.alerting.alertmanager import AlertmanagerClient, plane_names_from

    try:
        return AlertmanagerClient(url, plane_names=plane_names_from(inventories), state_path=state_path)
    except ValueError as error:
        err.print(f"[red]error:[/red] --alertmanager: {escape(str(error))}", highlight=False)
        raise typer.Exit(2)

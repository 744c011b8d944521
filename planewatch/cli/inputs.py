"""What people hand the CLI, checked once: inventory files and HOST:PORT addresses."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from planewatch.inventory import Inventory, InventoryError, load_inventory

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

"""Rendering query results as a table, CSV or JSON, and parsing the times people type."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import sys
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.table import Table


class Format(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str | None, *, now: float | None = None) -> float | None:
    """``2026-11-26T03:12``, ``2026-11-26 03:12:05Z``, ``-15m``, ``-2h``, ``now`` or an epoch number -> epoch seconds (UTC)."""
    if text is None:
        return None
    text = text.strip()
    now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
    if text == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time; use ISO 8601 (2026-11-26T03:12:00Z, taken as UTC without a zone), "
            "a relative time (-15m, -2h, -1d), 'now' or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.year <= 1970:
            return ""  # minIf/maxIf over no rows
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def emit(table: pa.Table, fmt: Format, *, title: str | None = None, console: Console | None = None) -> None:
    """Print a result in the chosen format (CSV and JSON go to stdout untouched by styling)."""
    if fmt is Format.csv:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        sys.stdout.write(sink.getvalue().to_pybytes().decode())
        return
    if fmt is Format.json:
        rows = table.to_pylist()
        sys.stdout.write(json.dumps(rows, default=_json_default, indent=1) + "\n")
        return
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)  # piped to a file or pager: do not fold rows at 80 columns
    view = Table(title=title, show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.to_pylist():
        view.add_row(*(_cell(row[name]) for name in table.column_names))
    console.print(view)
    if table.num_rows == 0:
        console.print("[dim]no rows[/dim]")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)

"""``planewatch query``: ask the store what happened (alerts, timeline, read-only SQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from planewatch.cli.output import Format, emit, parse_time
from planewatch.forensics import Window, alerts, timeline
from planewatch.store import EmbeddedStore, StoreInUseError

query_app = typer.Typer(
    help="Ask the store what happened. Times: ISO 8601 (UTC unless a zone is given), -15m/-2h/-1d, 'now' or epoch seconds.",
    no_args_is_help=True,
)
err = Console(stderr=True)

DATA = typer.Option(Path("planewatch-data"), "--data", "-d", help="Embedded store directory written by 'planewatch up'.")
FROM = typer.Option(None, "--from", help="Start of the window (default: the beginning).")
TO = typer.Option(None, "--to", help="End of the window (default: now and beyond).")
PLANE = typer.Option(0, "--plane", "-p", min=0, help="Only this plane id (0 = every plane).")
FORMAT = typer.Option(Format.table, "--format", "-f", help="table for people, csv or json for tools.")


def _open(data: Path) -> EmbeddedStore:
    if not data.is_dir():
        err.print(f"[red]error:[/red] no store at {data}; run 'planewatch up --data {data}' first or pass --data")
        raise typer.Exit(2)
    try:
        return EmbeddedStore.open(data)
    except StoreInUseError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)


def _window(start: str | None, end: str | None, plane: int) -> Window:
    return Window(parse_time(start), parse_time(end), plane)


@query_app.command("alerts")
def alerts_command(
    data: Path = DATA, start: Optional[str] = FROM, end: Optional[str] = TO, plane: int = PLANE,
    active: bool = typer.Option(False, "--active", help="Only findings still firing."),
    fmt: Format = FORMAT,
) -> None:
    """Findings: when each fault began, when it fired and resolved, and what it said."""
    with _open(data) as store:
        emit(alerts(store, _window(start, end, plane), active_only=active), fmt, title="findings")


@query_app.command("timeline")
def timeline_command(
    data: Path = DATA, start: Optional[str] = FROM, end: Optional[str] = TO, plane: int = PLANE,
    bucket: int = typer.Option(10, "--bucket", min=1, help="Fold changes of one kind on one plane within this many seconds."),
    detail: bool = typer.Option(False, "--detail", help="One row per change instead of folded rows."),
    fmt: Format = FORMAT,
) -> None:
    """What changed on each plane: BGP sessions, port oper-status, MAC table changes, findings."""
    with _open(data) as store:
        emit(timeline(store, _window(start, end, plane), bucket_seconds=bucket, detail=detail), fmt, title="timeline")


@query_app.command("sql")
def sql_command(
    statement: str = typer.Argument(..., help="One read-only statement, e.g. \"SELECT plane, count() FROM planewatch.bgp_sessions GROUP BY plane\"."),
    data: Path = DATA, fmt: Format = FORMAT,
) -> None:
    """Run one read-only SQL statement against the store (tables live in the 'planewatch' database)."""
    with _open(data) as store:
        try:
            result = store.query_readonly(statement)
        except ValueError as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1)
        emit(result, fmt)

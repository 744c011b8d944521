"""``planewatch query``: ask the store what happened (alerts, timeline, asof, diff, top, read-only SQL)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Optional, TypeVar

import pyarrow as pa
import typer
from rich.console import Console

from planewatch.cli.output import Format, emit, format_time, parse_time
from planewatch.forensics import (
    DEFAULT_LOOKBACK,
    DEFAULT_RATE_WINDOW,
    RANKINGS,
    TopBy,
    TopWhat,
    Window,
    alerts,
    asof,
    asof_detail,
    diff,
    diff_detail,
    timeline,
    top,
)
from planewatch.store import EmbeddedStore, StoreInUseError

query_app = typer.Typer(
    help="Ask the store what happened: alerts, timeline, asof (state at a moment), diff (two moments), "
         "top (what stood out), sql. Times: ISO 8601 (UTC unless a zone is given), HH:MM (the latest such "
         "UTC time), -15m/-2h/-1d, 'now' or epoch seconds.",
    no_args_is_help=True,
)
err = Console(stderr=True)

DATA = typer.Option(Path("planewatch-data"), "--data", "-d", help="Embedded store directory written by 'planewatch up'.")
FROM = typer.Option(None, "--from", help="Start of the window (default: the beginning).")
TO = typer.Option(None, "--to", help="End of the window (default: now and beyond).")
PLANE = typer.Option(0, "--plane", "-p", min=0, max=255, help="Only this plane id (0 = every plane).")
FORMAT = typer.Option(Format.table, "--format", "-f", help="table for people, csv or json for tools.")
LOOKBACK = typer.Option(
    DEFAULT_LOOKBACK, "--lookback", min=1.0,
    help="Seconds before the moment searched for each switch's latest FDB snapshot (older ones are stale). "
         "Session, port and finding states are change logs and are always read up to the moment.",
)
RATE_WINDOW = typer.Option(
    DEFAULT_RATE_WINDOW, "--rate-window", min=1.0,
    help="Seconds before the moment searched for each port's last two counter samples (traffic share, broadcast).",
)

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$")
T = TypeVar("T")


def parse_moment(text: str, option: str, *, now: float | None = None) -> float:
    """What ``parse_time`` accepts, plus a bare ``HH:MM[:SS]``: the latest such UTC time, not after now.

    After an incident people type the clock time they saw ("03:12"), not a date.
    """
    now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
    clock = _CLOCK.match(text.strip())
    if clock:
        hours, minutes, secs = int(clock.group(1)), int(clock.group(2)), float(clock.group(3) or 0)
        if hours > 23 or minutes > 59 or secs >= 60:
            raise typer.BadParameter(f"{text!r} is not a time of day (HH:MM or HH:MM:SS, UTC)", param_hint=option)
        midnight = dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        moment = midnight.timestamp() + hours * 3600 + minutes * 60 + secs
        return moment if moment <= now else moment - 86400
    try:
        moment = parse_time(text, now=now)
    except typer.BadParameter as error:
        raise typer.BadParameter(error.message, param_hint=option) from None
    assert moment is not None
    return moment


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


def _answer(data: Path, ask: Callable[[EmbeddedStore], T]) -> T:
    """Run one question against the store; a value the query refuses becomes a one-line error (exit 2)."""
    with _open(data) as store:
        try:
            return ask(store)
        except ValueError as error:
            err.print(f"[red]error:[/red] {error}", soft_wrap=True)
            raise typer.Exit(2)


@query_app.command("alerts")
def alerts_command(
    data: Path = DATA, start: Optional[str] = FROM, end: Optional[str] = TO, plane: int = PLANE,
    active: bool = typer.Option(False, "--active", help="Only findings still firing."),
    fmt: Format = FORMAT,
) -> None:
    """Findings: when each fault began, when it fired and resolved, and what it said."""
    window = _window(start, end, plane)
    emit(_answer(data, lambda store: alerts(store, window, active_only=active)), fmt, title="findings")


@query_app.command("timeline")
def timeline_command(
    data: Path = DATA, start: Optional[str] = FROM, end: Optional[str] = TO, plane: int = PLANE,
    bucket: int = typer.Option(10, "--bucket", min=1, help="Fold changes of one kind on one plane within this many seconds."),
    detail: bool = typer.Option(False, "--detail", help="One row per change instead of folded rows."),
    fmt: Format = FORMAT,
) -> None:
    """What changed on each plane: BGP sessions, port oper-status, MAC table changes, findings."""
    window = _window(start, end, plane)
    emit(_answer(data, lambda store: timeline(store, window, bucket_seconds=bucket, detail=detail)), fmt, title="timeline")


@query_app.command("asof")
def asof_command(
    at: str = typer.Option(..., "--at", "-t", help="The moment to look at: 03:12, 2026-11-26T03:12:00Z, -2h, epoch seconds."),
    data: Path = DATA, plane: int = PLANE,
    detail: bool = typer.Option(False, "--detail", help="List what was wrong instead: sessions not Established, ports not UP, findings firing."),
    lookback: float = LOOKBACK, rate_window: float = RATE_WINDOW, fmt: Format = FORMAT,
) -> None:
    """Each plane's state at one moment: BGP sessions up, server ports down, MAC table size, traffic share, broadcast, findings firing.

    One row per plane. share is the plane's fraction of all planes' server-port bytes (about 1/N when healthy), macs the largest MAC table among its switches against expected_macs from the inventory, flood_pps broadcast+multicast packets/s into server ports.

    What was plane 2 like at 03:12, and what exactly was down?

      planewatch query asof --at 03:12 --plane 2
      planewatch query asof --at 03:12 --plane 2 --detail
      planewatch query asof --at 2026-11-26T03:12:00Z --format json
    """
    moment = parse_moment(at, "--at")
    if detail:
        result = _answer(data, lambda store: asof_detail(store, moment, plane))
        emit(result, fmt, title=f"not healthy at {format_time(moment)} UTC")
        return
    result = _answer(data, lambda store: asof(store, moment, plane, lookback=lookback, rate_window=rate_window))
    emit(result, fmt, title=f"planes at {format_time(moment)} UTC")


@query_app.command("diff")
def diff_command(
    before: str = typer.Option(..., "--from", help="The first moment (e.g. 03:10, before the incident)."),
    after: str = typer.Option(..., "--to", help="The second moment (e.g. 03:15, during it)."),
    data: Path = DATA, plane: int = PLANE,
    detail: bool = typer.Option(False, "--detail", help="One row per session, port or finding whose state differs."),
    lookback: float = LOOKBACK, rate_window: float = RATE_WINDOW, fmt: Format = FORMAT,
) -> None:
    """What differs on each plane between two moments: sessions and ports that changed state, MAC and share deltas.

    One row per plane with the counts of changed sessions and ports, sessions up, server ports down, MAC table size and traffic share at each moment, and the findings firing at each. --detail lists every session, port and finding whose state differs (a port that went down and came back in between is the same at both; see 'timeline').

    What changed between 03:10 and 03:15?

      planewatch query diff --from 03:10 --to 03:15
      planewatch query diff --from 03:10 --to 03:15 --plane 2 --detail
      planewatch query diff --from -1h --to now --format csv
    """
    first, second = parse_moment(before, "--from"), parse_moment(after, "--to")
    title = f"{format_time(first)} -> {format_time(second)} UTC"
    if detail:
        emit(_answer(data, lambda store: diff_detail(store, first, second, plane)), fmt, title=f"changed {title}")
        return
    result = _answer(data, lambda store: diff(store, first, second, plane, lookback=lookback, rate_window=rate_window))
    emit(_side_by_side(result) if fmt is Format.table else result, fmt, title=title)


def _side_by_side(result: pa.Table) -> pa.Table:
    """The per-plane diff for people: each measure as ``before -> after`` in one column, so it fits a terminal.

    CSV and JSON keep one numeric column per measure and moment, for tools.
    """
    def pair(row: dict, name: str, digits: int | None = None) -> str:
        a, b = row[f"{name}_before"], row[f"{name}_after"]
        if digits is not None:
            a, b = (None if v is None else f"{v:.{digits}f}" for v in (a, b))
        a, b = ("-" if v is None else (v if v != "" else "none") for v in (a, b))
        return f"{a}" if a == b else f"{a} -> {b}"

    rows = [{
        "plane": row["plane"], "name": row["name"],
        "sessions up": pair(row, "sessions_up"), "sessions changed": row["sessions_changed"],
        "server ports down": pair(row, "server_ports_down"), "ports changed": row["ports_changed"],
        "macs": pair(row, "macs"), "share": pair(row, "share", 3), "firing": pair(row, "firing"),
    } for row in result.to_pylist()]
    return pa.Table.from_pylist(rows) if rows else pa.table({"plane": pa.array([], pa.uint8())})


@query_app.command("top")
def top_command(
    what: TopWhat = typer.Argument(..., help="ports, sessions or switches."),
    by: Optional[TopBy] = typer.Option(None, "--by", help="ports: traffic (default) or broadcast; sessions: churn; switches: macs."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=1_000_000, help="How many rows."),
    data: Path = DATA,
    start: Optional[str] = typer.Option(None, "--from", help="Start of the window (default: one hour before --to)."),
    end: Optional[str] = typer.Option(None, "--to", help="End of the window (default: now)."),
    plane: int = PLANE,
    facing: str = typer.Option("all", "--facing", help="ports only: all, server (ToR ports facing servers), uplink or spine."),
    fmt: Format = FORMAT,
) -> None:
    """What stood out in a window: ports by traffic or broadcast, BGP sessions by churn, switches by MAC table size.

    ports: average bytes/s (in+out) or broadcast+multicast packets/s in over the window, every port with counters (facing says server, uplink or spine). sessions: state transitions, then route updates+withdraws received. switches: the largest MAC table each reported (macs_peak), against expected_macs.

    Which ports carried the traffic while plane 2 was down? Who flapped?

      planewatch query top ports --by traffic --from 03:10 --to 03:15
      planewatch query top ports --by broadcast --facing server --plane 3 --limit 20
      planewatch query top sessions --by churn --from -2h
      planewatch query top switches --by macs --from 03:00 --to 04:00
    """
    if by is not None and by not in RANKINGS[what]:
        raise typer.BadParameter(
            f"{what.value} can be ranked by {' or '.join(b.value for b in RANKINGS[what])}, not {by.value}", param_hint="--by")
    stop = parse_moment(end, "--to") if end is not None else parse_moment("now", "--to")
    begin = parse_moment(start, "--from") if start is not None else stop - 3600
    window = Window(begin, stop, plane)
    result: pa.Table = _answer(data, lambda store: top(store, what, window, by=by, limit=limit, facing=facing))
    emit(result, fmt, title=f"top {what.value} by {(by or RANKINGS[what][0]).value}, {format_time(begin)} -> {format_time(stop)} UTC")


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

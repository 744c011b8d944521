"""``planewatch report``: a self-contained HTML incident report from the store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from planewatch.cli.output import format_time, parse_time
from planewatch.report import GENERATOR, build_report, default_window, render
from planewatch.report.context import data_span, rows_between
from planewatch.store import EmbeddedStore, StoreInUseError

err = Console(stderr=True)


def report(
    data: Path = typer.Option(Path("planewatch-data"), "--data", "-d", help="Embedded store directory written by 'planewatch up'."),
    start: Optional[str] = typer.Option(
        None, "--from",
        help="Start of the window: ISO 8601 (UTC unless a zone is given), -2h, 'now' or epoch seconds. "
        "Default: 5 minutes (or half the incident, if longer) before the first finding, else 1 h before the newest data.",
    ),
    end: Optional[str] = typer.Option(
        None, "--to", help="End of the window. Default: as long after the last finding resolved, else the newest data."
    ),
    out: Path = typer.Option(Path("incident.html"), "--out", "-o", help="The HTML file to write."),
    plane: int = typer.Option(0, "--plane", "-p", min=0, help="Highlight this plane in the plots and list only its findings and events (0 = all)."),
    bucket: Optional[int] = typer.Option(None, "--bucket", min=1, help="Seconds per plotted point (default: from the window, about 150 points, at least 10 s)."),
    title: Optional[str] = typer.Option(None, "--title", help="Heading of the report (default: fabric and start time)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out even if it is not a planewatch report."),
) -> None:
    """Write a self-contained HTML incident report: per-plane traffic share, broadcast+multicast, BGP churn and findings on one time axis, plus the table of what changed.

    The file has no scripts and fetches nothing (inline SVG and CSS), so it opens offline, prints, and can be attached to a postmortem ticket as it is.

    Examples:

      planewatch report --data planewatch-data --out incident.html

      planewatch report --from 2026-11-26T03:10Z --to 2026-11-26T03:40Z --plane 2 --title "Plane 2 outage"

      planewatch report --from -2h --to now --bucket 60 -o last-two-hours.html

    Re-running onto a report written earlier replaces it; any other existing file is kept unless --force is given (so a typo in --out cannot clobber a document).
    """
    if not data.is_dir():
        err.print(f"[red]error:[/red] no store at {data}; run 'planewatch up --data {data}' first or pass --data")
        raise typer.Exit(2)
    _check_target(out, force)
    try:
        store = EmbeddedStore.open(data)
    except StoreInUseError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)
    with store:
        span = data_span(store)
        if span is None:
            err.print(f"[red]error:[/red] the store at {data} holds no data yet; record some with 'planewatch up --data {data}'")
            raise typer.Exit(1)
        first, last = default_window(store, span)
        window_start = parse_time(start) if start is not None else first
        window_end = parse_time(end) if end is not None else last
        if window_end <= window_start:
            err.print(f"[red]error:[/red] --to ({format_time(window_end)}) is not after --from ({format_time(window_start)})")
            raise typer.Exit(2)
        if rows_between(store, window_start, window_end) == 0:
            err.print(
                f"[red]error:[/red] no data between {format_time(window_start)} and {format_time(window_end)} UTC; "
                f"the store holds {format_time(span[0])} .. {format_time(span[1])} UTC",
                soft_wrap=True,
            )
            raise typer.Exit(1)
        document = build_report(store, window_start, window_end, bucket=bucket, plane=plane, title=title)
    html = render(document)
    _write(out, html)
    size = out.stat().st_size
    typer.echo(
        f"wrote {out} ({_size(size)}): {format_time(window_start)} .. {format_time(window_end)} UTC, "
        f"{len(document.findings)} finding(s), {document.events_total} event row(s)"
    )


def _check_target(out: Path, force: bool) -> None:
    """Refuse a directory, and a file that is not a report of ours unless --force."""
    if out.is_dir():
        err.print(f"[red]error:[/red] --out {out} is a directory; give a file name such as {out / 'incident.html'}")
        raise typer.Exit(2)
    if out.exists() and not force and not _is_report(out):
        err.print(f"[red]error:[/red] {out} exists and is not a planewatch report; pass --force to overwrite it or choose another --out")
        raise typer.Exit(2)
    if not out.parent.exists():
        err.print(f"[red]error:[/red] directory {out.parent} does not exist")
        raise typer.Exit(2)


def _is_report(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR} ' in head


def _write(out: Path, html: str) -> None:
    """Write next to the target and rename, so a reader never sees half a report."""
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(html)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"

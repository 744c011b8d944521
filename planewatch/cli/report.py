"""``planewatch report``: a self-contained HTML incident report from the store."""

from __future__ import annotations

import typer


def report() -> None:
    """Write a self-contained HTML incident report (not built yet)."""
    typer.echo("planewatch report is not built yet", err=True)
    raise typer.Exit(2)

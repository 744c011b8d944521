"""Top-level Typer application; each command group lives in its own module."""

import typer

app = typer.Typer(
    name="planewatch",
    help="Watch a multi-plane Calico Ethernet fabric: per-plane L2 counters joined with BGP events.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

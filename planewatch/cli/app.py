"""Top-level Typer application; each command group lives in its own module."""

import typer

from planewatch.cli.inventory import inventory_app
from planewatch.cli.query import query_app
from planewatch.bench import bench_app
from planewatch.cli.collect import collect
from planewatch.cli.dashboards import dashboards_app
from planewatch.cli.evaluate import evaluate
from planewatch.cli.init import init
from planewatch.cli.report import report
from planewatch.cli.fabric_options import EPILOG
from planewatch.cli.simulate import simulate
from planewatch.cli.stream import stream
from planewatch.cli.up import up

app = typer.Typer(
    name="planewatch",
    help="Watch a multi-plane Calico Ethernet fabric: per-plane L2 counters joined with BGP events.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.command("up", epilog=EPILOG)(up)
app.command("simulate", epilog=EPILOG)(simulate)
app.command("collect")(collect)
app.command("eval")(evaluate)
app.command("init")(init)
app.command("stream")(stream)
app.add_typer(inventory_app, name="inventory", help="Check a fabric inventory file.")
app.add_typer(query_app, name="query")
app.command("report")(report)
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(bench_app, name="bench", help="Benchmarks that print their figure beside a reference measured in the same run.")

"""``planewatch dashboards``: Grafana dashboards, datasource and alert rules as code (build, push)."""

from __future__ import annotations

import typer

dashboards_app = typer.Typer(
    help="Grafana dashboards, datasource and alert rules as code: write provisioning files, or push them over Grafana's HTTP API.",
    no_args_is_help=True,
)

"""``planewatch dashboards``: Grafana dashboards, datasource and alert rules as code (build, push)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from planewatch.dashboards.provisioning import (
    CONTAINER_DASHBOARDS,
    DATASOURCE_UID,
    ClickHouseConnection,
    ProvisioningError,
    render_tree,
    write_tree,
)

dashboards_app = typer.Typer(
    help="Grafana dashboards, datasource and alert rules as code: write provisioning files, or push them over Grafana's HTTP API.",
    no_args_is_help=True,
)
out_console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_DEFAULTS = ClickHouseConnection()


class Protocol(str, enum.Enum):
    native = "native"
    http = "http"


DATASOURCE_UID_OPTION = typer.Option(
    DATASOURCE_UID, "--datasource-uid", help="uid of the ClickHouse datasource that every panel and alert rule names."
)
HOST = typer.Option(_DEFAULTS.host, "--clickhouse-host", help="ClickHouse host as Grafana reaches it (a value, or $__env{NAME}).")
PORT = typer.Option(str(_DEFAULTS.port), "--clickhouse-port", help="ClickHouse port: 9000 native, 8123 HTTP (9440/8443 with TLS).")
PROTOCOL = typer.Option(Protocol.native, "--clickhouse-protocol", help="ClickHouse protocol the plugin speaks.")
SECURE = typer.Option(False, "--clickhouse-secure", help="Connect to ClickHouse with TLS.")
DATABASE = typer.Option(_DEFAULTS.database, "--clickhouse-database", help="Database holding planewatch's tables (value or $__env{NAME}).")
USER = typer.Option(_DEFAULTS.user, "--clickhouse-user", help="ClickHouse user, read-only is enough (value or $__env{NAME}).")


def _connection(host: str, port: str, protocol: Protocol, secure: bool, database: str, user: str,
                password_file: Optional[Path]) -> ClickHouseConnection:
    password = _DEFAULTS.password if password_file is None else f"$__file{{{password_file}}}"
    return ClickHouseConnection(host=host, port=int(port) if port.isdigit() else port, protocol=protocol.value,
                                secure=secure, database=database, user=user, password=password)


@dashboards_app.command("build")
def build_command(
    out: Path = typer.Option(..., "--out", "-o", help="Grafana's provisioning directory to write (e.g. deploy/grafana/provisioning)."),
    datasource_uid: str = DATASOURCE_UID_OPTION,
    host: str = HOST,
    port: str = PORT,
    protocol: Protocol = PROTOCOL,
    secure: bool = SECURE,
    database: str = DATABASE,
    user: str = USER,
    password_file: Optional[Path] = typer.Option(
        None, "--clickhouse-password-file",
        help="The password file's path *as Grafana sees it* (written as $__file{PATH}; the password itself is never written). "
        "Default: /run/secrets/clickhouse_password.",
    ),
    dashboards_path: str = typer.Option(
        CONTAINER_DASHBOARDS, "--dashboards-path",
        help="Where Grafana finds OUT/dashboards/planewatch (the dashboard provider's options.path).",
    ),
) -> None:
    """Write Grafana provisioning files: datasource, dashboard provider + dashboards, alert rules.

    Under OUT, in the layout Grafana reads from its provisioning/ directory: datasources/planewatch-clickhouse.yaml (the ClickHouse datasource), dashboards/planewatch.yaml (the dashboard provider, folder "planewatch"), dashboards/planewatch/*.json (fabric overview, plane detail, forensics) and alerting/planewatch-rules.yaml (one alert rule per finding kind).

    Every file is checked against the keys Grafana reads (it ignores unknown keys silently) and read back after writing. No secret is written: by default host, database and user are $__env{PLANEWATCH_CLICKHOUSE_HOST/DATABASE/USER} and the password $__file{/run/secrets/clickhouse_password}, which Grafana expands when it reads the files (what deploy/compose.yaml sets up).

    Examples:

      planewatch dashboards build --out deploy/grafana/provisioning

      planewatch dashboards build --out dashboards/examples

      planewatch dashboards build -o /etc/grafana/provisioning --clickhouse-host ch1.example --clickhouse-password-file /etc/grafana/ch.pass --dashboards-path /etc/grafana/provisioning/dashboards/planewatch
    """
    connection = _connection(host, port, protocol, secure, database, user, password_file)
    try:
        files = render_tree(datasource_uid=datasource_uid, connection=connection, dashboards_path=dashboards_path)
        written = write_tree(out, files)
    except ProvisioningError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)
    except OSError as error:
        err.print(f"[red]error:[/red] cannot write {out}: {error}", soft_wrap=True)
        raise typer.Exit(1)
    for path in written:
        out_console.print(f"wrote {path}", soft_wrap=True)
    out_console.print(f"{len(written)} files, checked against the keys Grafana reads; datasource uid {datasource_uid}",
                      soft_wrap=True)


@dashboards_app.command("push")
def push_command(
    url: str = typer.Option(..., "--url", help="Grafana's address, with any sub-path: http://127.0.0.1:3000, https://host/grafana."),
    token_file: Optional[Path] = typer.Option(
        None, "--token-file", help="File holding a Grafana service-account token (default: $PLANEWATCH_GRAFANA_TOKEN). Never pass the token itself."
    ),
    datasource_uid: str = DATASOURCE_UID_OPTION,
    datasource: bool = typer.Option(True, "--datasource/--no-datasource", help="Create or update the datasource too (off: Grafana already has it)."),
    host: str = HOST,
    port: str = PORT,
    protocol: Protocol = PROTOCOL,
    secure: bool = SECURE,
    database: str = DATABASE,
    user: str = USER,
    password_file: Optional[Path] = typer.Option(
        None, "--clickhouse-password-file",
        help="File on *this* machine holding the ClickHouse password; its content is sent to Grafana (stored encrypted there).",
    ),
    editable_rules: bool = typer.Option(False, "--editable-rules", help="Leave the alert rules editable in Grafana's UI (X-Disable-Provenance)."),
    timeout: float = typer.Option(15.0, "--timeout", min=1.0, help="Seconds to wait for each Grafana request."),
) -> None:
    """Upload the datasource, dashboards (folder "planewatch") and alert rules to a running Grafana.

    Safe to run again: each object is found by its uid and updated, or created when missing. The token comes from --token-file or $PLANEWATCH_GRAFANA_TOKEN, never from the command line. $__env{NAME} and $__file{PATH} in the datasource settings are expanded on this machine (Grafana expands them only in provisioning files).

    Examples:

      PLANEWATCH_CLICKHOUSE_HOST=clickhouse PLANEWATCH_CLICKHOUSE_DATABASE=planewatch PLANEWATCH_CLICKHOUSE_USER=planewatch planewatch dashboards push --url http://127.0.0.1:3000 --token-file grafana.token --clickhouse-password-file ch.pass

      planewatch dashboards push --url https://grafana.example/grafana --token-file grafana.token --no-datasource
    """
    from planewatch.dashboards.alert_rules import alert_rules_file
    from planewatch.dashboards.boards import dashboards
    from planewatch.dashboards.provisioning import datasource_file, validate
    from planewatch.dashboards.push import GrafanaClient, PushError, load_token, push

    connection = _connection(host, port, protocol, secure, database, user, password_file)
    try:
        token = load_token(token_file)
        source = datasource_file(connection, uid=datasource_uid)
        rules = alert_rules_file(datasource_uid=datasource_uid)
        validate("datasources", source)
        validate("alerting", rules)
        with GrafanaClient(url, token, timeout=timeout) as client:
            result = push(
                client,
                datasource=source["datasources"][0] if datasource else None,
                dashboards=dashboards(datasource_uid=datasource_uid),
                alert_rules=rules,
                editable_rules=editable_rules,
                progress=lambda line: out_console.print(line, soft_wrap=True),
            )
    except (PushError, ProvisioningError) as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)
    out_console.print(f"pushed {len(result.actions)} objects to {url}", soft_wrap=True)

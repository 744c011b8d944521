"""Options shared by the commands that talk to services: where Kafka, ClickHouse and Alertmanager are."""

from __future__ import annotations

import typer

KAFKA = typer.Option(
    ..., "--kafka", metavar="HOST:PORT[,HOST:PORT...]",
    help="Kafka bootstrap servers. TLS/SASL settings come from PLANEWATCH_KAFKA_SECURITY_PROTOCOL, "
         "_SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD_FILE, _CA_FILE, _CERT_FILE, _KEY_FILE.")
CLICKHOUSE = typer.Option(
    ..., "--clickhouse", metavar="HOST:PORT",
    help="ClickHouse server, native protocol (9000; 9440 with --clickhouse-secure). Credentials from "
         "PLANEWATCH_CLICKHOUSE_USER and PLANEWATCH_CLICKHOUSE_PASSWORD_FILE.")
CLICKHOUSE_SECURE = typer.Option(False, "--clickhouse-secure", help="Talk TLS to ClickHouse.")
CLICKHOUSE_CA = typer.Option(None, "--clickhouse-ca-file", help="CA bundle that signed ClickHouse's certificate (with --clickhouse-secure).")
DATABASE = typer.Option("planewatch", "--database", help="ClickHouse database.")
APP_ID = typer.Option("planewatch", "--app-id", help="Consumer group of the stream workers and prefix of their state topic; give two independent pipelines on one Kafka different ids.")
ALERTMANAGER = typer.Option(
    None, "--alertmanager", metavar="URL",
    help="Page through this Alertmanager (v2 API), e.g. http://alertmanager:9093. Labels: alertname (finding kind), "
         "fabric, plane, plane_name, severity, fingerprint; startsAt is when the fault began.")

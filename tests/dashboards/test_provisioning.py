"""Provisioning files checked strictly against the keys Grafana reads.

Grafana ignores unknown keys in provisioning files without a word, so a misspelt key only
shows up as a setting that silently does not apply. Proved here: every file ``build`` writes
passes the strict validator (key tables from Grafana's and the ClickHouse plugin's source,
see :mod:`planewatch.dashboards.provisioning`), the validator does fail on a typo at every
level we write, the datasource is the one the dashboards and rules name, and no secret is
written. Not proved (no Grafana server here): that Grafana 13 loads the files end to end.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from planewatch.dashboards.alert_rules import alert_rules_file
from planewatch.dashboards.boards import dashboards
from planewatch.dashboards.provisioning import (
    CONTAINER_DASHBOARDS,
    DASHBOARDS_DIR,
    DATASOURCE_FILE,
    DATASOURCE_UID,
    ClickHouseConnection,
    ProvisioningError,
    dashboard_provider_file,
    datasource_file,
    render_tree,
    validate,
    validate_tree,
    write_tree,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _datasource_uids(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict):
            found.add((source.get("type", ""), source.get("uid", "")))
        for value in node.values():
            found |= _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _datasource_uids(value)
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write_tree(tmp_path, render_tree())
    return tmp_path


def test_every_file_build_writes_passes_the_strict_validator(tree: Path) -> None:
    checked = validate_tree(tree)
    names = {path.relative_to(tree).as_posix() for path in checked}
    assert {"datasources/planewatch-clickhouse.yaml", "dashboards/planewatch.yaml",
            "alerting/planewatch-rules.yaml"} <= names
    assert {f"dashboards/planewatch/{name}" for name in dashboards()} <= names


def test_the_deployed_datasource_file_is_what_build_writes_by_default() -> None:
    """deploy/compose.yaml mounts deploy/grafana/provisioning; its datasource is build's default, byte for byte."""
    deployed = (DEPLOY / "grafana" / "provisioning" / DATASOURCE_FILE).read_text(encoding="utf-8")
    assert render_tree()[DATASOURCE_FILE] == deployed, (
        "refresh it with: planewatch dashboards build --out deploy/grafana/provisioning")
    validate("datasources", yaml.safe_load(deployed))


@pytest.mark.parametrize(("kind", "document", "path"), [
    ("datasources", datasource_file(), ["datasources", 0]),
    ("datasources", datasource_file(), ["datasources", 0, "jsonData"]),
    ("datasources", datasource_file(), ["datasources", 0, "secureJsonData"]),
    ("datasources", datasource_file(), []),
    ("dashboards", dashboard_provider_file(), ["providers", 0]),
    ("dashboards", dashboard_provider_file(), ["providers", 0, "options"]),
    ("alerting", alert_rules_file(), ["groups", 0]),
    ("alerting", alert_rules_file(), ["groups", 0, "rules", 3]),
    ("alerting", alert_rules_file(), ["groups", 0, "rules", 0, "data", 0]),
    ("alerting", alert_rules_file(), ["groups", 0, "rules", 0, "data", 0, "model"]),
    ("alerting", alert_rules_file(), ["groups", 0, "rules", 0, "data", 1, "model"]),
], ids=lambda value: ".".join(map(str, value)) if isinstance(value, list) else None)
def test_a_misspelt_key_fails_the_validator(kind: str, document: dict, path: list) -> None:
    validate(kind, document)  # the real document passes...
    broken = copy.deepcopy(document)
    node = broken
    for part in path:
        node = node[part]
    key = next(iter(node))
    node[key[:-1] + key[-1].upper() + "x"] = node.pop(key)  # e.g. apiVersion -> apiVersioNx
    with pytest.raises(ProvisioningError, match="Grafana does not read this key"):  # ...a typo does not
        validate(kind, broken)


@pytest.mark.parametrize(("kind", "mutate", "message"), [
    ("datasources", lambda d: d["datasources"][0]["jsonData"].update(protocol="tcp"), "protocol"),
    ("datasources", lambda d: d["datasources"][0]["jsonData"].update(password="x"), "password"),
    ("datasources", lambda d: d.update(apiVersion=2), "apiVersion"),
    ("datasources", lambda d: d["datasources"][0]["jsonData"].update(port="9000x"), "port"),
    ("datasources", lambda d: d["datasources"][0]["jsonData"].update(secure="yes"), "secure"),
    ("dashboards", lambda d: d["providers"][0].update(type="s3"), "type"),
    ("alerting", lambda d: d["groups"][0]["rules"][0].update(noDataState="Nodata"), "noDataState"),
    ("alerting", lambda d: d["groups"][0]["rules"][0].update(condition="D"), "condition 'D' is none of its refIds"),
    ("alerting", lambda d: d["groups"][0]["rules"][0]["data"][2]["model"].update(expression="Z"), "reads 'Z'"),
    ("alerting", lambda d: d["groups"][0]["rules"][0]["data"][1]["model"].update(reducer="avg"), "reducer"),
])
def test_a_wrong_value_fails_the_validator(kind: str, mutate: Any, message: str) -> None:
    document = {"datasources": datasource_file, "dashboards": dashboard_provider_file, "alerting": alert_rules_file}[kind]()
    mutate(document)
    with pytest.raises(ProvisioningError, match=re.escape(message)):
        validate(kind, document)


def test_the_datasource_is_the_one_every_dashboard_panel_and_alert_rule_names(tree: Path) -> None:
    source = yaml.safe_load((tree / DATASOURCE_FILE).read_text(encoding="utf-8"))["datasources"][0]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "grafana-clickhouse-datasource"
    for path in sorted((tree / DASHBOARDS_DIR).glob("*.json")):
        used = _datasource_uids(json.loads(path.read_text(encoding="utf-8")))
        clickhouse = {uid for kind, uid in used if kind != "grafana"}
        assert clickhouse == {source["uid"]}, (path.name, used)
    rules = yaml.safe_load((tree / "alerting" / "planewatch-rules.yaml").read_text(encoding="utf-8"))
    queried = {q["datasourceUid"] for g in rules["groups"] for r in g["rules"] for q in r["data"]}
    assert queried == {source["uid"], "__expr__"}


def test_no_secret_or_installation_value_is_written_by_default() -> None:
    source = datasource_file()["datasources"][0]
    assert source["secureJsonData"]["password"] == "$__file{/run/secrets/clickhouse_password}"
    for key in ("host", "defaultDatabase", "username"):
        assert re.fullmatch(r"\$__env\{PLANEWATCH_CLICKHOUSE_\w+\}", source["jsonData"][key]), key


def test_the_provider_points_where_compose_mounts_the_dashboards() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    mounts = [volume for volume in compose["services"]["grafana"]["volumes"] if isinstance(volume, str)]
    (provisioning,) = [m.split(":")[1] for m in mounts if m.split(":")[0] == "./grafana/provisioning"]
    provider = dashboard_provider_file()["providers"][0]
    assert provider["options"]["path"] == CONTAINER_DASHBOARDS == f"{provisioning}/{DASHBOARDS_DIR.as_posix()}"
    assert provider["folder"] == "planewatch" and provider["disableDeletion"] is True


def test_a_custom_connection_is_written_as_given(tmp_path: Path) -> None:
    connection = ClickHouseConnection(host="ch1.example", port=9440, secure=True, database="pw", user="ro",
                                      password="$__file{/etc/grafana/ch.pass}")
    files = render_tree(datasource_uid="pw-ch", connection=connection)
    source = yaml.safe_load(files[DATASOURCE_FILE])["datasources"][0]
    assert source["uid"] == "pw-ch"
    assert source["jsonData"] == {"host": "ch1.example", "port": 9440, "protocol": "native", "secure": True,
                                  "defaultDatabase": "pw", "username": "ro"}
    boards = [json.loads(text) for path, text in files.items() if path.suffix == ".json"]
    assert all({uid for kind, uid in _datasource_uids(b) if kind != "grafana"} == {"pw-ch"} for b in boards)


def test_a_broken_file_in_a_tree_is_named(tree: Path) -> None:
    path = tree / "dashboards" / "planewatch.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("allowUiUpdates", "allowUIUpdates"), encoding="utf-8")
    with pytest.raises(ProvisioningError, match=r"(?s)planewatch\.yaml: .*providers\.0\.allowUIUpdates"):
        validate_tree(tree)

"""Grafana alert rules: every rule's SQL runs on real ClickHouse SQL (chdb) with the plugin's
macros expanded, over the recorded plane-down scenario (plane 2 of 4 fails at +60 s for 120 s).

Proved here: the SQL Grafana would send (after :func:`planewatch.dashboards.macros.expand`)
runs on ClickHouse 26 (chdb) against planewatch's real tables and returns what Grafana's
alerting needs to make one alert instance per plane (string label columns and exactly one
numeric column), and the plane-failure rule's value rises on plane 2 during the outage and
drops to 0 once the finding resolved. Not proved (no Grafana server here): that Grafana's
reduce/threshold evaluation turns those rows into firing and resolved alerts.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from planewatch.alerting import RUNBOOK_HINTS
from planewatch.dashboards.alert_rules import KINDS, alert_rules_file, firing_sql, rule_for_kind
from planewatch.dashboards.macros import expand
from planewatch.dashboards.provisioning import DATASOURCE_UID, ProvisioningError, validate
from planewatch.schemas import Finding
from planewatch.schemas.records import inventory_records
from planewatch.simulator import build_fabric
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore
from planewatch.streams.registry import DETECTORS

LABEL_COLUMNS = ("plane", "fabric", "plane_name")


def _rule_sql(rule: dict) -> str:
    (query,) = [q for q in rule["data"] if q["refId"] == "A"]
    return query["model"]["rawSql"]


def _evaluate(store: EmbeddedStore, rule: dict, at: float) -> pa.Table:
    """Run rule's query A as Grafana would at time ``at`` (relative range from..to before it)."""
    (query,) = [q for q in rule["data"] if q["refId"] == "A"]
    span = query["relativeTimeRange"]
    sql = expand(query["model"]["rawSql"], time_from=at - span["from"], time_to=at - span["to"], interval_seconds=60)
    return store.query(sql)


def _values(table: pa.Table) -> dict[str, float]:
    return dict(zip(table.column("plane").to_pylist(), table.column("firing").to_pylist()))


def test_there_is_one_rule_per_finding_kind_and_plane_failure_comes_first() -> None:
    every_kind = {kind for spec in DETECTORS for kind in spec.kinds}
    rules = alert_rules_file()["groups"][0]["rules"]
    assert [rule["labels"]["kind"] for rule in rules] == list(KINDS)
    assert set(KINDS) == every_kind and KINDS[0] == "plane_failure"
    assert len({rule["uid"] for rule in rules}) == len(rules)
    assert all(len(rule["uid"]) <= 40 for rule in rules), "Grafana rejects rule uids over 40 characters"


def test_rules_pass_the_strict_validator_and_a_typo_fails_it() -> None:
    document = alert_rules_file()
    validate("alerting", document)
    document["groups"][0]["rules"][0]["noDataStat"] = "OK"
    with pytest.raises(ProvisioningError, match=r"groups\.0\.rules\.0\.noDataStat: Grafana does not read this key"):
        validate("alerting", document)


def test_a_typo_inside_an_expression_model_fails_the_validator() -> None:
    document = alert_rules_file()
    threshold = document["groups"][0]["rules"][0]["data"][2]["model"]
    threshold["expresion"] = threshold.pop("expression")
    with pytest.raises(ProvisioningError, match="expresion"):
        validate("alerting", document)


def test_rules_query_the_datasource_the_dashboards_use() -> None:
    for rule in alert_rules_file()["groups"][0]["rules"]:
        query = rule["data"][0]
        assert query["datasourceUid"] == DATASOURCE_UID == query["model"]["datasource"]["uid"]
    custom = rule_for_kind("flooding", datasource_uid="other-uid")
    assert custom["data"][0]["datasourceUid"] == "other-uid"


def test_runbook_annotations_reuse_the_alertmanager_hints_with_grafana_labels() -> None:
    rule = rule_for_kind("plane_failure")
    expected = RUNBOOK_HINTS["plane_failure"].format(plane="{{ $labels.plane }}")
    assert rule["annotations"]["runbook"] == expected
    assert "{{ $values.B.Value }}" in rule["annotations"]["summary"]
    assert rule["labels"]["severity"] == "critical"


def test_kind_names_are_the_only_text_put_into_rule_sql() -> None:
    with pytest.raises(ValueError, match="not a finding kind"):
        firing_sql("x' OR 1=1 --")


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_query_returns_one_number_per_plane_with_string_labels(
    kind: str, plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    """Grafana makes one alert instance per row of a table whose other columns are strings."""
    table = _evaluate(plane_down_store, rule_for_kind(kind), plane_down_recording.end)
    assert table.column_names == [*LABEL_COLUMNS, "firing"]
    for name in LABEL_COLUMNS:
        assert pa.types.is_string(table.schema.field(name).type) or pa.types.is_large_string(
            table.schema.field(name).type), (name, table.schema.field(name).type)
    assert pa.types.is_floating(table.schema.field("firing").type)
    planes = table.column("plane").to_pylist()
    known = plane_down_store.query(
        "SELECT DISTINCT toString(plane) AS plane FROM planes UNION DISTINCT "
        "SELECT DISTINCT toString(plane) AS plane FROM findings WHERE kind = {kind:String}", {"kind": kind}
    ).column("plane").to_pylist()
    assert sorted(planes) == sorted(known), "a row for every plane of the inventory or with such findings"
    assert len(planes) == len(set(zip(planes, table.column("fabric").to_pylist()))), "one row per plane"
    assert all(value >= 0 for value in table.column("firing").to_pylist())


def test_every_inventory_plane_gets_a_row_named_after_it_even_with_nothing_firing(chdb_store: EmbeddedStore) -> None:
    """An all-zero answer (not "no data") is what resolves a Grafana alert once the finding resolved."""
    base = float(int(time.time()) // 3600 * 3600 - 3600)  # recent: older rows fall to the tables' TTL
    inventory = build_fabric(planes=4, racks=1, servers_per_rack=2)
    chdb_store.write(inventory_records(inventory, ts=base))
    chdb_store.write([Finding(ts=base + 100, plane=3, fabric=inventory.fabric, fingerprint="00000000000000aa",
                              kind="flooding", subject="", severity="critical", status="firing", started_at=base + 90)])
    table = _evaluate(chdb_store, rule_for_kind("flooding"), base + 200)
    rows = {plane: (name, value) for plane, name, value in zip(
        table.column("plane").to_pylist(), table.column("plane_name").to_pylist(), table.column("firing").to_pylist())}
    assert set(rows) == {"1", "2", "3", "4"}
    assert rows["3"] == (inventory.plane_name(3), 1.0)
    assert all(rows[plane][1] == 0.0 for plane in ("1", "2", "4"))
    assert _values(_evaluate(chdb_store, rule_for_kind("flooding"), base + 50))["3"] == 0.0, "not fired yet"


def test_plane_failure_rule_fires_on_plane_2_during_the_outage_and_not_after(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    findings = [f for f in plane_down_recording.findings if f.kind == "plane_failure" and f.plane == 2]
    fired = min(f.ts for f in findings if f.status == "firing")
    resolved = max(f.ts for f in findings if f.status == "resolved")
    assert fired < resolved, "the scenario should fire and then resolve plane 2's failure"
    rule = rule_for_kind("plane_failure")

    before = _values(_evaluate(plane_down_store, rule, plane_down_recording.start + 1))
    during = _values(_evaluate(plane_down_store, rule, fired + 1))
    after = _values(_evaluate(plane_down_store, rule, resolved + 1))

    assert during["2"] > 0
    assert all(value == 0 for plane, value in during.items() if plane != "2"), during
    assert after["2"] == 0, after
    assert before.get("2", 0) == 0, before

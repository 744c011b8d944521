"""The dashboards: their JSON as Grafana reads it, and every query run on a recorded plane failure.

No Grafana server runs here. What is proved: the JSON's structure (ids, grid, datasource
uids, variables) and that each query, expanded exactly as the ClickHouse plugin would
expand it (planewatch.dashboards.macros), runs on ClickHouse (chdb) against the
plane-down scenario and returns the columns and types its panel reads, with values a user
would recognise as the incident. Not proved: how Grafana renders them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from planewatch.dashboards.boards import dashboards, panel_queries
from planewatch.dashboards.macros import ALL, expand
from planewatch.dashboards.panels import FORMAT_TIME_SERIES, PanelQuery
from planewatch.dashboards.queries import FINDING_ANNOTATIONS, PLANE_HEALTH, SESSIONS_UP_DOWN, TRAFFIC_SHARE
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore
from scenario_stores import PLANE_DOWN

DS = "test-datasource-uid"
BOARDS = dashboards(DS)

# Variable selections per dashboard: a plane, "All", a switch, a server.
CASES: dict[str, dict[str, dict[str, Any]]] = {
    "planewatch-fabric-overview.json": {"no variables": {}},
    "planewatch-plane-detail.json": {"plane 2": {"plane": "2"}, "plane 1": {"plane": "1"}},
    "planewatch-forensics.json": {
        "plane 2": {"plane": ["2"], "switch": ALL, "server": ALL},
        "all": {"plane": ALL, "switch": ALL, "server": ALL},
        "a switch": {"plane": ALL, "switch": ["p2-tor-r01"], "server": ALL},
        "a server": {"plane": ["2"], "switch": ALL, "server": ["r01-s01"]},
    },
}

_KIND_OF_TYPE = [
    (re.compile(r"^DateTime(64)?\b"), "time"),
    (re.compile(r"^(U?Int\d+|Float\d+|Decimal.*|Bool)$"), "number"),
    (re.compile(r"^(String|FixedString\(\d+\)|Enum\d*\(.*\))$"), "string"),
]


def _kind(clickhouse_type: str) -> str:
    bare = clickhouse_type
    for wrapper in ("Nullable", "LowCardinality", "Nullable"):
        if bare.startswith(wrapper + "(") and bare.endswith(")"):
            bare = bare[len(wrapper) + 1 : -1]
    for pattern, kind in _KIND_OF_TYPE:
        if pattern.match(bare):
            return kind
    return f"other ({clickhouse_type})"


def _run(store: EmbeddedStore, query: PanelQuery, recording: Recording, variables: dict, **window: float) -> tuple[list[dict], dict[str, str]]:
    """Rows and ClickHouse column types of ``query`` expanded for the recording (or ``window``)."""
    sql = expand(
        query.raw_sql,
        time_from=window.get("time_from", recording.start),
        time_to=window.get("time_to", recording.end),
        interval_seconds=max(10, query.min_interval_seconds or 0),
        variables=variables,
    )
    types = {row["name"]: row["type"] for row in store.query(f"DESCRIBE ({sql})").to_pylist()}
    return store.query(sql).to_pylist(), types


def _query(board: str, title: str) -> PanelQuery:
    (found,) = [q for q in panel_queries(BOARDS[board]) if q.title == title]
    return found


def _plane_names(store: EmbeddedStore) -> dict[int, str]:
    rows = store.query("SELECT plane, argMax(name, ts) AS name FROM planes GROUP BY plane").to_pylist()
    assert rows, "the planes table is empty: the recording must write the inventory"
    return {row["plane"]: row["name"] for row in rows}


# -- every query ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("board", "case"), [(board, case) for board, cases in CASES.items() for case in cases]
)
def test_every_query_returns_the_columns_its_panel_reads(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording, board: str, case: str
) -> None:
    variables = CASES[board][case]
    queries = panel_queries(BOARDS[board])
    assert queries
    for query in queries:
        where = f"{board} / {query.title} / {query.ref_id} ({case})"
        rows, types = _run(plane_down_store, query, plane_down_recording, variables)
        assert rows, f"{where}: no rows"
        assert query.columns, f"{where}: no expected columns recorded"
        for column in query.columns:
            assert column.name in types, f"{where}: no column {column.name!r} in {sorted(types)}"
            assert _kind(types[column.name]) == column.kind, f"{where}: {column.name} is {types[column.name]}"
        if query.format == FORMAT_TIME_SERIES:
            # sqlutil turns long results into series only when sorted by time, time first
            assert query.columns[0].kind == "time"
            times = [row[query.columns[0].name] for row in rows]
            assert times == sorted(times), f"{where}: not sorted by time"
            for column in query.columns[1:]:
                if column.kind == "number":
                    values = [row[column.name] for row in rows if row[column.name] is not None]
                    assert all(math.isfinite(v) for v in values), f"{where}: {column.name} not finite"


# -- what a user would notice ----------------------------------------------------------------

def _outage(recording: Recording) -> tuple[float, float]:
    """Whole 30 s buckets inside the outage (a margin for detection and recovery)."""
    return recording.start + PLANE_DOWN.at + 30, recording.start + PLANE_DOWN.at + PLANE_DOWN.duration - 30


def test_traffic_share_of_the_failed_plane_drops_to_zero_and_the_others_take_a_third(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    names = _plane_names(plane_down_store)
    query = _query("planewatch-fabric-overview.json", "Traffic share per plane (should be 1/N)")
    assert query.raw_sql == TRAFFIC_SHARE.strip()
    rows, _ = _run(plane_down_store, query, plane_down_recording, {})
    start, end = _outage(plane_down_recording)
    during = [r for r in rows if start <= r["time"] <= end]
    before = [r for r in rows if r["time"] < plane_down_recording.start + PLANE_DOWN.at - 30]
    assert during and before
    for row in during:
        if row["plane"] == names[2]:
            assert row["share"] < 0.02, row
        else:
            assert 0.30 < row["share"] < 0.37, row
    for row in before:
        assert 0.2 < row["share"] < 0.3, row
    for time_ in {r["time"] for r in rows}:
        assert math.isclose(sum(r["share"] for r in rows if r["time"] == time_), 1.0, rel_tol=1e-9)


def test_broadcast_rates_are_finite_and_never_negative(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    query = _query("planewatch-fabric-overview.json", "Broadcast + multicast into server ports")
    rows, _ = _run(plane_down_store, query, plane_down_recording, {})
    assert {r["plane"] for r in rows} == set(_plane_names(plane_down_store).values())
    assert all(r["pps"] is not None and math.isfinite(r["pps"]) and r["pps"] >= 0 for r in rows)


def test_the_findings_annotation_shows_the_plane_failure_from_start_to_resolution(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    (annotation_query,) = [q for q in panel_queries(BOARDS["planewatch-fabric-overview.json"]) if q.panel_type == "annotation"]
    assert annotation_query.raw_sql == FINDING_ANNOTATIONS.strip()
    rows, _ = _run(plane_down_store, annotation_query, plane_down_recording, {})
    failure = next(f for f in plane_down_recording.findings if f.kind == "plane_failure" and f.status == "resolved")
    (row,) = [r for r in rows if "plane_failure" in r["tags"].split(",")]
    assert _plane_names(plane_down_store)[2] in row["tags"].split(",")
    assert abs(row["time"].timestamp() - failure.started_at) < 0.001
    assert abs(row["timeEnd"].timestamp() - failure.ended_at) < 0.001


def test_plane_detail_shows_plane_2_sessions_down_during_the_outage(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    query = _query("planewatch-plane-detail.json", "BGP sessions on $plane")
    assert query.raw_sql == SESSIONS_UP_DOWN.strip()
    start, end = _outage(plane_down_recording)
    failed, _ = _run(plane_down_store, query, plane_down_recording, {"plane": "2"})
    healthy, _ = _run(plane_down_store, query, plane_down_recording, {"plane": "1"})
    sessions = failed[0]["up"] + failed[0]["down"]
    assert sessions > 0 and failed[0]["down"] == 0
    assert all(r["up"] == 0 and r["down"] == sessions for r in failed if start <= r["time"] <= end)
    assert failed[-1]["up"] == sessions, "sessions come back after the outage"
    assert all(r["down"] == 0 and r["up"] == sessions for r in healthy)
    # one row per interval, the state carried between changes
    assert len(failed) == len(healthy) == math.ceil((plane_down_recording.end - plane_down_recording.start) / 30)


def test_plane_health_mid_outage_counts_plane_2_down(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    query = _query("planewatch-fabric-overview.json", "Plane health (at the end of the range)")
    assert query.raw_sql == PLANE_HEALTH.strip()
    mid = plane_down_recording.start + PLANE_DOWN.at + PLANE_DOWN.duration / 2
    rows, _ = _run(plane_down_store, query, plane_down_recording, {}, time_to=mid)
    by_plane = {r["plane"]: r for r in rows}
    assert by_plane[2]["sessions_up"] == 0 and by_plane[2]["server_ports_up"] == 0
    for plane in (1, 3, 4):
        assert by_plane[plane]["sessions_up"] == by_plane[plane]["sessions"] > 0
        assert by_plane[plane]["server_ports_up"] == by_plane[plane]["server_ports"] > 0
    findings, _ = _run(plane_down_store, _query("planewatch-fabric-overview.json", "Findings in range (firing first)"),
                       plane_down_recording, {}, time_to=mid)
    assert [(r["kind"], r["state"]) for r in findings] == [("plane_failure", "firing")]


def test_forensic_filters_narrow_the_timeline(plane_down_store: EmbeddedStore, plane_down_recording: Recording) -> None:
    query = _query("planewatch-forensics.json", "Event timeline")
    everything, _ = _run(plane_down_store, query, plane_down_recording, CASES["planewatch-forensics.json"]["all"])
    switch, _ = _run(plane_down_store, query, plane_down_recording, CASES["planewatch-forensics.json"]["a switch"])
    server, _ = _run(plane_down_store, query, plane_down_recording, CASES["planewatch-forensics.json"]["a server"])
    assert {r["source"] for r in everything} >= {"bgp", "port", "mac", "finding"}
    assert switch and {r["switch"] for r in switch} == {"p2-tor-r01"} and len(switch) < len(everything)
    # the server's sessions, the ToR port facing it, and its MAC ageing out of the plane's tables
    assert server and {r["server"] for r in server} == {"r01-s01"}
    assert {r["source"] for r in server} == {"bgp", "port", "mac"}
    assert {r["subject"] for r in server if r["source"] == "port"} == {"p2-tor-r01 Ethernet1"}


# -- structure -----------------------------------------------------------------------------

def _walk(node: Any) -> list[dict]:
    """Every dict in ``node`` (depth first)."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_dashboard_structure(board: str) -> None:
    model = BOARDS[board]
    json.dumps(model)  # serialisable as is
    assert model == dashboards(DS)[board], "the same input builds the same dashboard"
    assert model["uid"] == board.removesuffix(".json") and len(model["uid"]) <= 40
    assert model["schemaVersion"] == 39 and model["id"] is None
    panels = model["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area
    for node in _walk(model):
        if "datasource" in node and not node.get("builtIn"):
            assert node["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": DS}, node.get("title")
    for target in [t for p in panels for t in p["targets"]]:
        assert target["editorType"] == "sql" and target["format"] in (0, 1)
        assert target["queryType"] == ("timeseries" if target["format"] == 0 else "table")
        assert target["pluginVersion"].startswith("4.")
    for p in panels:
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs)
        if p["type"] == "timeseries":
            assert all(t["format"] == FORMAT_TIME_SERIES for t in p["targets"])


_VARIABLE_REF = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]+)?\}")


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_variable_a_query_or_title_uses_is_defined(board: str) -> None:
    model = BOARDS[board]
    defined = {v["name"] for v in model["templating"]["list"]}
    used: set[str] = set()
    texts = [q.raw_sql for q in panel_queries(model)] + [p["title"] for p in model["panels"]]
    for text in texts:
        for match in _VARIABLE_REF.finditer(text):
            name = match.group(1) or match.group(2)
            if not name.startswith("__"):
                used.add(name)
    assert used <= defined, f"undefined: {used - defined}"
    assert defined <= used, f"defined but never used: {defined - used}"
    for variable in model["templating"]["list"]:
        assert variable["query"]["rawSql"] == variable["definition"]


def test_dashboard_uids_are_unique_and_stable() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert uids == [b["uid"] for b in dashboards("another").values()]


def test_a_bad_datasource_uid_is_refused() -> None:
    with pytest.raises(ValueError, match="40 characters"):
        dashboards("x" * 41)

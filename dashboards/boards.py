"""planewatch's three Grafana dashboards, as code: fabric overview, plane detail, forensics.

``dashboards(datasource_uid)`` returns each dashboard's JSON model under the file name it
is provisioned as; ``panel_queries(dashboard)`` lists every query in one (panels,
annotations, template variables) with what it must return, so tests and
``planewatch dashboards`` can run each against a store. The SQL itself lives in
:mod:`planewatch.dashboards.queries`; the JSON builders in :mod:`planewatch.dashboards.panels`
(plain dicts; the module docstring there says why not grafana-foundation-sdk).

Example::

    >>> boards = dashboards("planewatch-clickhouse")
    >>> sorted(boards)
    ['planewatch-fabric-overview.json', 'planewatch-forensics.json', 'planewatch-plane-detail.json']
    >>> [q.title for q in panel_queries(boards["planewatch-plane-detail.json"])][:2]
    ['plane', 'Switches']
"""

from __future__ import annotations

from typing import Any

from planewatch.dashboards import queries as sql
from planewatch.dashboards.panels import (
    COLUMNS,
    FORMAT_TABLE,
    FORMAT_TIME_SERIES,
    PanelQuery,
    Query,
    annotation,
    dashboard,
    number,
    query_variable,
    string,
    table,
    time,
    timeseries,
)

DEFAULT_DATASOURCE_UID = "planewatch-clickhouse"

OVERVIEW_UID = "planewatch-fabric-overview"
PLANE_DETAIL_UID = "planewatch-plane-detail"
FORENSICS_UID = "planewatch-forensics"

_BY_PLANE = "${__field.labels.plane}"
"""Legend text of a long-format series labelled by the ``plane`` column."""


def _ts(query: str, *values: str, label: str | None = "plane", ref_id: str = "A") -> Query:
    columns = (time(), *((string(label),) if label else ()), *(number(v) for v in values))
    return Query(query, columns, FORMAT_TIME_SERIES, ref_id)


def _dashed(pattern: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }


def fabric_overview(uid: str) -> dict[str, Any]:
    """Is every plane carrying its 1/N, quiet and complete? What fired?"""
    panels = [
        table(uid, "Plane health (at the end of the range)", Query(sql.PLANE_HEALTH, (
            number("plane"), string("name"), number("sessions_up"), number("sessions"),
            number("server_ports_up"), number("server_ports"),
        )), width=10, height=7, description="BGP sessions Established of those known, and server-facing ToR "
                                             "ports UP, per plane, as of the end of the time range."),
        table(uid, "Findings in range (firing first)", Query(sql.FINDINGS, (
            string("state"), string("kind"), string("plane"), string("severity"), time("began"), string("summary"),
        )), width=14, height=7, description="Every fault that was firing at some time in the range, with its "
                                             "state at the range's end."),
        timeseries(uid, "Traffic share per plane (should be 1/N)", [_ts(sql.TRAFFIC_SHARE, "share")],
                   unit="percentunit", stacked=True, display_name=_BY_PLANE, minimum=0, maximum=1,
                   description="Each plane's share of octets in+out on server-facing ToR ports. ECMP across "
                               "N healthy planes puts each near 1/N; a failed plane drops to 0 and the others rise."),
        timeseries(uid, "Broadcast + multicast into server ports", [_ts(sql.FLOOD_PPS, "pps")],
                   unit="pps", display_name=_BY_PLANE, minimum=0,
                   description="Almost zero in a Calico fabric (servers ARPing for each other); a flood shows here first."),
        timeseries(uid, "MAC table size against expected", [_ts(sql.MAC_TABLE, "macs", "expected")],
                   display_name="${__field.name} ${__field.labels.plane}", overrides=[_dashed("expected.*")],
                   description="The largest MAC table among each plane's switches; dashed: what the inventory "
                               "expects (one MAC per server, route reflector and router)."),
        timeseries(uid, "BGP route churn (imports per second)", [_ts(sql.ROUTE_CHURN, "updates", "withdraws")],
                   unit="ops", display_name="${__field.name} ${__field.labels.plane}",
                   overrides=[_dashed("withdraws.*")],
                   description="Import updates and withdraws per second over all BGP sessions of a plane "
                               "(BIRD's per-protocol counters)."),
        timeseries(uid, "BGP session state changes", [_ts(sql.SESSION_CHANGES, "changes")],
                   draw="bars", stacked=True, display_name=_BY_PLANE, width=24, height=6,
                   description="Session transitions per interval: one flapping server is a few, a failing plane hundreds."),
    ]
    return dashboard(
        uid=OVERVIEW_UID,
        title="planewatch: fabric overview",
        description="Per-plane health of a multi-plane Calico fabric: traffic share, flooding, MAC tables, BGP churn, findings.",
        panels=panels,
        annotations=[annotation(uid, "Findings", Query(sql.FINDING_ANNOTATIONS, (
            time("time"), time("timeEnd"), string("text"), string("tags"),
        )))],
    )


def _plane_variable(uid: str, *, multi: bool) -> dict[str, Any]:
    return query_variable(
        uid, "plane", "Plane", sql.PLANE_VARIABLE, multi=multi, include_all=multi,
        description="Planes from the inventory (value: plane number, text: number and name).",
        columns=(number("plane"), string("label")),
    )


def plane_detail(uid: str) -> dict[str, Any]:
    """One plane up close: its switches, busiest and noisiest ports, uplink balance, sessions, routes."""
    panels = [
        table(uid, "Switches", Query(sql.PLANE_SWITCHES, (
            string("switch"), string("role"), string("rack"), string("uplinks"),
            number("ports_up"), number("ports"), number("macs"),
        )), width=12, height=8, description="The plane's switches from the inventory, ports UP at the range's "
                                             "end and their current MAC table size."),
        timeseries(uid, "BGP sessions on $plane", [_ts(sql.SESSIONS_UP_DOWN, "up", "down", label=None)],
                   stacked=True, width=12, height=8,
                   description="Sessions to this plane's route reflectors Established (up) and not (down), "
                               "as of the end of each interval."),
        table(uid, "Top ports by traffic", Query(sql.TOP_PORTS_TRAFFIC, (
            string("switch"), string("port"), string("faces"), number("bytes_per_s"),
        )), width=8, height=8, units={"bytes_per_s": "Bps"},
            description="Mean octets in+out per second over the range."),
        table(uid, "Top ports by broadcast + multicast", Query(sql.TOP_PORTS_FLOOD, (
            string("switch"), string("port"), string("faces"), number("flood_pps"),
        )), width=8, height=8, units={"flood_pps": "pps"},
            description="Mean broadcast + multicast packets in per second over the range."),
        table(uid, "ToR uplink balance", Query(sql.UPLINK_BALANCE, (
            string("tor"), string("uplink"), number("share"), number("fair_share"),
        )), width=8, height=8, units={"share": "percentunit", "fair_share": "percentunit"},
            description="Within each ToR, each uplink's share of the ToR's uplink traffic over the range; "
                        "the most unbalanced first."),
        timeseries(uid, "Routes per BGP session, all planes", [_ts(sql.ROUTE_COUNTS, "routes_per_session")],
                   display_name=_BY_PLANE, width=24, height=7,
                   description="Routes imported per session on every plane: a healthy plane matches the others."),
    ]
    return dashboard(
        uid=PLANE_DETAIL_UID,
        title="planewatch: plane detail",
        description="One plane of the fabric in detail.",
        panels=panels,
        variables=[_plane_variable(uid, multi=False)],
    )


def forensics(uid: str) -> dict[str, Any]:
    """What changed, when and where, filterable by plane, switch and server."""
    variables = [
        _plane_variable(uid, multi=True),
        query_variable(uid, "switch", "Switch", sql.FORENSIC_SWITCH_VARIABLE, multi=True, include_all=True,
                       description="Switches of the selected planes.", columns=(string("device"),)),
        query_variable(uid, "server", "Server", sql.FORENSIC_SERVER_VARIABLE, multi=True, include_all=True,
                       description="Servers of the selected planes (from the inventory); filters their BGP sessions, "
                                   "the ToR ports facing them, their MACs and findings about them.",
                       columns=(string("server"),)),
    ]
    panels = [
        timeseries(uid, "Changes per interval", [_ts(sql.EVENT_COUNTS, "events", label="source")],
                   draw="bars", stacked=True, display_name="${__field.labels.source}", width=24, height=7,
                   description="BGP session, port, MAC and finding changes per interval."),
        table(uid, "Event timeline", Query(sql.EVENTS, (
            time("time"), string("plane"), string("source"), string("subject"), string("change"),
            string("switch"), string("server"),
        )), width=24, height=16, description="Every change in the range, newest first (at most 2000)."),
    ]
    return dashboard(
        uid=FORENSICS_UID,
        title="planewatch: forensics",
        description="What changed on each plane during an incident.",
        panels=panels,
        variables=variables,
    )


def dashboards(datasource_uid: str = DEFAULT_DATASOURCE_UID) -> dict[str, dict]:
    """Each dashboard's JSON model by the file name it is provisioned as.

    ``datasource_uid`` is the uid of the provisioned ClickHouse datasource; every panel,
    query, annotation and variable refers to it.
    """
    if not datasource_uid or len(datasource_uid) > 40:
        raise ValueError(f"datasource uid {datasource_uid!r} must be 1 to 40 characters (Grafana's limit)")
    built = (fabric_overview(datasource_uid), plane_detail(datasource_uid), forensics(datasource_uid))
    return {f"{board['uid']}.json": board for board in built}


def panel_queries(dashboard: dict) -> list[PanelQuery]:
    """Every query of ``dashboard``: template variables, annotations, then panels in id order.

    Columns are known for the queries built here; a query edited by hand has none listed.
    """
    if not COLUMNS:
        dashboards()
    found: list[PanelQuery] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query" and isinstance(query, dict):
            found.append(_describe(variable["name"], query, "variable"))
    for item in dashboard.get("annotations", {}).get("list", []):
        if "target" in item:
            found.append(_describe(item["name"], item["target"], "annotation"))
    for panel in sorted(dashboard.get("panels", []), key=lambda p: p["id"]):
        interval = panel.get("interval")
        minimum = int(interval.rstrip("s")) if interval else None
        for target in panel.get("targets", []):
            found.append(_describe(panel["title"], target, panel["type"], minimum))
    return found


def _describe(title: str, target: dict, kind: str, min_interval: int | None = None) -> PanelQuery:
    raw = target["rawSql"]
    return PanelQuery(
        title=title,
        ref_id=target["refId"],
        raw_sql=raw,
        format=target.get("format", FORMAT_TABLE),
        panel_type=kind,
        columns=COLUMNS.get(raw.strip(), ()),
        min_interval_seconds=min_interval,
    )

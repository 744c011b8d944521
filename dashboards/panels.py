"""Small builders for Grafana 11 dashboard JSON with ClickHouse datasource plugin (v4) queries.

Plain dicts, not grafana-foundation-sdk: the SDK has no typed query model for this plugin
(its targets would be untyped dicts anyway), assigns no panel ids, validates nothing on
``from_json``, and its PyPI builds are epoch-versioned per Grafana release (a plain install
picks an old 10.1 schema). What Grafana reads is checked by the tests instead: unique ids,
the 24-column grid, datasource uids, variables defined for every reference.

Every query is also described by a :class:`PanelQuery` (what it must return), so tests and
``planewatch dashboards`` can run each one against a store.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

DATASOURCE_TYPE = "grafana-clickhouse-datasource"
PLUGIN_VERSION = "4.0.0"
"""Marks targets as the plugin's v4 query model, so its v3 migration leaves them alone."""
SCHEMA_VERSION = 39
"""The dashboard schema Grafana 11.0 writes; later 11.x releases read it unchanged."""

FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1
"""The plugin's ``format`` (grafana-plugin-sdk-go sqlutil.FormatQueryOption): 0 time series, 1 table."""

ColumnKind = Literal["time", "number", "string"]


@dataclasses.dataclass(frozen=True)
class Column:
    """A column a panel reads: its name and what kind of ClickHouse type it must have."""

    name: str
    kind: ColumnKind


def time(name: str = "time") -> Column:
    return Column(name, "time")


def number(name: str) -> Column:
    return Column(name, "number")


def string(name: str) -> Column:
    return Column(name, "string")


@dataclasses.dataclass(frozen=True)
class PanelQuery:
    """One query of a dashboard, with what its panel needs from the result.

    ``panel_type`` is the panel's type, or ``annotation`` / ``variable`` for a dashboard's
    annotation and template variable queries (``title`` is then their name).
    ``min_interval_seconds`` is the panel's minimum ``$__interval`` (``None``: Grafana's).
    """

    title: str
    ref_id: str
    raw_sql: str
    format: int
    panel_type: str
    columns: tuple[Column, ...]
    min_interval_seconds: int | None = None


def datasource(uid: str) -> dict[str, str]:
    return {"type": DATASOURCE_TYPE, "uid": uid}


def target(uid: str, sql: str, *, ref_id: str = "A", fmt: int = FORMAT_TABLE) -> dict[str, Any]:
    """A SQL-editor query in the plugin's v4 target model."""
    return {
        "refId": ref_id,
        "datasource": datasource(uid),
        "editorType": "sql",
        "rawSql": sql.strip(),
        "format": fmt,
        "queryType": "timeseries" if fmt == FORMAT_TIME_SERIES else "table",
        "pluginVersion": PLUGIN_VERSION,
    }


@dataclasses.dataclass(frozen=True)
class Query:
    """A panel's query before it is placed: SQL, format and the columns it must return."""

    sql: str
    columns: tuple[Column, ...]
    fmt: int = FORMAT_TABLE
    ref_id: str = "A"


COLUMNS: dict[str, tuple[Column, ...]] = {}
"""What each query built here must return, by its SQL text (Grafana's JSON has no place for it)."""


def _remember(sql: str, columns: tuple[Column, ...]) -> None:
    COLUMNS[sql.strip()] = columns


def panel(
    uid: str,
    kind: str,
    title: str,
    queries: list[Query],
    *,
    width: int,
    height: int,
    description: str = "",
    min_interval: int | None = None,
    field_defaults: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A panel without id and position (see :func:`layout`)."""
    defaults: dict[str, Any] = dict(field_defaults or {})
    if custom:
        defaults["custom"] = custom
    result: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource(uid),
        "targets": [target(uid, q.sql, ref_id=q.ref_id, fmt=q.fmt) for q in queries],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
    }
    for q in queries:
        _remember(q.sql, q.columns)
    if min_interval:
        result["interval"] = f"{min_interval}s"
    return result


def timeseries(
    uid: str,
    title: str,
    queries: list[Query],
    *,
    unit: str = "short",
    stacked: bool = False,
    draw: str = "line",
    width: int = 12,
    height: int = 8,
    description: str = "",
    min_interval: int | None = 30,
    display_name: str | None = None,
    overrides: list[dict[str, Any]] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": draw,
        "lineInterpolation": "stepAfter" if draw == "line" else "linear",
        "fillOpacity": 60 if stacked or draw == "bars" else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
    }
    defaults: dict[str, Any] = {"unit": unit}
    if display_name:
        defaults["displayName"] = display_name
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return panel(
        uid,
        "timeseries",
        title,
        queries,
        width=width,
        height=height,
        description=description,
        min_interval=min_interval,
        field_defaults=defaults,
        custom=custom,
        overrides=overrides,
        options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
                 "tooltip": {"mode": "multi", "sort": "desc"}},
    )


def table(
    uid: str,
    title: str,
    query: Query,
    *,
    width: int = 12,
    height: int = 8,
    description: str = "",
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": unit}]}
        for name, unit in (units or {}).items()
    ]
    return panel(
        uid,
        "table",
        title,
        [query],
        width=width,
        height=height,
        description=description,
        overrides=overrides,
        options={"showHeader": True, "cellHeight": "sm"},
    )


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give panels ids 1..n and place them left to right in rows of 24 columns."""
    x = y = row_height = 0
    placed = []
    for number_, item in enumerate(panels, start=1):
        grid = dict(item["gridPos"])
        if x + grid["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        placed.append({**item, "id": number_, "gridPos": grid})
    return placed


def query_variable(
    uid: str,
    name: str,
    label: str,
    sql: str,
    *,
    multi: bool = False,
    include_all: bool = False,
    description: str = "",
    columns: tuple[Column, ...] = (),
) -> dict[str, Any]:
    """A query variable whose options come from ClickHouse (column 1 value, column 2 text)."""
    _remember(sql, columns)
    return {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": datasource(uid),
        "query": target(uid, sql, ref_id=f"var-{name}"),
        "definition": sql.strip(),
        "refresh": 2,  # on time range change
        "multi": multi,
        "includeAll": include_all,
        "allowCustomValue": False,
        "sort": 0,
        "hide": 0,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
    }


def annotation(uid: str, name: str, query: Query, *, color: str = "red") -> dict[str, Any]:
    """An annotation query: rows with ``time`` (and ``timeEnd``, ``text``, ``tags``) become annotations."""
    _remember(query.sql, query.columns)
    return {
        "name": name,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "datasource": datasource(uid),
        "target": target(uid, query.sql, ref_id="Anno"),
    }


BUILT_IN_ANNOTATION: dict[str, Any] = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
    time_from: str = "now-1h",
) -> dict[str, Any]:
    """A Grafana 11 dashboard model (``id`` null so Grafana assigns one; ``uid`` stable)."""
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["planewatch"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [{"type": "dashboards", "tags": ["planewatch"], "asDropdown": True, "title": "planewatch",
                   "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "annotations": {"list": [BUILT_IN_ANNOTATION, *(annotations or [])]},
        "templating": {"list": variables or []},
        "panels": layout(panels),
    }

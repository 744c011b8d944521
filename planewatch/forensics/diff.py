"""``diff``: what differs on each plane between two moments.

Both moments are rebuilt with :func:`planewatch.forensics.state.asof` for the per-plane
numbers; the items that changed (sessions, ports, findings) come from one pass over
each change log up to the later moment, comparing every item's latest state at or
before each moment. An item that went down and came back between the two moments is
the same at both and is not listed: ``planewatch query timeline`` tells that story.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from planewatch.forensics.common import (
    PLANE_FILTER,
    QueryableStore,
    at_time,
    facing_sql,
    millis,
    plane_id,
    switch_inventory_sql,
)
from planewatch.forensics.state import DEFAULT_LOOKBACK, DEFAULT_RATE_WINDOW, asof

DIFF_SCHEMA = pa.schema([
    ("plane", pa.uint8()),
    ("name", pa.string()),
    ("sessions_changed", pa.uint32()),
    ("sessions_up_before", pa.uint32()),
    ("sessions_up_after", pa.uint32()),
    ("ports_changed", pa.uint32()),
    ("server_ports_down_before", pa.uint32()),
    ("server_ports_down_after", pa.uint32()),
    ("macs_before", pa.uint32()),
    ("macs_after", pa.uint32()),
    ("mac_delta", pa.int64()),
    ("share_before", pa.float64()),
    ("share_after", pa.float64()),
    ("share_delta", pa.float64()),
    ("firing_before", pa.string()),
    ("firing_after", pa.string()),
])

DIFF_DETAIL_SCHEMA = pa.schema([
    ("plane", pa.uint8()),
    ("source", pa.string()),
    ("subject", pa.string()),
    ("before", pa.string()),
    ("after", pa.string()),
    ("detail", pa.string()),
])
"""One row per item whose state differs; ``before``/``after`` are empty when the item was not known yet."""


def diff_detail(store: QueryableStore, before: float, after: float, plane: int = 0) -> pa.Table:
    """Every BGP session, port and finding whose state at ``before`` differs from its state at ``after``.

    ``detail`` is BIRD's info for a session at ``after``, what a port faces (server,
    uplink, spine), or a finding's latest summary. Either moment may be the
    earlier one; each change log is read once, up to the later moment.
    """
    db = store.database
    params = {"a_ms": millis(before, "before"), "b_ms": millis(after, "after"), "plane": plane_id(plane)}
    params["last_ms"] = max(params["a_ms"], params["b_ms"])
    a, b, last = at_time("a_ms"), at_time("b_ms"), at_time("last_ms")
    sql = f"""
    SELECT * FROM (
        SELECT plane, 'bgp' AS source, concat(node, ' -> ', peer_ip) AS subject, before, after, info AS detail
        FROM (SELECT plane, node, peer_ip, toString(argMaxIf(state, ts, ts <= {a})) AS before,
                     toString(argMaxIf(state, ts, ts <= {b})) AS after, argMaxIf(info, ts, ts <= {b}) AS info
              FROM {db}.bgp_sessions WHERE ts <= {last} AND {PLANE_FILTER}
              GROUP BY fabric, plane, node, peer_ip)
        WHERE before != after
        UNION ALL
        SELECT p.plane AS plane, 'port' AS source, concat(p.device, ' ', p.port) AS subject, p.before AS before,
               p.after AS after, {facing_sql('s.role', 's.uplinks', 'p.port')} AS detail
        FROM (SELECT fabric, plane, device, port, toString(argMaxIf(oper_status, ts, ts <= {a})) AS before,
                     toString(argMaxIf(oper_status, ts, ts <= {b})) AS after
              FROM {db}.interface_status WHERE ts <= {last} AND {PLANE_FILTER}
              GROUP BY fabric, plane, device, port
              HAVING before != after) AS p
        LEFT JOIN ({switch_inventory_sql(db, 'last_ms')}) AS s ON p.fabric = s.fabric AND p.device = s.device
        UNION ALL
        SELECT plane, 'finding' AS source, if(subject = '', toString(kind), concat(kind, ' ', subject)) AS subject,
               before, after, summary AS detail
        FROM (SELECT plane, kind, argMax(subject, ts) AS subject, toString(argMaxIf(status, ts, ts <= {a})) AS before,
                     toString(argMaxIf(status, ts, ts <= {b})) AS after, argMax(summary, ts) AS summary
              FROM {db}.findings WHERE ts <= {last} AND {PLANE_FILTER}
              GROUP BY fabric, plane, kind, fingerprint)
        WHERE before != after AND (before = 'firing' OR after = 'firing')
    ) ORDER BY plane, source, subject
    """
    return store.query(sql, params).cast(DIFF_DETAIL_SCHEMA)


def diff(
    store: QueryableStore,
    before: float,
    after: float,
    plane: int = 0,
    *,
    lookback: float = DEFAULT_LOOKBACK,
    rate_window: float = DEFAULT_RATE_WINDOW,
) -> pa.Table:
    """Per plane, how ``after`` differs from ``before`` (:data:`DIFF_SCHEMA`): counts of sessions and
    ports that changed state, sessions up, server ports down, MAC table size and traffic share at
    each moment, and the findings firing at each. Every plane is listed, changed or not, because a
    failed plane moves the others' shares too."""
    then = {row["plane"]: row for row in asof(store, before, plane, lookback=lookback, rate_window=rate_window).to_pylist()}
    now = {row["plane"]: row for row in asof(store, after, plane, lookback=lookback, rate_window=rate_window).to_pylist()}
    changed = _counts(diff_detail(store, before, after, plane))
    rows: list[dict[str, Any]] = []
    for p in sorted(set(then) | set(now) | {key[0] for key in changed}):
        a, b = then.get(p, {}), now.get(p, {})
        rows.append({
            "plane": p,
            "name": b.get("name") or a.get("name") or f"plane-{p}",
            "sessions_changed": changed.get((p, "bgp"), 0),
            "sessions_up_before": a.get("sessions_up", 0),
            "sessions_up_after": b.get("sessions_up", 0),
            "ports_changed": changed.get((p, "port"), 0),
            "server_ports_down_before": a.get("server_ports_down", 0),
            "server_ports_down_after": b.get("server_ports_down", 0),
            "macs_before": a.get("macs"),
            "macs_after": b.get("macs"),
            "mac_delta": _delta(a.get("macs"), b.get("macs")),
            "share_before": a.get("share"),
            "share_after": b.get("share"),
            "share_delta": None if _delta(a.get("share"), b.get("share")) is None
            else round(b["share"] - a["share"], 4),
            "firing_before": a.get("firing", ""),
            "firing_after": b.get("firing", ""),
        })
    return pa.Table.from_pylist(rows, schema=DIFF_SCHEMA)


def _counts(detail: pa.Table) -> dict[tuple[int, str], int]:
    """``{(plane, source): items changed}`` of a :func:`diff_detail` table."""
    if detail.num_rows == 0:
        return {}
    grouped = detail.group_by(["plane", "source"]).aggregate([("subject", "count")])
    planes, sources, counts = (grouped.column(name).to_pylist() for name in ("plane", "source", "subject_count"))
    return {(p, s): n for p, s, n in zip(planes, sources, counts)}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


__all__ = ["DIFF_DETAIL_SCHEMA", "DIFF_SCHEMA", "diff", "diff_detail"]

"""What fired, and what changed on each plane in a window (``planewatch query alerts`` / ``timeline``).

A *change* is a row whose state differs from the previous row of the same session or
port; the first row ever seen of a session/port is its initial state, not a change. The
previous row is looked up over the whole history, so a window that starts mid-incident
still knows what each session was before.
"""

from __future__ import annotations

import pyarrow as pa

from planewatch.forensics.common import IN_WINDOW, QueryableStore, Window

_LAG = "lagInFrame({col}) OVER (PARTITION BY {key} ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"


def _changes_sql(db: str) -> str:
    """One row per change: ts, plane, source, subject, change, detail."""
    bgp_prev = _LAG.format(col="state", key="node, peer_ip")
    port_prev = _LAG.format(col="oper_status", key="device, port")
    return f"""
    SELECT ts, plane, 'bgp' AS source, concat(node, ' -> ', peer_ip) AS subject,
           concat(prev, ' -> ', state) AS change, info AS detail
    FROM (SELECT ts, plane, node, peer_ip, state, info, {bgp_prev} AS prev FROM {db}.bgp_sessions)
    WHERE prev != '' AND prev != state
    UNION ALL
    SELECT ts, plane, 'port' AS source, concat(device, ' ', port) AS subject,
           concat(prev, ' -> ', oper_status) AS change, '' AS detail
    FROM (SELECT ts, plane, device, port, oper_status, {port_prev} AS prev FROM {db}.interface_status)
    WHERE prev != '' AND prev != oper_status
    UNION ALL
    SELECT ts, plane, 'mac' AS source, concat(device, ' ', mac) AS subject,
           concat('mac ', change) AS change,
           if(previous_port IS NULL, port, concat(previous_port, ' -> ', port)) AS detail
    FROM {db}.fdb_changes
    UNION ALL
    SELECT ts, plane, 'finding' AS source, if(subject = '', kind, concat(kind, ' ', subject)) AS subject,
           concat(status, ' ', severity) AS change,
           summary AS detail
    FROM {db}.findings
    """


def timeline(store: QueryableStore, window: Window, *, bucket_seconds: int = 10, detail: bool = False) -> pa.Table:
    """What changed on each plane in the window.

    By default changes of the same kind on the same plane within ``bucket_seconds`` are
    folded into one row with a count and a few example subjects: a plane failure is
    "256 BGP sessions Established -> Active", not 256 lines. ``detail=True`` lists each.
    """
    changes = _changes_sql(store.database)
    if detail:
        sql = f"SELECT * FROM ({changes}) WHERE {IN_WINDOW} ORDER BY ts, plane, source, subject"
        return store.query(sql, window.params())
    sql = f"""
    SELECT min(ts) AS time, plane, source, change, count() AS count,
           arrayStringConcat(arraySlice(arraySort(groupUniqArray(subject)), 1, 2), ', ') AS examples,
           any(detail) AS detail
    FROM ({changes})
    WHERE {IN_WINDOW}
    GROUP BY toStartOfInterval(ts, toIntervalSecond({{bucket:UInt32}})) AS bucket, plane, source, change
    ORDER BY time, plane, source, change
    """
    return store.query(sql, {**window.params(), "bucket": max(1, int(bucket_seconds))})


def alerts(store: QueryableStore, window: Window, *, active_only: bool = False) -> pa.Table:
    """One row per fault (fingerprint and start): when it began, fired, resolved, and its latest summary."""
    sql = f"""
    SELECT fingerprint, kind, subject, plane, any(severity) AS severity,
           started_at AS began,
           minIf(ts, status = 'firing') AS fired,
           maxIf(ended_at, status = 'resolved') AS resolved,
           argMax(status, ts) AS state,
           argMax(summary, ts) AS latest_summary
    FROM {store.database}.findings
    WHERE {IN_WINDOW}
    GROUP BY fingerprint, started_at, kind, subject, plane
    HAVING ({{active:UInt8}} = 0 OR state = 'firing')
    ORDER BY began, plane
    """
    return store.query(sql, {**window.params(), "active": int(active_only)})

"""``top``: what stood out in a window: ports by traffic or broadcast, sessions by churn, switches by MACs.

Rates over a window are a port's counter growth between its first and last sample in
the window divided by the time between them (two numbers per port, whatever the
window's length). A port whose counters went backwards inside the window (device
reboot, counter clear) has no rate (null, listed last) rather than a wrong one: some
hour of the window, or the window as a whole, holds a value below its first sample or
above its last (:func:`planewatch.forensics.rollups.went_back_sql`: the one reset missed).

Windows of :data:`~planewatch.forensics.rollups.MIN_WINDOW_SECONDS` (3 h) or more read
their whole hours from the hourly rollups (migration ``0003_rollups.sql``) and only the
partial hours at both ends from the raw tables; the answer is the same either way.
"""

from __future__ import annotations

import enum

import pyarrow as pa

from planewatch.forensics import rollups
from planewatch.forensics.common import (
    END,
    IN_WINDOW,
    PLANE_FILTER,
    START,
    QueryableStore,
    Window,
    facing_sql,
    plane_inventory_sql,
    row_limit,
    switch_inventory_sql,
)


class TopWhat(str, enum.Enum):
    ports = "ports"
    sessions = "sessions"
    switches = "switches"


class TopBy(str, enum.Enum):
    traffic = "traffic"
    broadcast = "broadcast"
    churn = "churn"
    macs = "macs"


RANKINGS: dict[TopWhat, tuple[TopBy, ...]] = {
    TopWhat.ports: (TopBy.traffic, TopBy.broadcast),
    TopWhat.sessions: (TopBy.churn,),
    TopWhat.switches: (TopBy.macs,),
}
"""What each kind of subject can be ranked by; the first is the default."""


FACINGS = ("all", "server", "uplink", "spine", "unknown")
"""What ``top_ports`` can be limited to: ports facing servers, ToR uplinks, spine ports, ports of switches missing from the inventory."""


def top_ports(
    store: QueryableStore, window: Window, *, by: TopBy | str = TopBy.traffic, limit: int = 10, facing: str = "all",
    rollups_from: float = rollups.MIN_WINDOW_SECONDS,
) -> pa.Table:
    """Ports ranked by average bytes/s (in+out) or broadcast+multicast packets/s in, over the window.

    Every port with counters is ranked unless ``facing`` narrows it (``server``: ToR ports
    facing servers, where floods enter; ``uplink``; ``spine``), so a hot uplink shows up
    as well as a chatty server port. Windows of ``rollups_from`` seconds or more read their
    whole hours from the hourly rollups (``math.inf``: raw rows only; same answer).
    """
    ranking = _ranking(TopWhat.ports, by)
    if facing not in FACINGS:
        raise ValueError(f"facing must be one of {', '.join(FACINGS)}, not {facing!r}")
    db = store.database
    params = window.params()
    hours = rollups.whole_hours(params, rollups_from)
    sql = f"""
    SELECT c.plane AS plane, c.device AS device, c.port AS port,
           {facing_sql('s.role', 's.uplinks', 'c.port')} AS facing,
           c.bytes_per_s AS bytes_per_s, c.broadcast_pps AS broadcast_pps, c.samples AS samples
    FROM (
        SELECT fabric, plane, device, port, sum(n) AS samples,
               (toUnixTimestamp64Milli(max(t1)) - toUnixTimestamp64Milli(min(t0))) / 1000.0 AS span,
               toInt64(argMax(o1, t1)) - toInt64(argMin(o0, t0)) AS d_octets,
               toInt64(argMax(f1, t1)) - toInt64(argMin(f0, t0)) AS d_flood,
               {rollups.went_back_sql('o0', 'o1', 'olo', 'ohi')} AS octets_back,
               {rollups.went_back_sql('f0', 'f1', 'flo', 'fhi')} AS flood_back,
               if(span > 0 AND d_octets >= 0 AND NOT octets_back, round(d_octets / span, 1), NULL) AS bytes_per_s,
               if(span > 0 AND d_flood >= 0 AND NOT flood_back, round(d_flood / span, 3), NULL) AS broadcast_pps
        FROM ({rollups.port_pieces_sql(db, hours is not None)})
        GROUP BY fabric, plane, device, port
        HAVING samples >= 2
    ) AS c
    LEFT JOIN ({switch_inventory_sql(db, 'end_ms')}) AS s ON c.fabric = s.fabric AND c.device = s.device
    WHERE {{facing:String}} = 'all' OR facing = {{facing:String}}
    ORDER BY if({{by:String}} = 'broadcast', c.broadcast_pps, c.bytes_per_s) DESC NULLS LAST, plane, device, port
    LIMIT {{limit:UInt32}}
    """
    return store.query(sql, {**params, **(hours or {}), "by": ranking.value, "limit": row_limit(limit),
                             "facing": facing})


def top_sessions(store: QueryableStore, window: Window, *, by: TopBy | str = TopBy.churn, limit: int = 10,
                 rollups_from: float = rollups.MIN_WINDOW_SECONDS) -> pa.Table:
    """BGP sessions ranked by churn in the window: state transitions, then route updates+withdraws received.

    A transition is a row whose state differs from the session's previous row, looked up
    over the session's whole change log (so the first transition of a window counts, and
    a collector restart re-reporting the same state does not). Only sessions that moved
    in the window are read that far back. Sessions with no churn are not listed;
    ``state_at_end`` is each session's state at the window's end. ``rollups_from`` as for
    :func:`top_ports`.
    """
    _ranking(TopWhat.sessions, by)
    db = store.database
    params = window.params()
    hours = rollups.whole_hours(params, rollups_from)
    key = "fabric, plane, node, peer_ip"
    sql = f"""
    WITH moved AS (
        SELECT {key}, countIf(ts >= {START} AND prev != '' AND prev != state) AS transitions
        FROM (SELECT {key}, ts, state,
                     lagInFrame(state) OVER (PARTITION BY {key} ORDER BY ts
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev
              FROM {db}.bgp_sessions
              WHERE ts <= {END} AND {PLANE_FILTER}
                AND ({key}) IN (SELECT {key} FROM {db}.bgp_sessions WHERE {IN_WINDOW}))
        GROUP BY {key}
    ),
    routes AS (
        SELECT {key}, sum(import_updates) AS route_updates, sum(import_withdraws) AS route_withdraws
        FROM ({rollups.route_counts_sql(db, hours is not None)})
        GROUP BY {key}
        HAVING route_updates + route_withdraws > 0
    ),
    ranked AS (
        SELECT {key}, transitions, route_updates, route_withdraws
        FROM moved FULL OUTER JOIN routes USING ({key})
        WHERE transitions + route_updates + route_withdraws > 0
        ORDER BY transitions DESC, route_updates + route_withdraws DESC, plane, node, peer_ip
        LIMIT {{limit:UInt32}}
    )
    SELECT r.plane AS plane, r.node AS node, r.peer_ip AS peer_ip, toUInt64(r.transitions) AS transitions,
           toUInt64(r.route_updates) AS route_updates, toUInt64(r.route_withdraws) AS route_withdraws,
           toString(st.state) AS state_at_end
    FROM ranked AS r
    LEFT JOIN (SELECT {key}, argMax(state, ts) AS state FROM {db}.bgp_sessions
               WHERE ts <= {END} AND {PLANE_FILTER}
               GROUP BY {key}) AS st
      ON r.fabric = st.fabric AND r.plane = st.plane AND r.node = st.node AND r.peer_ip = st.peer_ip
    ORDER BY transitions DESC, route_updates + route_withdraws DESC, plane, node, peer_ip
    """
    return store.query(sql, {**params, **(hours or {}), "limit": row_limit(limit)})


def top_switches(store: QueryableStore, window: Window, *, by: TopBy | str = TopBy.macs, limit: int = 10) -> pa.Table:
    """Switches ranked by the largest MAC table they reported in the window (a flood or leak grows it).

    ``macs_last`` is the last snapshot in the window; ``expected_macs`` what the plane's
    tables should hold per the inventory (null when no inventory was recorded).
    """
    _ranking(TopWhat.switches, by)
    db = store.database
    sql = f"""
    SELECT f.plane AS plane, f.device AS device, if(s.role = '', 'unknown', toString(s.role)) AS role,
           f.macs_peak AS macs_peak, f.macs_last AS macs_last,
           if(p.plane = 0, NULL, toNullable(toUInt32(p.expected_macs))) AS expected_macs, f.snapshots AS snapshots
    FROM (
        SELECT fabric, plane, device, toUInt32(max(length(macs))) AS macs_peak,
               toUInt32(argMax(length(macs), ts)) AS macs_last, count() AS snapshots
        FROM {db}.fdb_snapshots
        WHERE {IN_WINDOW}
        GROUP BY fabric, plane, device
    ) AS f
    LEFT JOIN ({switch_inventory_sql(db, 'end_ms')}) AS s ON f.fabric = s.fabric AND f.device = s.device
    LEFT JOIN ({plane_inventory_sql(db, 'end_ms')}) AS p ON f.plane = p.plane
    ORDER BY macs_peak DESC, macs_last DESC, plane, device
    LIMIT {{limit:UInt32}}
    """
    return store.query(sql, {**window.params(), "limit": row_limit(limit)})


def top(
    store: QueryableStore, what: TopWhat | str, window: Window, *, by: TopBy | str | None = None, limit: int = 10,
    facing: str = "all",
) -> pa.Table:
    """``top ports|sessions|switches``: dispatch to :func:`top_ports`, :func:`top_sessions` or :func:`top_switches`."""
    try:
        subject = TopWhat(what)
    except ValueError:
        raise ValueError(f"top ranks one of {', '.join(w.value for w in TopWhat)}, not {what!r}") from None
    ranking = RANKINGS[subject][0] if by is None else by
    if subject is TopWhat.ports:
        return top_ports(store, window, by=ranking, limit=limit, facing=facing)
    if facing != "all":
        raise ValueError(f"facing narrows ports only, not {subject.value}")
    ranker = top_sessions if subject is TopWhat.sessions else top_switches
    return ranker(store, window, by=ranking, limit=limit)


def _ranking(what: TopWhat, by: TopBy | str) -> TopBy:
    """``by`` as a ranking valid for ``what``, or a ``ValueError`` listing the valid ones."""
    allowed = RANKINGS[what]
    try:
        ranking = TopBy(by)
    except ValueError:
        ranking = None
    if ranking not in allowed:
        raise ValueError(f"{what.value} can be ranked --by {' or '.join(b.value for b in allowed)}, not {by!r}")
    return ranking

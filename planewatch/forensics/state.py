"""``asof``: each plane's state at one moment, reconstructed from the store.

Two kinds of table answer "what was it like at T", and they are read differently:

* **Change logs** (``bgp_sessions``, ``interface_status``, ``findings``) hold one row per
  transition; a session that has been Established for three weeks has one row, stamped
  three weeks ago (BIRD's own "since"). The state at T is the latest row at or before T,
  so these are read over their whole history up to T. That stays cheap because they hold
  transitions, not samples, and the aggregation groups by their sort key.
* **Samples** (``port_counters``, ``fdb_snapshots``) arrive every few seconds; only a
  bounded stretch before T is read. Traffic rates come from each port's last two counter
  samples within ``rate_window`` seconds before T (default 120 s: a few gNMI sample
  intervals); MAC counts from each switch's latest FDB snapshot within ``lookback``
  seconds before T (default 900 s: a few FDB polls). Older samples are stale, not state.

Traffic share and broadcast follow ``planewatch up``'s live view (planewatch.status):
server-facing ToR ports only (ToR ports not listed as uplinks in the ``switches``
inventory table), bytes in+out, broadcast+multicast packets in.
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
    plane_inventory_sql,
    positive,
    rows_by_plane,
    switch_inventory_sql,
)

DEFAULT_LOOKBACK = 900.0
"""Seconds before T searched for each switch's latest FDB snapshot."""
DEFAULT_RATE_WINDOW = 120.0
"""Seconds before T searched for each port's last two counter samples."""

AT = at_time("at_ms")

ASOF_SCHEMA = pa.schema([
    ("plane", pa.uint8()),
    ("name", pa.string()),
    ("sessions_up", pa.uint32()),
    ("sessions", pa.uint32()),
    ("server_ports_down", pa.uint32()),
    ("server_ports", pa.uint32()),
    ("macs", pa.uint32()),
    ("macs_min", pa.uint32()),
    ("expected_macs", pa.uint32()),
    ("bytes_per_s", pa.float64()),
    ("share", pa.float64()),
    ("flood_pps", pa.float64()),
    ("firing", pa.string()),
])
"""One row per plane. ``macs``/``macs_min``: the largest/smallest MAC table among the plane's
switches (each switch of a healthy plane holds about ``expected_macs``); ``share``: the
plane's fraction of all planes' server-port bytes (about 1/N when healthy); ``flood_pps``:
broadcast+multicast packets/s into server ports; ``firing``: findings firing at T."""


def session_states_sql(db: str, at_param: str = "at_ms") -> str:
    """Latest state of every BGP session at or before ``{at_param}`` (whole change log up to then)."""
    return f"""
    SELECT plane, node, peer_ip, argMax(state, ts) AS state, max(ts) AS since, argMax(info, ts) AS info
    FROM {db}.bgp_sessions
    WHERE ts <= {at_time(at_param)} AND {PLANE_FILTER}
    GROUP BY fabric, plane, node, peer_ip
    """


def port_states_sql(db: str, at_param: str = "at_ms") -> str:
    """Latest oper-status of every port at or before ``{at_param}`` and what the port faces."""
    return f"""
    SELECT p.plane AS plane, p.device AS device, p.port AS port, p.status AS status, p.since AS since,
           {facing_sql('s.role', 's.uplinks', 'p.port')} AS facing
    FROM (SELECT fabric, plane, device, port, argMax(oper_status, ts) AS status, max(ts) AS since
          FROM {db}.interface_status
          WHERE ts <= {at_time(at_param)} AND {PLANE_FILTER}
          GROUP BY fabric, plane, device, port) AS p
    LEFT JOIN ({switch_inventory_sql(db, at_param)}) AS s ON p.fabric = s.fabric AND p.device = s.device
    """


def firing_sql(db: str, at_param: str = "at_ms") -> str:
    """Findings whose latest transition at or before ``{at_param}`` is ``firing``."""
    return f"""
    SELECT plane, kind, subject, started_at, severity, summary
    FROM (SELECT plane, kind, argMax(subject, ts) AS subject, argMax(status, ts) AS status,
                 argMax(started_at, ts) AS started_at, argMax(severity, ts) AS severity,
                 argMax(summary, ts) AS summary
          FROM {db}.findings
          WHERE ts <= {at_time(at_param)} AND {PLANE_FILTER}
          GROUP BY fabric, plane, kind, fingerprint)
    WHERE status = 'firing'
    """


def _traffic_sql(db: str) -> str:
    """Per plane: server-port bytes/s and broadcast+multicast pps over each port's last counter interval.

    Every plane is read (a share needs them all). ``groupArraySorted(2)`` keeps only the
    two newest samples of a port, so memory follows ports, not samples. A counter that
    went backwards (device reboot) gives no rate for that port rather than a wrong one.
    """
    return f"""
    SELECT c.plane AS plane, sum(c.bps) AS bytes_per_s, sum(c.pps) AS flood_pps
    FROM (
        SELECT fabric, plane, device, port,
               (l[2].1 - l[1].1) / 1000.0 AS dt,
               toInt64(l[1].2) - toInt64(l[2].2) AS d_octets,
               toInt64(l[1].3) - toInt64(l[2].3) AS d_flood,
               if(dt > 0 AND d_octets >= 0, d_octets / dt, NULL) AS bps,
               if(dt > 0 AND d_flood >= 0, d_flood / dt, NULL) AS pps
        FROM (SELECT fabric, plane, device, port,
                     groupArraySorted(2)((-toUnixTimestamp64Milli(ts), in_octets + out_octets,
                                          in_broadcast_pkts + in_multicast_pkts)) AS l
              FROM {db}.port_counters
              WHERE ts > {at_time('rate_since_ms')} AND ts <= {AT}
              GROUP BY fabric, plane, device, port
              HAVING length(l) = 2)
    ) AS c
    INNER JOIN ({switch_inventory_sql(db, 'at_ms')}) AS s ON c.fabric = s.fabric AND c.device = s.device
    WHERE s.role = 'tor' AND NOT has(s.uplinks, c.port)
    GROUP BY c.plane
    """


def _params(at: float, plane: int, lookback: float, rate_window: float) -> dict[str, int]:
    at_ms = millis(at, "at")
    return {
        "at_ms": at_ms,
        "plane": plane_id(plane),
        "since_ms": at_ms - int(positive(lookback, "lookback") * 1000),
        "rate_since_ms": at_ms - int(positive(rate_window, "rate_window") * 1000),
    }


def asof(
    store: QueryableStore,
    at: float,
    plane: int = 0,
    *,
    lookback: float = DEFAULT_LOOKBACK,
    rate_window: float = DEFAULT_RATE_WINDOW,
) -> pa.Table:
    """Each plane's state at ``at`` (epoch seconds), one row per plane (:data:`ASOF_SCHEMA`).

    ``plane`` limits the rows to one plane; its ``share`` is still of all planes' bytes.
    A plane with no counter samples in ``rate_window`` has no rate (null), not zero.
    """
    db = store.database
    params = _params(at, plane, lookback, rate_window)
    sessions = rows_by_plane(store.query(f"""
        SELECT plane, toUInt32(countIf(state = 'Established')) AS sessions_up, toUInt32(count()) AS sessions
        FROM ({session_states_sql(db)}) GROUP BY plane""", params))
    ports = rows_by_plane(store.query(f"""
        SELECT plane, toUInt32(countIf(facing = 'server' AND status != 'UP')) AS server_ports_down,
               toUInt32(countIf(facing = 'server')) AS server_ports
        FROM ({port_states_sql(db)}) GROUP BY plane""", params))
    macs = rows_by_plane(store.query(f"""
        SELECT plane, toUInt32(max(n)) AS macs, toUInt32(min(n)) AS macs_min
        FROM (SELECT plane, argMax(length(macs), ts) AS n FROM {db}.fdb_snapshots
              WHERE ts > {at_time('since_ms')} AND ts <= {AT} AND {PLANE_FILTER}
              GROUP BY fabric, plane, device)
        GROUP BY plane""", params))
    traffic = rows_by_plane(store.query(_traffic_sql(db), params))
    inventory = rows_by_plane(store.query(plane_inventory_sql(db, "at_ms"), params))
    firing: dict[int, list[str]] = {}
    for row in store.query(firing_sql(db) + " ORDER BY plane, kind, subject", params).to_pylist():
        firing.setdefault(row["plane"], []).append(row["kind"] if not row["subject"] else f"{row['kind']} {row['subject']}")

    total = sum(row["bytes_per_s"] or 0.0 for row in traffic.values())
    wanted = set(sessions) | set(ports) | set(macs) | set(inventory) | set(firing)
    wanted |= set(traffic) if plane == 0 else {plane} & set(traffic)
    rows: list[dict[str, Any]] = []
    for p in sorted(wanted):
        rate = traffic.get(p, {}).get("bytes_per_s")
        flood = traffic.get(p, {}).get("flood_pps")
        rows.append({
            "plane": p,
            "name": inventory.get(p, {}).get("name") or f"plane-{p}",
            "sessions_up": sessions.get(p, {}).get("sessions_up", 0),
            "sessions": sessions.get(p, {}).get("sessions", 0),
            "server_ports_down": ports.get(p, {}).get("server_ports_down", 0),
            "server_ports": ports.get(p, {}).get("server_ports", 0),
            "macs": macs.get(p, {}).get("macs"),
            "macs_min": macs.get(p, {}).get("macs_min"),
            "expected_macs": inventory.get(p, {}).get("expected_macs"),
            "bytes_per_s": None if rate is None else round(rate, 1),
            "share": None if rate is None or total <= 0 else round(rate / total, 4),
            "flood_pps": None if flood is None else round(flood, 3),
            "firing": "; ".join(firing.get(p, [])),
        })
    return pa.Table.from_pylist(rows, schema=ASOF_SCHEMA)


ASOF_DETAIL_SCHEMA = pa.schema([
    ("plane", pa.uint8()),
    ("source", pa.string()),
    ("subject", pa.string()),
    ("state", pa.string()),
    ("since", pa.timestamp("ms", tz="UTC")),
    ("detail", pa.string()),
])


def asof_detail(store: QueryableStore, at: float, plane: int = 0) -> pa.Table:
    """What was wrong at ``at``: every BGP session not Established, every port not UP, every finding firing.

    ``since`` is when the item entered that state; ``detail`` is BIRD's info for a session,
    what a port faces (server, uplink, spine), or a finding's summary.
    """
    db = store.database
    params = {"at_ms": millis(at, "at"), "plane": plane_id(plane)}
    sql = f"""
    SELECT * FROM (
    SELECT plane, 'bgp' AS source, concat(node, ' -> ', peer_ip) AS subject, toString(state) AS state, since,
           info AS detail
    FROM ({session_states_sql(db)}) WHERE state != 'Established'
    UNION ALL
    SELECT plane, 'port' AS source, concat(device, ' ', port) AS subject, toString(status) AS state, since,
           facing AS detail
    FROM ({port_states_sql(db)}) WHERE status != 'UP'
    UNION ALL
    SELECT plane, 'finding' AS source, if(subject = '', toString(kind), concat(kind, ' ', subject)) AS subject,
           'firing' AS state, started_at AS since, summary AS detail
    FROM ({firing_sql(db)})
    ) ORDER BY plane, source, subject
    """
    return store.query(sql, params).cast(ASOF_DETAIL_SCHEMA)

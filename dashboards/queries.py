"""The SQL behind every panel, written for the ClickHouse datasource plugin.

Conventions, so each query reads the same way:

* Tables are unqualified: the datasource's ``defaultDatabase`` names the database.
* Time comes from the plugin's macros (:mod:`planewatch.dashboards.macros` expands them the
  same way for tests). An argument-less macro is always written in parentheses,
  ``($__toTime_ms)``: the plugin's parser would otherwise take the next parenthesised
  group in the query as its arguments and drop it.
* Template variables are pasted with ``${var:sqlstring}`` (quoted, ``'`` doubled) and an
  "All" selection goes through ``$__conditionalAll`` so it means "no filter" rather than
  a list of every value.
* Rates come from counter deltas between consecutive samples of the same port (or BGP
  session): ``lagInFrame`` over the port's samples in time order. A counter that went
  backwards is a reset (reboot, cleared counters): that interval has no rate, as in
  :mod:`planewatch.counters`. A port's rate in a time bucket is the mean of its sample
  rates there, so buckets holding two or three samples of a port weigh it the same.
* "Server ports" are ToR ports not listed as uplinks in the latest ``switches`` row of
  their switch (as in :mod:`planewatch.status`); traffic is octets in + out, flooding is
  broadcast + multicast packets in.
* State tables (``bgp_sessions``, ``interface_status``) hold a row per change, so the
  state at time T is the latest row at or before T over the whole history, not just the
  dashboard's range.
"""

from __future__ import annotations

# -- shared pieces --------------------------------------------------------------------------

PLANE_NAMES = "SELECT plane, argMax(name, ts) AS name, argMax(expected_macs, ts) AS expected_macs FROM planes GROUP BY plane"
"""The latest name and expected MAC count of each plane."""

TOR_UPLINKS = (
    "SELECT device, argMax(uplinks, ts) AS uplinks FROM switches GROUP BY device HAVING argMax(role, ts) = 'tor'"
)
"""Each ToR's uplink ports (its other ports face servers)."""

_LAG_WINDOW = "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"


def port_rates(where: str = "1=1", ports: str = "server") -> str:
    """Per-sample rates of ports: plane, device, port, ts, bytes_per_s, flood_pps.

    ``ports`` is ``server`` (server-facing ToR ports), ``uplink`` (ToR uplinks) or ``all``;
    ``where`` adds a condition on ``port_counters`` (alias ``c``).
    """
    port_filter = {
        "server": "NOT has(u.uplinks, c.port)",
        "uplink": "has(u.uplinks, c.port)",
        "all": "1=1",
    }[ports]
    join = "LEFT JOIN" if ports == "all" else "INNER JOIN"
    return f"""
    SELECT plane, device, port, ts,
           if(prev_ts = 0 OR octets < prev_octets, NULL,
              (octets - prev_octets) * 1000 / (toUnixTimestamp64Milli(ts) - prev_ts)) AS bytes_per_s,
           if(prev_ts = 0 OR flood IS NULL OR prev_flood IS NULL OR flood < prev_flood, NULL,
              (flood - prev_flood) * 1000 / (toUnixTimestamp64Milli(ts) - prev_ts)) AS flood_pps
    FROM (
        SELECT c.plane AS plane, c.device AS device, c.port AS port, c.ts AS ts,
               c.in_octets + c.out_octets AS octets,
               c.in_broadcast_pkts + c.in_multicast_pkts AS flood,
               lagInFrame(octets) OVER w AS prev_octets,
               lagInFrame(flood) OVER w AS prev_flood,
               lagInFrame(toUnixTimestamp64Milli(c.ts)) OVER w AS prev_ts
        FROM port_counters AS c
        {join} ({TOR_UPLINKS}) AS u ON c.device = u.device
        WHERE $__timeFilter_ms(c.ts) AND {port_filter} AND {where}
        WINDOW w AS (PARTITION BY c.device, c.port ORDER BY c.ts {_LAG_WINDOW})
    )
    WHERE toUnixTimestamp64Milli(ts) > prev_ts
    """


def session_changes(where: str = "1=1") -> str:
    """Every BGP session row with the state before it: ts, plane, node, peer_ip, state, prev, info.

    ``prev`` is '' on a session's first row. Reads the whole history up to the range's end.
    """
    return f"""
    SELECT ts, plane, node, peer_ip, state, info,
           lagInFrame(state) OVER (PARTITION BY node, peer_ip ORDER BY ts
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev
    FROM bgp_sessions
    WHERE ts <= ($__toTime_ms) AND {where}
    """


def _port_changes() -> str:
    return """
    SELECT ts, plane, fabric, device, port, oper_status,
           lagInFrame(oper_status) OVER (PARTITION BY fabric, device, port ORDER BY ts
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev
    FROM interface_status
    WHERE ts <= ($__toTime_ms)
    """


# -- fabric overview ------------------------------------------------------------------------

PLANE_HEALTH = f"""
SELECT p.plane AS plane, p.name AS name,
       s.up AS sessions_up, s.total AS sessions,
       pt.up AS server_ports_up, pt.total AS server_ports
FROM ({PLANE_NAMES}) AS p
LEFT JOIN (
    SELECT plane, countIf(state = 'Established') AS up, count() AS total
    FROM (SELECT plane, node, peer_ip, argMax(state, ts) AS state
          FROM bgp_sessions WHERE ts <= ($__toTime_ms) GROUP BY plane, node, peer_ip)
    GROUP BY plane
) AS s ON s.plane = p.plane
LEFT JOIN (
    SELECT plane, countIf(status = 'UP') AS up, count() AS total
    FROM (SELECT i.plane AS plane, i.device AS device, i.port AS port, argMax(i.oper_status, i.ts) AS status
          FROM interface_status AS i INNER JOIN ({TOR_UPLINKS}) AS u ON i.device = u.device
          WHERE i.ts <= ($__toTime_ms) AND NOT has(u.uplinks, i.port)
          GROUP BY plane, device, port)
    GROUP BY plane
) AS pt ON pt.plane = p.plane
ORDER BY plane
"""
"""Per plane at the range's end: BGP sessions Established / known, server ports UP / known."""

TRAFFIC_SHARE = f"""
SELECT time, n.name AS plane, bytes / sum(bytes) OVER (PARTITION BY time) AS share
FROM (
    SELECT time, plane, sum(port_rate) AS bytes
    FROM (SELECT $__timeInterval(ts) AS time, plane, device, port, avg(bytes_per_s) AS port_rate
          FROM ({port_rates()}) GROUP BY time, plane, device, port)
    GROUP BY time, plane
) AS r
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = r.plane
ORDER BY time, plane
"""
"""Each plane's share of server-port traffic per interval (ECMP across N planes: ~1/N each)."""

FLOOD_PPS = f"""
SELECT time, n.name AS plane, pps
FROM (
    SELECT time, plane, sum(port_pps) AS pps
    FROM (SELECT $__timeInterval(ts) AS time, plane, device, port, avg(flood_pps) AS port_pps
          FROM ({port_rates()}) WHERE flood_pps IS NOT NULL GROUP BY time, plane, device, port)
    GROUP BY time, plane
) AS r
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = r.plane
ORDER BY time, plane
"""
"""Broadcast + multicast packets/s into server ports, per plane (steady state: almost zero)."""

MAC_TABLE = f"""
SELECT time, n.name AS plane, macs, n.expected_macs AS expected
FROM (
    SELECT $__timeInterval(ts) AS time, plane, max(length(macs)) AS macs
    FROM fdb_snapshots WHERE $__timeFilter_ms(ts)
    GROUP BY time, plane
) AS f
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = f.plane
ORDER BY time, plane
"""
"""The largest MAC table of each plane's switches against what the inventory expects."""


def _route_churn() -> str:
    return f"""
SELECT time, n.name AS plane, updates, withdraws
FROM (
    SELECT time, plane, sum(session_updates) AS updates, sum(session_withdraws) AS withdraws
    FROM (
        SELECT $__timeInterval(ts) AS time, plane, node, peer_ip,
               avg(updates_per_s) AS session_updates, avg(withdraws_per_s) AS session_withdraws
        FROM (
            SELECT plane, node, peer_ip, ts,
                   if(prev_ts = 0 OR updates < prev_updates, NULL,
                      (updates - prev_updates) * 1000 / (toUnixTimestamp64Milli(ts) - prev_ts)) AS updates_per_s,
                   if(prev_ts = 0 OR withdraws < prev_withdraws, NULL,
                      (withdraws - prev_withdraws) * 1000 / (toUnixTimestamp64Milli(ts) - prev_ts)) AS withdraws_per_s
            FROM (
                SELECT plane, node, peer_ip, ts,
                       import_updates AS updates, import_withdraws AS withdraws,
                       lagInFrame(import_updates) OVER w AS prev_updates,
                       lagInFrame(import_withdraws) OVER w AS prev_withdraws,
                       lagInFrame(toUnixTimestamp64Milli(ts)) OVER w AS prev_ts
                FROM bgp_route_counters
                WHERE $__timeFilter_ms(ts)
                WINDOW w AS (PARTITION BY node, peer_ip ORDER BY ts {_LAG_WINDOW})
            )
            WHERE toUnixTimestamp64Milli(ts) > prev_ts
        )
        GROUP BY time, plane, node, peer_ip
    )
    GROUP BY time, plane
) AS r
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = r.plane
ORDER BY time, plane
"""


ROUTE_CHURN = _route_churn()
"""BGP import updates and withdraws per second per plane (BIRD's per-protocol counters)."""

SESSION_CHANGES = f"""
SELECT $__timeInterval(ts) AS time, n.name AS plane, count() AS changes
FROM ({session_changes()}) AS c
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = c.plane
WHERE prev != '' AND prev != state AND $__timeFilter_ms(ts)
GROUP BY time, plane
ORDER BY time, plane
"""
"""BGP session state changes per plane per interval (a server's flap is 1, a plane failure hundreds)."""

FINDINGS = f"""
SELECT state, kind, n.name AS plane, severity, began, resolved, summary, fingerprint
FROM (
    SELECT fingerprint, kind, plane, started_at AS began,
           argMax(status, ts) AS state, argMax(severity, ts) AS severity,
           maxIf(ended_at, status = 'resolved') AS resolved, argMax(summary, ts) AS summary
    FROM findings
    WHERE ts <= ($__toTime_ms)
    GROUP BY fingerprint, started_at, kind, plane
) AS f
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = f.plane
WHERE began <= ($__toTime_ms) AND (state = 'firing' OR resolved >= ($__fromTime_ms))
ORDER BY state = 'firing' DESC, began DESC
LIMIT 200
"""
"""Faults that were firing at some time in the range: still firing at its end first."""

FINDING_ANNOTATIONS = f"""
SELECT began AS time, coalesce(resolved, ($__toTime_ms)) AS timeEnd,
       concat(kind, ' on plane ', n.name, ': ', summary) AS text,
       concat(kind, ',', n.name, ',', severity) AS tags
FROM (
    SELECT fingerprint, kind, plane, started_at AS began,
           argMax(severity, ts) AS severity, argMax(summary, ts) AS summary,
           maxIf(ended_at, status = 'resolved') AS resolved
    FROM findings
    WHERE ts <= ($__toTime_ms)
    GROUP BY fingerprint, started_at, kind, plane
) AS f
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = f.plane
WHERE began <= ($__toTime_ms) AND (resolved IS NULL OR resolved >= ($__fromTime_ms))
ORDER BY time
"""
"""Each fault as a region annotation from when it began to when it resolved (tags: kind, plane, severity)."""


# -- plane detail ---------------------------------------------------------------------------

PLANE_VARIABLE = (
    "SELECT plane, concat(toString(plane), ' ', argMax(name, ts)) AS label FROM planes GROUP BY plane ORDER BY plane"
)
"""Values are plane numbers, texts "2 green" (the plugin takes column 1 as value, 2 as text)."""

_IN_PLANE = "plane = ${plane:sqlstring}"
_IN_PLANE_C = "c.plane = ${plane:sqlstring}"  # inside port_rates, where port_counters is `c`

PLANE_SWITCHES = f"""
SELECT s.device AS switch, s.role AS role, s.rack AS rack, arrayStringConcat(s.uplinks, ', ') AS uplinks,
       p.up AS ports_up, p.total AS ports, f.macs AS macs
FROM (
    SELECT device, argMax(role, ts) AS role, argMax(rack, ts) AS rack, argMax(uplinks, ts) AS uplinks
    FROM switches WHERE {_IN_PLANE} GROUP BY device
) AS s
LEFT JOIN (
    SELECT device, countIf(status = 'UP') AS up, count() AS total
    FROM (SELECT device, port, argMax(oper_status, ts) AS status FROM interface_status
          WHERE {_IN_PLANE} AND ts <= ($__toTime_ms) GROUP BY device, port)
    GROUP BY device
) AS p ON p.device = s.device
LEFT JOIN (
    SELECT device, argMax(length(macs), ts) AS macs FROM fdb_snapshots
    WHERE {_IN_PLANE} AND ts <= ($__toTime_ms) GROUP BY device
) AS f ON f.device = s.device
ORDER BY role DESC, switch
"""
"""The plane's switches: role, rack, uplinks, ports UP at the range's end, MAC table size."""


def _top_ports(value: str) -> str:
    return f"""
SELECT r.device AS switch, r.port AS port,
       if(has(u.uplinks, r.port), 'uplink', if(u.device = '', 'spine', 'server')) AS faces,
       avg_rate AS {value}
FROM (
    SELECT device, port, avg({value}) AS avg_rate
    FROM ({port_rates(where=_IN_PLANE_C, ports="all")})
    WHERE {value} IS NOT NULL
    GROUP BY device, port
) AS r
LEFT JOIN ({TOR_UPLINKS}) AS u ON u.device = r.device
ORDER BY {value} DESC, switch, port
LIMIT 10
"""


TOP_PORTS_TRAFFIC = _top_ports("bytes_per_s")
"""The plane's ten busiest ports over the range (octets in + out per second)."""

TOP_PORTS_FLOOD = _top_ports("flood_pps")
"""The plane's ten ports taking the most broadcast + multicast packets per second."""

UPLINK_BALANCE = f"""
SELECT device AS tor, port AS uplink, bytes / sum(bytes) OVER (PARTITION BY device) AS share,
       1 / count() OVER (PARTITION BY device) AS fair_share
FROM (
    SELECT device, port, avg(bytes_per_s) AS bytes
    FROM ({port_rates(where=_IN_PLANE_C, ports="uplink")})
    WHERE bytes_per_s IS NOT NULL
    GROUP BY device, port
)
ORDER BY abs(share - fair_share) DESC, tor, uplink
"""
"""Within each ToR, each uplink's share of that ToR's uplink traffic over the range (fair: 1/uplinks)."""

SESSIONS_UP_DOWN = f"""
SELECT time, up, total - up AS down
FROM (
    SELECT time,
           sum(d_up) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS up,
           sum(d_total) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total
    FROM (
        SELECT toStartOfInterval(greatest(ts, ($__fromTime_ms)), INTERVAL $__interval_s second) AS time,
               sum((state = 'Established') - (prev = 'Established')) AS d_up,
               countIf(prev = '') AS d_total
        FROM ({session_changes(where=_IN_PLANE)})
        GROUP BY time
        ORDER BY time WITH FILL
            FROM toStartOfInterval(($__fromTime_ms), INTERVAL $__interval_s second)
            TO toDateTime(($__toTime_ms)) STEP $__interval_s
    )
)
WHERE time <= ($__toTime_ms)
ORDER BY time
"""
"""The plane's BGP sessions Established and not, as of the end of each interval (state holds between changes)."""

ROUTE_COUNTS = f"""
SELECT $__timeInterval(ts) AS time, n.name AS plane, avg(routes_imported) AS routes_per_session
FROM bgp_route_counters AS r
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = r.plane
WHERE $__timeFilter_ms(ts)
GROUP BY time, plane
ORDER BY time, plane
"""
"""Routes imported per BGP session on every plane: a healthy plane matches the others."""


# -- forensics ------------------------------------------------------------------------------

FORENSIC_SWITCH_VARIABLE = (
    "SELECT DISTINCT device FROM switches WHERE $__conditionalAll(plane IN (${plane:sqlstring}), $plane) ORDER BY device"
)
FORENSIC_SERVER_VARIABLE = (
    "SELECT DISTINCT server FROM servers WHERE $__conditionalAll(plane IN (${plane:sqlstring}), $plane) ORDER BY server"
)

SERVER_PORTS = (
    "SELECT fabric, device, port, argMax(server, ts) AS server FROM servers WHERE device != '' GROUP BY fabric, device, port"
)
"""The server behind each ToR port the inventory lists (latest row)."""

SERVER_MACS = "SELECT fabric, mac, argMax(server, ts) AS server FROM servers WHERE mac != '' GROUP BY fabric, mac"
"""The server owning each MAC the inventory lists (latest row)."""


def _events() -> str:
    return f"""
    SELECT ts, plane, 'bgp' AS source, '' AS switch, node AS server,
           concat(node, ' -> ', peer_ip) AS subject, concat(prev, ' -> ', state) AS change, info AS detail
    FROM ({session_changes()})
    WHERE prev != '' AND prev != state
    UNION ALL
    SELECT p.ts AS ts, p.plane AS plane, 'port' AS source, p.device AS switch, sp.server AS server,
           concat(p.device, ' ', p.port) AS subject, concat(p.prev, ' -> ', p.oper_status) AS change, '' AS detail
    FROM ({_port_changes()}) AS p
    LEFT JOIN ({SERVER_PORTS}) AS sp ON sp.fabric = p.fabric AND sp.device = p.device AND sp.port = p.port
    WHERE p.prev != '' AND p.prev != p.oper_status
    UNION ALL
    SELECT f.ts AS ts, f.plane AS plane, 'mac' AS source, f.device AS switch, sm.server AS server,
           concat(f.device, ' ', f.mac) AS subject, concat('mac ', f.change) AS change,
           if(f.previous_port IS NULL, f.port, concat(f.previous_port, ' -> ', f.port)) AS detail
    FROM fdb_changes AS f
    LEFT JOIN ({SERVER_MACS}) AS sm ON sm.fabric = f.fabric AND sm.mac = f.mac
    WHERE $__timeFilter_ms(f.ts)
    UNION ALL
    SELECT ts, plane, 'finding' AS source,
           if(subject IN (SELECT device FROM switches), subject, '') AS switch,
           if(subject IN (SELECT server FROM servers), subject, '') AS server,
           if(subject = '', kind, concat(kind, ' ', subject)) AS subject,
           concat(status, ' ', severity) AS change, summary AS detail
    FROM findings
    WHERE $__timeFilter_ms(ts)
    """


_EVENT_FILTER = """
    $__timeFilter_ms(e.ts)
    AND $__conditionalAll(e.plane IN (${plane:sqlstring}), $plane)
    AND $__conditionalAll(e.switch IN (${switch:sqlstring}), $switch)
    AND $__conditionalAll(e.server IN (${server:sqlstring}), $server)
"""

EVENTS = f"""
SELECT e.ts AS time, n.name AS plane, e.source AS source, e.subject AS subject, e.change AS change,
       e.switch AS switch, e.server AS server, e.detail AS detail
FROM ({_events()}) AS e
INNER JOIN ({PLANE_NAMES}) AS n ON n.plane = e.plane
WHERE {_EVENT_FILTER}
ORDER BY time DESC, plane, source, subject
LIMIT 2000
"""
"""What changed: BGP session states, port oper-status, MAC learn/age/move, findings (newest first)."""

EVENT_COUNTS = f"""
SELECT $__timeInterval(e.ts) AS time, e.source AS source, count() AS events
FROM ({_events()}) AS e
WHERE {_EVENT_FILTER}
GROUP BY time, source
ORDER BY time, source
"""
"""How many changes of each kind per interval: the shape of an incident at a glance."""

"""Per-plane time series for the incident report: traffic share, broadcast+multicast, BGP churn.

Each series is one row per (bucket, plane) from ClickHouse, turned into a dense grid
(every plane x every bucket of the window) so plots share one time axis and a missing
bucket shows as a gap, not as a zero.

Definitions follow the live view (:mod:`planewatch.status`), so a report and the
``planewatch up`` screen agree:

* **server-facing ports** are ToR ports not listed in the switch's ``uplinks`` (the
  latest row per switch of the ``switches`` table); spines and uplinks carry the same
  bytes again and would count them twice;
* **traffic share** of a plane = octets in+out over its server ports in a bucket /
  the same over every plane;
* **broadcast+multicast** = ``in_broadcast_pkts + in_multicast_pkts`` on server ports,
  per second;
* **BGP churn** = session state changes (a row of ``bgp_sessions`` whose state differs
  from the session's previous row) + route updates and withdraws (``bgp_route_counters``
  rows already hold the deltas since the previous poll), per bucket.

Counters are cumulative, so each sample's delta against the previous sample of the same
port is attributed to the sample's bucket; a counter that went backwards was reset (a
reboot, a cleared counter) and that interval counts nothing, as everywhere in planewatch
(:mod:`planewatch.counters`): what was counted before the reset is unknowable, and a guess
draws the spike that sends people after a storm that never was. Samples up to
``lookback`` before the window are read so the first bucket has a previous sample.

Every value (times, bucket) is bound as a query parameter; only the database name, an
identifier validated when the store opened, is placed into the SQL text.
"""

from __future__ import annotations

import dataclasses
import math

from planewatch.forensics import QueryableStore

#: Bucket sizes the automatic choice picks from (seconds): counters are sampled every
#: 10 s by default, so a finer bucket would hold no sample at all for most ports.
NICE_BUCKETS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)

#: About this many points per line: enough to see a 10 s drop in a 20 min window, few
#: enough that a day-long report stays a small SVG.
TARGET_POINTS = 150

UNKNOWN_COUNTER = 2**64 - 1
"""Exporters report a counter they do not keep as all ones (see FACTS): never a real value."""


def auto_bucket(start: float, end: float) -> int:
    """The smallest "nice" bucket that keeps a window under about :data:`TARGET_POINTS` points."""
    span = max(0.0, end - start)
    for bucket in NICE_BUCKETS:
        if span / bucket <= TARGET_POINTS:
            return bucket
    return NICE_BUCKETS[-1]


@dataclasses.dataclass(frozen=True)
class Series:
    """One quantity per plane on the window's bucket grid.

    ``values[plane][i]`` belongs to the bucket starting at ``start + i * bucket``;
    ``None`` means no sample fell in that bucket (drawn as a gap).
    """

    name: str
    unit: str
    start: float
    bucket: int
    values: dict[int, list[float | None]]

    @property
    def times(self) -> list[float]:
        """Bucket start times (epoch seconds)."""
        count = len(next(iter(self.values.values()), []))
        return [self.start + i * self.bucket for i in range(count)]

    def mean(self, plane: int, start: float, end: float) -> float | None:
        """Mean of a plane's buckets that start in ``[start, end)``; None when none has a value."""
        picked = [v for t, v in zip(self.times, self.values.get(plane, [])) if start <= t < end and v is not None]
        return sum(picked) / len(picked) if picked else None


@dataclasses.dataclass(frozen=True)
class Grid:
    """The window cut into buckets: ``count`` buckets of ``bucket`` seconds from ``start``."""

    start: float
    end: float
    bucket: int

    @property
    def count(self) -> int:
        return max(1, math.ceil((self.end - self.start) / self.bucket))

    def params(self, lookback: float = 0.0) -> dict[str, int]:
        return {
            "start_ms": int(self.start * 1000),
            "end_ms": int(self.end * 1000),
            "bucket_ms": int(self.bucket * 1000),
            "lookback_ms": int(lookback * 1000),
        }


def grid(start: float, end: float, bucket: int | None = None) -> Grid:
    """The bucket grid of a window (``bucket=None`` picks one with :func:`auto_bucket`)."""
    if end <= start:
        raise ValueError(f"the window is empty: it ends ({end}) at or before it starts ({start})")
    if bucket is not None and bucket < 1:
        raise ValueError(f"bucket must be at least 1 second, not {bucket}")
    return Grid(start, end, bucket if bucket is not None else auto_bucket(start, end))


# Bucket index of a row counted from the window start, so the grid starts exactly at --from.
_BUCKET = "intDiv(toUnixTimestamp64Milli(ts) - {start_ms:Int64}, {bucket_ms:Int64})"
_UNTIL_END = "ts <= fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"
_FROM_LOOKBACK = "ts >= fromUnixTimestamp64Milli({start_ms:Int64} - {lookback_ms:Int64}, 'UTC')"
_FROM_START = "ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')"


def _server_port_deltas_sql(db: str, value: str, valid: str) -> str:
    """Per-sample counter deltas on server-facing ToR ports: ts, plane, delta.

    ``value`` is the counter expression over ``port_counters`` columns, ``valid`` the
    condition a sample must meet to count (known, non-null counters).
    """
    return f"""
    SELECT ts, plane, toUInt64(value - prev) AS delta
    FROM (
        SELECT c.ts AS ts, c.plane AS plane, {value} AS value,
               lagInFrame({value}) OVER w AS prev,
               row_number() OVER w AS n
        FROM {db}.port_counters AS c
        INNER JOIN (
            SELECT fabric, device, argMax(uplinks, ts) AS uplinks
            FROM {db}.switches
            GROUP BY fabric, device
            HAVING argMax(role, ts) = 'tor'
        ) AS tor ON c.fabric = tor.fabric AND c.device = tor.device
        WHERE NOT has(tor.uplinks, c.port) AND {valid}
          AND c.{_FROM_LOOKBACK} AND c.{_UNTIL_END}
        WINDOW w AS (PARTITION BY c.fabric, c.device, c.port ORDER BY c.ts
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
    WHERE n > 1 AND value >= prev AND {_FROM_START}
    """


def _octets_sql(db: str) -> str:
    deltas = _server_port_deltas_sql(
        db,
        value="c.in_octets + c.out_octets",
        valid=f"c.in_octets != {UNKNOWN_COUNTER} AND c.out_octets != {UNKNOWN_COUNTER}",
    )
    return f"SELECT {_BUCKET} AS bucket, plane, toFloat64(sum(delta)) AS value FROM ({deltas}) GROUP BY bucket, plane"


def _flood_sql(db: str) -> str:
    deltas = _server_port_deltas_sql(
        db,
        value="assumeNotNull(c.in_broadcast_pkts) + assumeNotNull(c.in_multicast_pkts)",
        valid=(
            "c.in_broadcast_pkts IS NOT NULL AND c.in_multicast_pkts IS NOT NULL"
            f" AND c.in_broadcast_pkts != {UNKNOWN_COUNTER} AND c.in_multicast_pkts != {UNKNOWN_COUNTER}"
        ),
    )
    return (
        f"SELECT {_BUCKET} AS bucket, plane, sum(delta) / ({{bucket_ms:Int64}} / 1000) AS value"
        f" FROM ({deltas}) GROUP BY bucket, plane"
    )


def _churn_sql(db: str) -> str:
    # Session rows are written on change (plus a first row per session), so the previous
    # state is looked up over the whole history, as planewatch.forensics does.
    return f"""
    SELECT bucket, plane, toFloat64(sum(events)) AS value FROM (
        SELECT {_BUCKET} AS bucket, plane, count() AS events
        FROM (
            SELECT ts, plane, state,
                   lagInFrame(state) OVER (PARTITION BY fabric, node, peer_ip ORDER BY ts
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev
            FROM {db}.bgp_sessions
            WHERE {_UNTIL_END}
        )
        WHERE prev != '' AND prev != state AND {_FROM_START}
        GROUP BY bucket, plane
        UNION ALL
        SELECT {_BUCKET} AS bucket, plane,
               sum(toUInt64(import_updates) + import_withdraws + export_updates + export_withdraws) AS events
        FROM {db}.bgp_route_counters
        WHERE {_FROM_START} AND {_UNTIL_END}
        GROUP BY bucket, plane
    )
    GROUP BY bucket, plane
    """


def _dense(rows: list[dict], planes: list[int], cells: int) -> dict[int, list[float | None]]:
    """Rows of (bucket, plane, value) -> one list per plane with None where no row was."""
    values: dict[int, list[float | None]] = {p: [None] * cells for p in planes}
    for row in rows:
        index, plane = int(row["bucket"]), int(row["plane"])
        if 0 <= index < cells:
            values.setdefault(plane, [None] * cells)[index] = float(row["value"])
    return values


def traffic_share(store: QueryableStore, window: Grid, planes: list[int]) -> Series:
    """Each plane's fraction (0..1) of the fabric's server-facing bytes, per bucket.

    A bucket where no plane moved a byte has no share (None), not 0 for everyone.
    """
    params = window.params(lookback=_lookback(window))
    octets = _dense(store.query(_octets_sql(store.database), params).to_pylist(), planes, window.count)
    shares: dict[int, list[float | None]] = {p: [None] * window.count for p in octets}
    for i in range(window.count):
        total = sum(column[i] or 0.0 for column in octets.values())
        if total <= 0:
            continue
        for plane, column in octets.items():
            if column[i] is not None:
                shares[plane][i] = column[i] / total
    return Series("traffic share", "share of server-facing bytes", window.start, window.bucket, shares)


def flood_pps(store: QueryableStore, window: Grid, planes: list[int]) -> Series:
    """Broadcast+multicast packets per second received on each plane's server-facing ports."""
    params = window.params(lookback=_lookback(window))
    rows = store.query(_flood_sql(store.database), params).to_pylist()
    return Series("broadcast+multicast", "packets/s", window.start, window.bucket, _dense(rows, planes, window.count))


def bgp_churn(store: QueryableStore, window: Grid, planes: list[int]) -> Series:
    """BGP session state changes plus route updates/withdraws per plane, per bucket.

    A bucket with no row is 0 here, not a gap: churn rows only exist when something happened
    (session rows) or are always polled (route counters), so absence means quiet.
    """
    rows = store.query(_churn_sql(store.database), window.params()).to_pylist()
    values = _dense(rows, planes, window.count)
    filled = {p: [v if v is not None else 0.0 for v in column] for p, column in values.items()}
    return Series("BGP churn", f"events per {window.bucket} s", window.start, window.bucket, filled)


def _lookback(window: Grid) -> float:
    """How far before the window to look for each port's previous sample (a few sample periods)."""
    return max(60.0, 2.0 * window.bucket)

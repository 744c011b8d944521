"""Hourly rollups for long windows: whole hours from ``*_1h`` tables, the ragged ends from raw rows.

A whole-day ``top ports`` over raw ``port_counters`` reads every sample of every port
(over 100 M rows on a 20,000-server pod); migration ``0003_rollups.sql`` keeps one row
per port and hour, filled by materialized views as rows are inserted. For a window of at
least :data:`MIN_WINDOW_SECONDS` the queries read the hours that lie wholly inside it
from the rollups and only the partial hours at both ends from the raw tables, so the
answer is the one the raw rows give (see :func:`went_back_sql` for how counter resets
are seen). Shorter windows read raw rows only: there the rollups would save little.

Every piece is grouped by hour, whichever table it comes from, so the rules that decide
a port's rate see the same hourly pieces on either path; forcing the raw path
(``rollups_from=math.inf``) gives the reference the tests compare against.

The split points are computed here from the window's bound parameters and bound as
parameters themselves (``{rollup_from_ms:Int64}``, ``{rollup_to_ms:Int64}``).
"""

from __future__ import annotations

from planewatch.forensics.common import IN_WINDOW, PLANE_FILTER, at_time

HOUR_MS = 3_600_000

MIN_WINDOW_SECONDS: float = 3 * 3600.0
"""Windows at least this long (so holding at least two whole hours) read the hourly rollups."""

ROLLUP_RANGE = f"hour >= {at_time('rollup_from_ms')} AND hour < {at_time('rollup_to_ms')} AND {PLANE_FILTER}"
"""The rollup rows of the whole hours ``[rollup_from_ms, rollup_to_ms)`` (hour starts, epoch ms)."""

RAW_OUTSIDE_ROLLUPS = (f"{IN_WINDOW} AND NOT (ts >= {at_time('rollup_from_ms')}"
                       f" AND ts < {at_time('rollup_to_ms')})")
"""The raw rows of the window that the rollup range does not cover (both ends)."""


def whole_hours(window_params: dict[str, int], min_window: float = MIN_WINDOW_SECONDS) -> dict[str, int] | None:
    """The whole hours inside a window as ``{rollup_from_ms, rollup_to_ms}``, or ``None`` for raw rows only.

    ``window_params`` are :meth:`Window.params` (``start_ms``/``end_ms``, both ends
    inclusive). An hour ``[h, h + 1 h)`` is whole when ``h >= start`` and its last
    millisecond ``<= end``. ``None`` when the window is shorter than ``min_window`` seconds
    (``math.inf``: never read the rollups) or holds no whole hour.
    """
    start_ms, end_ms = window_params["start_ms"], window_params["end_ms"]
    if (end_ms - start_ms) / 1000.0 < min_window:
        return None
    first = -(-start_ms // HOUR_MS) * HOUR_MS
    last_end = (end_ms + 1) // HOUR_MS * HOUR_MS
    if last_end <= first:
        return None
    return {"rollup_from_ms": first, "rollup_to_ms": last_end}


_MASK = "toUInt128('18446744073709551615')"
_NO_FIRST = "toUInt128('340282366920938463463374607431768211455')"
_NO_LAST = "toUInt128(0)"
"""A first/last key's value is its low 64 bits; the keys a NULL value gets (never first, never last)."""


def _key(value: str) -> str:
    """``(epoch ms << 64) + value`` as in the rollup's view: min/max of it is argMin/argMax by time."""
    return f"toUInt128(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(ts)), 64) + {value})"


def _nullable_key(value: str, none: str) -> str:
    return f"if({value} IS NULL, {none}, {_key(f'ifNull({value}, 0)')})"


def _value(key: str) -> str:
    return f"toUInt64(bitAnd({key}, {_MASK}))"


def _nullable_value(key: str, none: str) -> str:
    return f"if({key} = {none}, NULL, {_value(key)})"


_OCTETS = "(in_octets + out_octets)"
_FLOOD = "(in_broadcast_pkts + in_multicast_pkts)"

_PORT_RAW_PIECE = f"""
    SELECT fabric, plane, device, port, toStartOfHour(toDateTime(ts, 'UTC')) AS hour,
           toUInt64(count()) AS n, min(ts) AS t0, max(ts) AS t1,
           {_value(f'min({_key(_OCTETS)})')} AS o0, {_value(f'max({_key(_OCTETS)})')} AS o1,
           min({_OCTETS}) AS olo, max({_OCTETS}) AS ohi,
           {_nullable_value(f'min({_nullable_key(_FLOOD, _NO_FIRST)})', _NO_FIRST)} AS f0,
           {_nullable_value(f'max({_nullable_key(_FLOOD, _NO_LAST)})', _NO_LAST)} AS f1,
           min({_FLOOD}) AS flo, max({_FLOOD}) AS fhi
    FROM {{db}}.port_counters
    WHERE {{where}}
    GROUP BY fabric, plane, device, port, hour
"""

_PORT_ROLLUP_PIECE = f"""
    SELECT fabric, plane, device, port, hour, samples AS n, first_ts AS t0, last_ts AS t1,
           {_value('first_octets')} AS o0, {_value('last_octets')} AS o1, min_octets AS olo, max_octets AS ohi,
           {_nullable_value('first_flood', _NO_FIRST)} AS f0, {_nullable_value('last_flood', _NO_LAST)} AS f1,
           min_flood AS flo, max_flood AS fhi
    FROM {{db}}.port_counters_1h FINAL
    WHERE {{where}}
"""
"""``FINAL`` merges the rows of a port-hour still in separate parts (sorted, so in order): 3-4x
faster here than a ``GROUP BY`` of the five-column key."""


def port_pieces_sql(db: str, with_rollups: bool) -> str:
    """Per port and hour of the window: samples, first/last time, and each counter's first/last/lowest/highest.

    Columns: the port key, ``hour``, ``n`` (samples), ``t0``/``t1`` (first/last sample
    time), ``o0``/``o1``/``olo``/``ohi`` (in+out octets: first, last, lowest, highest)
    and ``f0``/``f1``/``flo``/``fhi`` (broadcast+multicast packets in; null where a
    device does not report them). The window's first value is ``argMin(o0, t0)`` over
    the pieces and its last ``argMax(o1, t1)``, exactly the first and last raw sample
    (nulls are skipped per piece as per row; of samples sharing a time, the lowest value
    is first and the highest last). :func:`went_back_sql` tells resets.
    """
    if not with_rollups:
        return _PORT_RAW_PIECE.format(db=db, where=IN_WINDOW)
    return (_PORT_RAW_PIECE.format(db=db, where=RAW_OUTSIDE_ROLLUPS) + "    UNION ALL"
            + _PORT_ROLLUP_PIECE.format(db=db, where=ROLLUP_RANGE))


def went_back_sql(first: str, last: str, low: str, high: str) -> str:
    """Aggregate over a port's hourly pieces: 1 when the counter went backwards in the window (a reset), else 0.

    It did if, in some hour, its lowest value is below that hour's first or its highest
    above that hour's last; or, over the whole window, its lowest value is below the
    window's first or its highest above the window's last (this sees resets between two
    hours, whichever hours they fall between, without ordering the pieces). A counter
    that resets to 0 always drops below where the window started unless the window
    started at about 0 itself; so the one reset missed is one after which the counter
    stays at or above both the window's and the hour's first value and climbs past its
    pre-reset peak before the hour and the window end (in practice: a window starting
    right after the counter started from 0, then a second reset). The rate then counts
    last minus first, as a window without hourly pieces would. Null values (counters a
    device does not report) never count as a reset.
    """
    return (f"toUInt8(ifNull(max({low} < {first} OR {high} > {last}), 0)"
            f" OR ifNull(min({low}) < argMin({first}, t0), 0) OR ifNull(max({high}) > argMax({last}, t1), 0))")


def route_counts_sql(db: str, with_rollups: bool) -> str:
    """Rows of ``fabric, plane, node, peer_ip, import_updates, import_withdraws`` to sum per session.

    Route counters are per-interval deltas, so hourly sums add up exactly.
    """
    raw = """
    SELECT fabric, plane, node, peer_ip, toUInt64(import_updates) AS import_updates,
           toUInt64(import_withdraws) AS import_withdraws
    FROM {db}.bgp_route_counters
    WHERE {where}
    """
    if not with_rollups:
        return raw.format(db=db, where=IN_WINDOW)
    return raw.format(db=db, where=RAW_OUTSIDE_ROLLUPS) + f"""
    UNION ALL
    SELECT fabric, plane, node, peer_ip, import_updates, import_withdraws
    FROM {db}.bgp_route_counters_1h
    WHERE {ROLLUP_RANGE}
    """

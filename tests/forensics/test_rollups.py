"""Hourly rollups (migration 0003): filled on insert, and long ``top`` windows answer from them as raw rows would.

The data is written in several batches that cut hours in the middle, so the rollups'
argMin/argMax states really are merged across inserts. Timestamps lie within the last day
so the tables' TTLs keep them.
"""

from __future__ import annotations

import math
import time

import pytest

from planewatch.forensics import Window, rollups, top_ports, top_sessions
from planewatch.schemas.migrations import discover
from planewatch.schemas.records import BgpRouteCounters, PortCounters
from planewatch.store.embedded import EmbeddedStore

HOUR = 3600
STEP = 60
HOURS = 6
HOUR0 = (int(time.time()) // HOUR - 20) * HOUR
"""The first hour of the data: 20 h ago, on an hour boundary."""

RATES = {"Ethernet1": 9_000, "Ethernet2": 4_000, "Ethernet3": 20_000, "Ethernet4": 15_000, "Ethernet5": 1_000}
"""Bytes per second each port counts (in + out)."""

RESET_INSIDE_AN_HOUR = HOUR0 + 2 * HOUR + 30 * 60
"""Ethernet3 restarts from 0 here and climbs back past where it started: the net growth stays positive."""

RESET_BETWEEN_HOURS = HOUR0 + 3 * HOUR
"""Ethernet4 restarts from 0 here, between two samples in different hours, and also ends above its start."""

LONG = Window(HOUR0 + 17 * 60 + 30, HOUR0 + 5 * HOUR + 23 * 60)
"""Partial hour, four whole hours, partial hour."""


def octets(port: str, ts: float) -> int:
    if port == "Ethernet3" and ts >= RESET_INSIDE_AN_HOUR:
        return int((ts - RESET_INSIDE_AN_HOUR) * RATES[port] * 4)
    if port == "Ethernet4" and ts >= RESET_BETWEEN_HOURS:
        return int((ts - RESET_BETWEEN_HOURS) * RATES[port] * 3)
    return int((ts - HOUR0) * RATES[port])


def port_rows() -> list[PortCounters]:
    rows = []
    for port in RATES:
        for i in range(HOURS * HOUR // STEP):
            ts = HOUR0 + i * STEP + 7.25
            total = octets(port, ts)
            flood = int((ts - HOUR0) * (3 if port == "Ethernet1" else 1))
            if port == "Ethernet5" or (port == "Ethernet2" and i % 7 == 0):  # none, or some missing
                flood = None
            rows.append(PortCounters(ts=ts, plane=1, fabric="f", device="p1-tor-r01", port=port,
                                     in_octets=total // 2, out_octets=total - total // 2, in_unicast_pkts=0,
                                     out_unicast_pkts=0, in_broadcast_pkts=flood, in_multicast_pkts=flood))
    return rows


def route_rows() -> list[BgpRouteCounters]:
    return [BgpRouteCounters(ts=HOUR0 + i * 30 + 1.5, plane=plane, fabric="f", node=f"Node_10_{plane}_255_{k}",
                             protocol="Node_10_1_1_1", peer_ip=f"10.{plane}.0.{k}", routes_imported=100,
                             routes_exported=1, import_updates=(i * k) % 7, import_withdraws=(i + k) % 3,
                             export_updates=1, export_withdraws=0)
            for plane in (1, 2) for k in (1, 2, 3) for i in range(HOURS * HOUR // 30)]


def write_in_batches(store: EmbeddedStore, rows: list, batches: int = 4) -> None:
    """Write ``rows`` ordered by time in ``batches`` inserts, each cutting an hour in the middle."""
    rows = sorted(rows, key=lambda r: r.ts)
    size = math.ceil(len(rows) / batches)
    for i in range(batches):
        store.write(rows[i * size:(i + 1) * size])


@pytest.fixture
def filled(chdb_store: EmbeddedStore) -> EmbeddedStore:
    write_in_batches(chdb_store, port_rows())
    write_in_batches(chdb_store, route_rows(), batches=5)
    return chdb_store


RAW_ONLY = math.inf
"""``rollups_from`` that keeps every window on the raw rows: the reference the rollups must equal."""


PORT_ROLLUP = """
SELECT fabric, plane, device, port, hour, sum(samples) AS n, min(first_ts) AS t0, max(last_ts) AS t1,
       toUInt64(bitAnd(min(first_octets), {mask})) AS o0, toUInt64(bitAnd(max(last_octets), {mask})) AS o1,
       min(min_octets) AS olo, max(max_octets) AS ohi,
       if(min(first_flood) = {none}, NULL, toUInt64(bitAnd(min(first_flood), {mask}))) AS f0,
       if(max(last_flood) = 0, NULL, toUInt64(bitAnd(max(last_flood), {mask}))) AS f1,
       min(min_flood) AS flo, max(max_flood) AS fhi
FROM {db}.port_counters_1h GROUP BY ALL ORDER BY ALL
"""
PORT_RAW = """
SELECT fabric, plane, device, port, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, count() AS n, min(ts) AS t0,
       max(ts) AS t1, argMin(in_octets + out_octets, ts) AS o0, argMax(in_octets + out_octets, ts) AS o1,
       min(in_octets + out_octets) AS olo, max(in_octets + out_octets) AS ohi,
       argMin(in_broadcast_pkts + in_multicast_pkts, ts) AS f0, argMax(in_broadcast_pkts + in_multicast_pkts, ts) AS f1,
       min(in_broadcast_pkts + in_multicast_pkts) AS flo, max(in_broadcast_pkts + in_multicast_pkts) AS fhi
FROM {db}.port_counters GROUP BY ALL ORDER BY ALL
"""
ROUTE_ROLLUP = """
SELECT fabric, plane, node, peer_ip, hour, sum(samples), sum(import_updates), sum(import_withdraws),
       sum(export_updates), sum(export_withdraws)
FROM {db}.bgp_route_counters_1h GROUP BY ALL ORDER BY ALL
"""
ROUTE_RAW = """
SELECT fabric, plane, node, peer_ip, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, count(), sum(import_updates),
       sum(import_withdraws), sum(export_updates), sum(export_withdraws)
FROM {db}.bgp_route_counters GROUP BY ALL ORDER BY ALL
"""


def rows(store: EmbeddedStore, sql: str) -> list[tuple]:
    """Rows of ``sql``; a first/last key's value is its low 64 bits, all ones means "no value"."""
    mask, none = "toUInt128('18446744073709551615')", "toUInt128('340282366920938463463374607431768211455')"
    table = store.query(sql.format(db=store.database, mask=mask, none=none))
    return list(zip(*(column.to_pylist() for column in table.columns)))


def test_rollup_rows_equal_a_group_by_over_the_raw_rows(filled: EmbeddedStore):
    ports = rows(filled, PORT_ROLLUP)
    assert len(ports) == len(RATES) * HOURS
    assert ports == rows(filled, PORT_RAW)
    routes = rows(filled, ROUTE_ROLLUP)
    assert len(routes) == 6 * HOURS
    assert routes == rows(filled, ROUTE_RAW)


def test_long_top_ports_via_rollups_equal_the_raw_computation(filled: EmbeddedStore):
    assert rollups.whole_hours(LONG.params()) == {"rollup_from_ms": (HOUR0 + HOUR) * 1000,
                                                   "rollup_to_ms": (HOUR0 + 5 * HOUR) * 1000}
    for by in ("traffic", "broadcast"):
        via_rollups = top_ports(filled, LONG, by=by).to_pylist()
        raw = top_ports(filled, LONG, by=by, rollups_from=RAW_ONLY).to_pylist()
        assert via_rollups == raw
    ranked = top_ports(filled, LONG).to_pylist()
    assert [r["port"] for r in ranked] == ["Ethernet1", "Ethernet2", "Ethernet5", "Ethernet3", "Ethernet4"]
    by_port = {r["port"]: r for r in ranked}
    samples = [LONG.start <= HOUR0 + i * STEP + 7.25 <= LONG.end for i in range(HOURS * HOUR // STEP)]
    assert by_port["Ethernet1"]["samples"] == sum(samples)
    assert by_port["Ethernet1"]["bytes_per_s"] == pytest.approx(RATES["Ethernet1"], abs=0.1)
    assert by_port["Ethernet1"]["broadcast_pps"] == pytest.approx(6, abs=0.001)
    assert by_port["Ethernet5"]["broadcast_pps"] is None, "a port without broadcast counters has no flood rate"
    assert by_port["Ethernet2"]["broadcast_pps"] is not None, "samples missing them are skipped"


def test_long_windows_read_the_whole_hours_from_the_rollups(filled: EmbeddedStore):
    """Deleting the raw rows of the whole hours changes the raw answer, not the rollup one."""
    before = top_ports(filled, LONG, rollups_from=RAW_ONLY).to_pylist()
    filled.query(f"DELETE FROM {filled.database}.port_counters WHERE ts >= {{a:Int64}} AND ts < {{b:Int64}}",
                 {"a": HOUR0 + HOUR, "b": HOUR0 + 5 * HOUR})
    assert top_ports(filled, LONG, rollups_from=RAW_ONLY).to_pylist() != before
    assert top_ports(filled, LONG, rollups_from=3 * HOUR).to_pylist() == before


def test_a_counter_reset_leaves_the_port_without_a_rate_on_both_paths(filled: EmbeddedStore):
    """Ethernet3 resets mid-hour yet ends above its start; Ethernet4 drops between two hours."""
    for port in ("Ethernet3", "Ethernet4"):
        assert octets(port, LONG.end) > octets(port, LONG.start), "a last-minus-first rule alone would not see it"
    for rollups_from in (rollups.MIN_WINDOW_SECONDS, RAW_ONLY):
        ranked = {r["port"]: r for r in top_ports(filled, LONG, rollups_from=rollups_from).to_pylist()}
        assert ranked["Ethernet3"]["bytes_per_s"] is None and ranked["Ethernet4"]["bytes_per_s"] is None
        assert ranked["Ethernet1"]["bytes_per_s"] is not None
    after_reset = Window(RESET_INSIDE_AN_HOUR + 60, LONG.end)
    ranked = {r["port"]: r for r in top_ports(filled, after_reset).to_pylist()}
    assert ranked["Ethernet3"]["bytes_per_s"] == pytest.approx(RATES["Ethernet3"] * 4, abs=0.1)


def test_long_top_sessions_via_rollups_equal_the_raw_computation(filled: EmbeddedStore):
    via_rollups = top_sessions(filled, LONG, limit=100).to_pylist()
    assert top_sessions(filled, LONG, limit=100, rollups_from=RAW_ONLY).to_pylist() == via_rollups
    assert len(via_rollups) == 6
    expected = sum(r.import_updates + r.import_withdraws for r in route_rows()
                   if r.peer_ip == "10.2.0.3" and LONG.start <= r.ts <= LONG.end)
    (session,) = [r for r in via_rollups if r["peer_ip"] == "10.2.0.3"]
    assert session["route_updates"] + session["route_withdraws"] == expected
    plane1 = top_sessions(filled, Window(LONG.start, LONG.end, plane=1), limit=100).to_pylist()
    assert {r["plane"] for r in plane1} == {1} and len(plane1) == 3


def test_whole_hours_of_a_window():
    def split(start: float, end: float) -> dict[str, int] | None:
        return rollups.whole_hours(Window(start, end).params())

    h = HOUR0
    assert split(h + 1, h + 2 * HOUR) is None, "shorter than 3 h: raw rows only"
    assert split(h, h + 3 * HOUR) == {"rollup_from_ms": h * 1000, "rollup_to_ms": (h + 3 * HOUR) * 1000}
    assert split(h + 0.001, h + 4 * HOUR - 0.002) == {"rollup_from_ms": (h + HOUR) * 1000,
                                                     "rollup_to_ms": (h + 3 * HOUR) * 1000}
    assert split(None, None)["rollup_from_ms"] == 0


def test_the_migration_backfills_a_store_filled_before_it_and_can_be_rerun(filled: EmbeddedStore):
    (migration,) = [m for m in discover() if m.name == "0003_rollups.sql"]
    db = filled.database
    expected_ports, expected_routes = rows(filled, PORT_ROLLUP), rows(filled, ROUTE_ROLLUP)
    for statement in migration.statements(db):  # re-run on a filled store: nothing doubles
        filled.query(statement)
    assert rows(filled, PORT_ROLLUP) == expected_ports and rows(filled, ROUTE_ROLLUP) == expected_routes
    for name in ("port_counters_1h_mv", "port_counters_1h", "bgp_route_counters_1h_mv", "bgp_route_counters_1h"):
        filled.query(f"DROP TABLE {db}.{name}")
    for statement in migration.statements(db):  # as on a store that predates 0003
        filled.query(statement)
    assert rows(filled, PORT_ROLLUP) == expected_ports and rows(filled, ROUTE_ROLLUP) == expected_routes
    filled.write(port_rows()[:1])  # and the views fill it again on insert
    assert rows(filled, PORT_ROLLUP)[0][5] == expected_ports[0][5] + 1

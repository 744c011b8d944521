"""Forensic query latency on a day of pod-scale data, next to a raw scan of the same rows.

The issue's promise: queries stay fast on a day of 20,000-server data. The benchmark
builds that day in an embedded store (chdb) and times the questions an engineer asks
after an incident, each beside the engine's own time to read the same rows once.

**The day** is written by ClickHouse itself (``INSERT … SELECT … FROM numbers(…)``), not
by the Python simulator, which would need hours for it. It follows the simulator's
names and shapes (:mod:`planewatch.simulator.fabric`, :mod:`~planewatch.simulator.engine`):
racks of 80 servers, ToRs ``p{p}-tor-r{rr}`` with server ``r{rr}-s{nn}`` on ``Ethernet{nn}``
and one uplink per spine, two spines and two route reflectors per plane, BIRD sessions
``Node_10_p_255_k`` from every server to both of its plane's reflectors, MACs
``02:pp:00:rr:00:nn``. Into it go:

* ``port_counters`` for every ToR port, uplink and spine port each ``--counter-interval``
  (each switch on its own phase): octets, unicast, broadcast and multicast packets that
  only ever increase, following the simulator's daily curve (peak 15:00 UTC);
* the initial state (every port UP, every session Established) and then only changes,
  as the collectors store them: ``interface_status``, ``bgp_sessions``, ``fdb_changes``;
* ``fdb_snapshots``: every switch's whole MAC table each ``--fdb-interval``;
* ``bgp_route_counters`` of every session each ``--route-interval``;
* **plane 2 fails for 10 minutes** a little after mid-day: its ports and uplinks go
  down within a second, every session to its reflectors drops within 3 s, the ToRs age
  the server MACs out, counters stop moving and the other planes carry its share; then
  all of it comes back; one ``plane_failure`` finding fires and resolves;
* **background churn**: 5 % of the servers reboot once during the day (60–120 s down on
  every plane, sessions ``Idle``) with a ``server_failure`` finding each;
* the inventory rows (``planes``, ``switches``) dashboards and queries join against.

sFlow tables stay empty: they repeat what the gNMI counters say and no forensic query
reads them.

Each big table is written in slices of the day, one part per slice, in its sort order
(ClickHouse then skips sorting each block), with their background merges paused while
they are written and timed: the store looks like one a day old that has not merged yet
(about ten parts per table), and merges do not compete with the timings.

**The timing**: each case (:data:`CASES`, one line each) runs ``--repeats`` times,
alternating with its **reference**, a ``SELECT count(), sum(cityHash64(…))`` over the
same tables, about the same columns and the case's window, so the ratio stays meaningful
on a noisy shared machine. Median and max are printed, then a one-line verdict that says
for a slow query whether its rows (the raw scan alone is slow) or its own work are the
cost. Before timing, the benchmark checks the data makes sense: the row counts are what
the shape implies, and ``alerts``/``timeline`` find the plane failure it wrote.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from planewatch import forensics
from planewatch.forensics import Window
from planewatch.schemas.records import Finding
from planewatch.simulator.fabric import MAX_RACKS, MAX_SERVERS_PER_RACK, plane_name, uplink_base
from planewatch.simulator.recording import recent_start
from planewatch.simulator.timeline import HOLD_TIMER_EXPIRED
from planewatch.simulator.traffic import ARP_PPS, DAILY_AMPLITUDE, DAY, MEDIAN_RATE, MULTICAST_PPS, PEAK_HOUR_UTC
from planewatch.store.embedded import EmbeddedStore

__all__ = ["BenchQueryError", "Case", "CASES", "DayShape", "QueryBenchResult", "Timing", "generate_day", "run_query_bench"]

FAILED_PLANE = 2
FAILURE_SECONDS = 600.0
MAX_HOURS = 168
SERVERS_PER_RACK = 80
SPINES = 2
ROUTE_REFLECTORS = 2
REBOOTS_PER_SERVER_PER_DAY = 0.05
"""DESIGN.md: a 5 % daily server failure rate."""
CHURN_PER_SERVER_PER_DAY = 0.1
"""Calico note: ~2,000 route events per day for 20,000 servers."""
TARGET_SECONDS = 3.0
"""Median an engineer at the prompt should wait for any forensic query."""
SCRATCH = "bench_query_scratch"
"""Database of the generator's helper tables (Memory engine), dropped at the end."""
CHUNKS = 12
"""The big tables are written in this many slices of time (one part each, ~10 M rows at the default size),
with a progress line after each."""
PAUSED_TABLES = ("port_counters", "bgp_route_counters", "fdb_snapshots")
"""The big tables: no background merges while they are written and timed (merging gigabytes would compete
with both); they hold a part per slice of the day, as a store does before it has merged them."""

Out = Callable[[str], None]


class BenchQueryError(RuntimeError):
    """The benchmark cannot run as asked; the message says what to change."""


# -- the shape of the day ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DayShape:
    """Fabric size, time span and cadences; every expected row count follows from these."""

    servers: int
    planes: int
    hours: float
    counter_interval: float
    route_interval: float
    fdb_interval: float
    start: float
    seed: int = 0

    @classmethod
    def build(cls, servers: int, planes: int, hours: float, counter_interval: float, route_interval: float,
              fdb_interval: float, start: float | None = None, seed: int = 0) -> DayShape:
        """Check the numbers and pick the start (a whole hour whose day ends before now, inside every TTL)."""
        if servers < 1:
            raise BenchQueryError(f"--servers {servers}: give at least 1")
        if not 2 <= planes <= 255:
            raise BenchQueryError(f"--planes {planes}: give 2..255 (the failed plane is {FAILED_PLANE})")
        if servers > MAX_RACKS * MAX_SERVERS_PER_RACK:
            raise BenchQueryError(f"--servers {servers}: the address plan holds at most "
                                  f"{MAX_RACKS * MAX_SERVERS_PER_RACK:,} ({MAX_RACKS} racks of {MAX_SERVERS_PER_RACK})")
        if not 1 <= hours <= MAX_HOURS:
            raise BenchQueryError(f"--hours {hours:g}: give 1..{MAX_HOURS} (the plane failure alone lasts 10 minutes; "
                                  "raw MAC tables are kept 14 days, so older rows would be dropped on insert)")
        for name, value in (("--counter-interval", counter_interval), ("--route-interval", route_interval),
                            ("--fdb-interval", fdb_interval)):
            if not 1 <= value <= hours * 3600:
                raise BenchQueryError(f"{name} {value:g}: give 1 s .. the whole span ({hours * 3600:g} s)")
        duration = hours * 3600.0
        return cls(servers, planes, float(hours), float(counter_interval), float(route_interval), float(fdb_interval),
                   recent_start(duration) if start is None else float(start), seed)

    # fabric
    @property
    def servers_per_rack(self) -> int:
        return max(min(SERVERS_PER_RACK, self.servers), -(-self.servers // MAX_RACKS))

    @property
    def racks(self) -> int:
        return -(-self.servers // self.servers_per_rack)

    @property
    def uplinks(self) -> int:
        return SPINES

    @property
    def fabric(self) -> str:
        return f"sim-{self.planes}x{self.racks}x{self.servers_per_rack}"

    @property
    def switches(self) -> int:
        """Switches of all planes: one ToR per rack plus the spines, per plane."""
        return self.planes * (self.racks + SPINES)

    @property
    def ports(self) -> int:
        """Ports with counters: server ports, ToR uplinks, spine ports towards racks and reflectors."""
        return self.planes * (self.servers + self.racks * self.uplinks + SPINES * (self.racks + ROUTE_REFLECTORS))

    @property
    def sessions(self) -> int:
        return self.servers * self.planes * ROUTE_REFLECTORS

    # time
    @property
    def duration(self) -> float:
        return self.hours * 3600.0

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def failure_start(self) -> float:
        """A little after the middle, one second past a 10 s boundary (the failure folds into one timeline row)."""
        return self.start + (int(self.duration * 0.55) // 10) * 10 + 1.0

    @property
    def failure_end(self) -> float:
        return self.failure_start + FAILURE_SECONDS

    def samples(self, interval: float) -> int:
        """Polls per device in the span: each device polls at ``start + phase + k*interval``, phase in (0, interval]."""
        return int(self.duration // interval)

    @property
    def reboots(self) -> int:
        return min(self.servers, max(1, round(REBOOTS_PER_SERVER_PER_DAY * self.servers * self.hours / 24.0)))

    def expected_rows(self) -> dict[str, int]:
        """Rows each table must hold once the day is written."""
        failing_ports = self.servers + self.racks * self.uplinks + SPINES * self.racks
        return {
            "port_counters": self.ports * self.samples(self.counter_interval),
            "interface_status": self.ports + 2 * failing_ports + 2 * self.planes * self.reboots,
            "bgp_sessions": self.sessions + 2 * self.servers * ROUTE_REFLECTORS
            + 2 * self.planes * ROUTE_REFLECTORS * self.reboots,
            "fdb_changes": 2 * self.servers + 2 * self.planes * self.reboots,
            "fdb_snapshots": self.switches * self.samples(self.fdb_interval),
            "bgp_route_counters": self.sessions * self.samples(self.route_interval),
            "findings": 2 + 2 * self.reboots,
            "planes": self.planes,
            "switches": self.switches,
        }

    def incident_hour(self) -> Window:
        """The hour around the failure's start (inside the day): what an engineer opens first."""
        begin = min(max(self.start, self.failure_start - 1800.0), self.end - 3600.0)
        return Window(begin, begin + 3600.0)

    def whole_day(self) -> Window:
        return Window(self.start, self.end)

    def params(self) -> dict[str, Any]:
        """Every number the generator's SQL reads, bound as query parameters."""
        return {
            "S": self.servers, "P": self.planes, "R": self.racks, "spr": self.servers_per_rack, "U": self.uplinks,
            "SP": SPINES, "K": ROUTE_REFLECTORS, "base": uplink_base(self.servers_per_rack),
            "start": self.start, "end": self.end, "f0": self.failure_start, "f1": self.failure_end, "fp": FAILED_PLANE,
            "fabric": self.fabric, "seed": self.seed,
        }


# -- SQL building blocks (constant text; every value is a bound parameter) ---------------------------------

def _u(tag: str, *parts: str) -> str:
    """A uniform number in [0, 1) from a hash of the columns ``parts`` and ``tag`` (deterministic per seed)."""
    return f"(cityHash64('{tag}', {', '.join(parts)}, {{seed:UInt32}}) % 1000000) / 1e6"


def _pad2(x: str) -> str:
    return f"if({x} < 10, concat('0', toString({x})), toString({x}))"


def _hex2(x: str) -> str:
    return f"lower(hex(toUInt8({x})))"


def _ts(x: str) -> str:
    return f"fromUnixTimestamp64Milli(toInt64(round(({x}) * 1000)), 'UTC')"


_TWO_PI = 2.0 * math.pi
_F = ("(({t}) + {amp} * {day} / {two_pi} * sin({two_pi} * (({t}) / {day} - {peak})))")


def _integral(t: str) -> str:
    """Seconds of traffic at the daily curve's load from epoch 0 to ``t`` (its derivative is ``daily_factor``)."""
    return _F.format(t=t, amp=DAILY_AMPLITUDE, day=DAY, two_pi=_TWO_PI, peak=PEAK_HOUR_UTC / 24.0)


def _clamp_failure(t: str) -> str:
    return f"least(greatest({t}, {{f0:Float64}}), {{f1:Float64}})"


# -- the generator ------------------------------------------------------------------------------------------

_SCRATCH_TABLES = {
    "servers": "i UInt32, rack UInt16, slot UInt16, name String, tx Float64, rx Float64, pkt Float64, arp Float64, "
               "prefixes UInt8",
    "ports": "plane UInt8, device String, port String, role String, rack UInt16, slot UInt16, i Int64, "
             "rate_in Float64, rate_out Float64, pkt Float64, bc Float64, mc Float64, uptime Float64, phase Float64, "
             "fails UInt8",
    "ports_in_order": "plane UInt8, device String, port String, rate_in Float64, rate_out Float64, pkt Float64, "
                      "bc Float64, mc Float64, uptime Float64, phase Float64, fails UInt8",
    "sessions": "plane UInt8, name String, i UInt32, protocol String, peer_ip String, phase Float64, "
                "imported UInt32, exported UInt32",
    "reboots": "i UInt32, t0 Float64, t1 Float64",
    "fdb": "plane UInt8, device String, phase Float64, macs Array(String), vlans Array(UInt16), ports Array(String), "
           "rr_macs Array(String), rr_ports Array(String), is_tor UInt8, rack UInt16",
}


def _scratch(store: EmbeddedStore) -> None:
    store.query(f"DROP DATABASE IF EXISTS {SCRATCH}")
    store.query(f"CREATE DATABASE {SCRATCH}")
    for name, columns in _SCRATCH_TABLES.items():
        store.query(f"CREATE TABLE {SCRATCH}.{name} ({columns}) ENGINE = Memory")


def _fill_scratch(store: EmbeddedStore, shape: DayShape) -> None:
    """Servers (traffic model as in planewatch.simulator.traffic), every port with counters, the reboots, MAC tables."""
    p = shape.params()
    server = f"concat('r', {_pad2('rack')}, '-s', {_pad2('slot')})"
    normal = f"sqrt(-2 * log(1 - {_u('n1', 'number')})) * cos(2 * pi() * {_u('n2', 'number')})"  # Box-Muller
    store.query(f"""
        INSERT INTO {SCRATCH}.servers
        SELECT number AS i, intDiv(number, {{spr:UInt32}}) + 1 AS rack, number % {{spr:UInt32}} + 1 AS slot, {server},
               exp(log({MEDIAN_RATE}) + 0.6 * {normal}) AS tx, tx * (0.8 + 0.4 * {_u('rx', 'number')}),
               600 + 600 * {_u('pkt', 'number')}, {ARP_PPS[0]} + {ARP_PPS[1] - ARP_PPS[0]} * {_u('arp', 'number')},
               1 + ({_u('prefixes', 'number')} < 0.3)
        FROM numbers({{S:UInt32}})""", p)
    tor = f"concat('p', toString(plane), '-tor-r', {_pad2('rack')})"
    uptime = f"(1e5 + 9e5 * {_u('uptime', 'plane', 'rack')})"
    phase = "{interval:Float64} * (1 - " + _u('phase', 'device') + ")"
    # server ports: ECMP gives each plane 1/P of the server's traffic
    store.query(f"""
        INSERT INTO {SCRATCH}.ports
        SELECT plane, {tor} AS device, concat('Ethernet', toString(slot)), 'server', rack, slot, i, tx / {{P:UInt8}},
               rx / {{P:UInt8}}, pkt, arp, {MULTICAST_PPS}, {uptime}, {phase}, plane = {{fp:UInt8}}
        FROM {SCRATCH}.servers
        ARRAY JOIN range(1, {{P:UInt8}} + 1) AS plane""",
                {**p, "interval": shape.counter_interval})
    # ToR uplinks: the rack's traffic to other racks, spread over one uplink per spine
    mean_tx = MEDIAN_RATE * math.exp(0.6 ** 2 / 2)
    rack_servers = "least({spr:UInt32}, {S:UInt32} - (rack - 1) * {spr:UInt32})"
    store.query(f"""
        INSERT INTO {SCRATCH}.ports
        SELECT plane, {tor} AS device, concat('Ethernet', toString({{base:UInt32}} + u)), 'uplink', rack, 0, -1,
               {rack_servers} * {mean_tx} / {{P:UInt8}} * ({{R:UInt32}} - 1) / {{R:UInt32}} / {{U:UInt32}} AS rate,
               rate, 900, {rack_servers} * {sum(ARP_PPS) / 2}, {MULTICAST_PPS}, {uptime}, {phase}, plane = {{fp:UInt8}}
        FROM (SELECT intDiv(number, {{R:UInt32}} * {{U:UInt32}}) + 1 AS plane,
                     intDiv(number % ({{R:UInt32}} * {{U:UInt32}}), {{U:UInt32}}) + 1 AS rack,
                     number % {{U:UInt32}} + 1 AS u
              FROM numbers({{P:UInt8}} * {{R:UInt32}} * {{U:UInt32}}))""", {**p, "interval": shape.counter_interval})
    # spine ports: towards each rack (mirroring that rack's uplink) and towards each route reflector (BGP only)
    store.query(f"""
        INSERT INTO {SCRATCH}.ports
        SELECT plane, concat('p', toString(plane), '-spine', toString(s)) AS device, concat('Ethernet', toString(x)),
               'spine', if(x <= {{R:UInt32}}, x, 0) AS rack, 0, -1,
               if(rack > 0, {rack_servers} * {mean_tx} / {{P:UInt8}} * ({{R:UInt32}} - 1) / {{R:UInt32}} / {{U:UInt32}},
                  2.0 * {{S:UInt32}}) AS rate,
               rate, if(rack > 0, 900, 80), if(rack > 0, {rack_servers} * {sum(ARP_PPS) / 2}, 0.01),
               if(rack > 0, {MULTICAST_PPS}, 0), {uptime}, {phase}, plane = {{fp:UInt8}} AND rack > 0
        FROM (SELECT intDiv(number, {{SP:UInt8}} * ({{R:UInt32}} + {{K:UInt8}})) + 1 AS plane,
                     intDiv(number % ({{SP:UInt8}} * ({{R:UInt32}} + {{K:UInt8}})), {{R:UInt32}} + {{K:UInt8}}) + 1 AS s,
                     number % ({{R:UInt32}} + {{K:UInt8}}) + 1 AS x
              FROM numbers({{P:UInt8}} * {{SP:UInt8}} * ({{R:UInt32}} + {{K:UInt8}})))""",
                {**p, "interval": shape.counter_interval})
    # rows written in the tables' sort order: ClickHouse then skips sorting each inserted block
    store.query(f"""
        INSERT INTO {SCRATCH}.ports_in_order
        SELECT plane, device, port, rate_in, rate_out, pkt, bc, mc, uptime, phase, fails
        FROM {SCRATCH}.ports ORDER BY plane, device, port""")
    store.query(f"""
        INSERT INTO {SCRATCH}.sessions
        SELECT plane, name, i, concat('Node_10_', toString(plane), '_255_', toString(kk)),
               concat('10.', toString(plane), '.255.', toString(kk)) AS peer_ip,
               {{interval:Float64}} * (1 - {_u('bird', 'rack')}),
               (SELECT sum(prefixes) FROM {SCRATCH}.servers) - prefixes, prefixes
        FROM {SCRATCH}.servers
        ARRAY JOIN range(1, {{P:UInt8}} + 1) AS plane
        ARRAY JOIN range(1, {{K:UInt8}} + 1) AS kk
        ORDER BY plane, name, peer_ip""", {**p, "interval": shape.route_interval})
    # reboots: distinct servers, away from the plane failure so the two stories stay apart
    rng = random.Random(f"planewatch-bench-query:{shape.seed}")
    spans = [(shape.start + 60.0, shape.failure_start - 300.0), (shape.failure_end + 300.0, shape.end - 300.0)]
    spans = [(a, b) for a, b in spans if b > a]
    total = sum(b - a for a, b in spans)
    servers, t0s, t1s = [], [], []
    if total > 0:
        for i in sorted(rng.sample(range(shape.servers), shape.reboots)):
            x = rng.uniform(0.0, total)
            for a, b in spans:
                if x <= b - a:
                    t0 = a + x
                    break
                x -= b - a
            servers.append(i)
            t0s.append(round(t0, 3))
            t1s.append(round(t0 + rng.uniform(60.0, 120.0), 3))
    store.query(f"""
        INSERT INTO {SCRATCH}.reboots
        SELECT r.1, r.2, r.3 FROM (SELECT arrayJoin(arrayZip({{i:Array(UInt32)}}, {{t0:Array(Float64)}},
                                                             {{t1:Array(Float64)}})) AS r)""",
                {"i": servers, "t0": t0s, "t1": t1s})
    # MAC tables as planewatch.simulator.engine._healthy_fdb_ports builds them (one MAC order per plane, RRs last)
    mac = f"concat('02:', {_hex2('plane')}, ':00:', {_hex2('intDiv(j, {spr:UInt32}) + 1')}, ':00:', {_hex2('j % {spr:UInt32} + 1')})"
    rr_mac = f"concat('02:', {_hex2('plane')}, ':00:ff:00:', {_hex2('k')})"
    store.query(f"""
        INSERT INTO {SCRATCH}.fdb
        SELECT plane, device, {{interval:Float64}} * (1 - {_u('fdb', 'device')}),
               arrayConcat(arrayMap(j -> {mac}, range({{S:UInt32}})), arrayMap(k -> {rr_mac}, range(1, {{K:UInt8}} + 1))),
               arrayResize([toUInt16(100 + plane)], {{S:UInt32}} + {{K:UInt8}}, toUInt16(100 + plane)),
               arrayMap(j -> if(is_tor,
                                if(intDiv(j, {{spr:UInt32}}) + 1 = rack, concat('Ethernet', toString(j % {{spr:UInt32}} + 1)),
                                   concat('Ethernet', toString({{base:UInt32}} + 1 + intDiv(j, {{spr:UInt32}}) % {{U:UInt32}}))),
                                concat('Ethernet', toString(intDiv(j, {{spr:UInt32}}) + 1))),
                        range({{S:UInt32}}))
               || arrayMap(k -> if(is_tor, concat('Ethernet', toString({{base:UInt32}} + 1 + (k - 1) % {{U:UInt32}})),
                                   concat('Ethernet', toString({{R:UInt32}} + k))), range(1, {{K:UInt8}} + 1)),
               arrayMap(k -> {rr_mac}, range(1, {{K:UInt8}} + 1)),
               arrayMap(k -> if(is_tor, concat('Ethernet', toString({{base:UInt32}} + 1 + (k - 1) % {{U:UInt32}})),
                                concat('Ethernet', toString({{R:UInt32}} + k))), range(1, {{K:UInt8}} + 1)),
               is_tor, rack
        FROM (SELECT plane, if(x <= {{R:UInt32}}, concat('p', toString(plane), '-tor-r', {_pad2('x')}),
                                concat('p', toString(plane), '-spine', toString(x - {{R:UInt32}}))) AS device,
                     x <= {{R:UInt32}} AS is_tor, if(is_tor, x, 0) AS rack
              FROM (SELECT intDiv(number, {{R:UInt32}} + {{SP:UInt8}}) + 1 AS plane, number % ({{R:UInt32}} + {{SP:UInt8}}) + 1 AS x
                    FROM numbers({{P:UInt8}} * ({{R:UInt32}} + {{SP:UInt8}}))))
        ORDER BY plane, device""",
                {**p, "interval": shape.fdb_interval})


def _insert_chunked(store: EmbeddedStore, table: str, sql: str, params: dict[str, Any], samples: int,
                    rows_per_sample: int, out: Out) -> None:
    """Run ``sql`` (which reads samples ``{lo:UInt32}`` .. ``+{n:UInt32}``) in time slices, printing progress."""
    step = max(1, -(-samples // CHUNKS))
    began = time.perf_counter()
    done = 0
    for lo in range(0, samples, step):
        n = min(step, samples - lo)
        # one part per slice (not one per million rows): squash the slice into one block before it is written
        rows = int(n * rows_per_sample)
        store.query(f"{sql} SETTINGS min_insert_block_size_rows = {rows}, min_insert_block_size_bytes = 0",
                    {**params, "lo": lo, "n": n})
        done += n
        elapsed = time.perf_counter() - began
        out(f"  {table}: {done * rows_per_sample:,} / {samples * rows_per_sample:,} rows "
            f"({100 * done / samples:.0f} %, {elapsed:.1f} s, {done * rows_per_sample / max(elapsed, 1e-9):,.0f} rows/s)")


def _port_counters(store: EmbeddedStore, db: str, shape: DayShape, out: Out) -> None:
    t = "({start:Float64} + phase + k.number * {interval:Float64})"
    traffic = f"({_integral(t)} - {_integral('{start:Float64}')})"
    lost = f"({_integral(_clamp_failure(t))} - {_integral('{f0:Float64}')})"
    moved = f"if(plane = {{fp:UInt8}}, if(fails, -{lost}, 0), {lost} / ({{P:UInt8}} - 1))"
    up_seconds = f"(uptime + {t} - {{start:Float64}} - if(plane = {{fp:UInt8}} AND fails, {_clamp_failure(t)} - {{f0:Float64}}, 0))"
    sql = f"""
        INSERT INTO {db}.port_counters (ts, plane, fabric, device, port, in_octets, out_octets, in_unicast_pkts,
            out_unicast_pkts, in_broadcast_pkts, out_broadcast_pkts, in_multicast_pkts, out_multicast_pkts,
            in_discards, out_discards, in_errors, out_errors)
        SELECT {_ts(t)}, plane, {{fabric:String}}, device, port,
               toUInt64(rate_in * (uptime + {traffic} + {moved})) AS io, toUInt64(rate_out * (uptime + {traffic} + {moved})) AS oo,
               toUInt64(io / pkt), toUInt64(oo / pkt), toUInt64(bc * {up_seconds}) AS b, b, toUInt64(mc * {up_seconds}) AS m, m,
               toUInt64(0.001 * {up_seconds}), 0, 0, 0
        FROM {SCRATCH}.ports_in_order AS p CROSS JOIN (SELECT number FROM numbers({{lo:UInt32}}, {{n:UInt32}})) AS k"""
    _insert_chunked(store, "port_counters", sql, {**shape.params(), "interval": shape.counter_interval},
                    shape.samples(shape.counter_interval), shape.ports, out)


def _route_counters(store: EmbeddedStore, db: str, shape: DayShape, out: Out) -> None:
    """BIRD's per-session counters: imports = every other server's prefixes; deltas from background churn."""
    t = "({start:Float64} + phase + k.number * {interval:Float64})"
    down = f"(plane = {{fp:UInt8}} AND {t} >= {{f0:Float64}} + 3 AND {t} < {{f1:Float64}} + 6)"
    fresh = f"(plane = {{fp:UInt8}} AND {t} >= {{f1:Float64}} + 6 AND {t} < {{f1:Float64}} + 6 + {{interval:Float64}})"
    churn = f"{CHURN_PER_SERVER_PER_DAY} * {{S:UInt32}} * {{interval:Float64}} / {DAY}"
    sql = f"""
        INSERT INTO {db}.bgp_route_counters (ts, plane, fabric, node, protocol, peer_ip, routes_imported,
            routes_exported, import_updates, import_withdraws, export_updates, export_withdraws)
        SELECT {_ts(t)}, plane, {{fabric:String}}, name, protocol, peer_ip,
               if({down}, 0, imported) AS imports, if({down}, 0, exported) AS exports,
               if({down}, 0, if({fresh}, imports, toUInt32(2 * {churn} * {_u('iu', 'plane', 'k.number')}))),
               if({down}, 0, toUInt32({churn} * {_u('iw', 'plane', 'k.number')})),
               if({down}, 0, if({fresh}, exports, {_u('eu', 'i', 'k.number')} < {churn} / {{S:UInt32}})), 0
        FROM {SCRATCH}.sessions AS sess
        CROSS JOIN (SELECT number FROM numbers({{lo:UInt32}}, {{n:UInt32}})) AS k"""
    _insert_chunked(store, "bgp_route_counters", sql, {**shape.params(), "interval": shape.route_interval},
                    shape.samples(shape.route_interval), shape.sessions, out)


def _fdb_snapshots(store: EmbeddedStore, db: str, shape: DayShape, out: Out) -> None:
    """Whole tables (servers' MACs, then the reflectors'); while plane 2 is down its ToRs hold nothing, its spines the RRs."""
    t = "({start:Float64} + phase + k.number * {interval:Float64})"
    failed = f"(plane = {{fp:UInt8}} AND {t} >= {{f0:Float64}} + 1 AND {t} < {{f1:Float64}})"
    sql = f"""
        INSERT INTO {db}.fdb_snapshots (ts, plane, fabric, device, macs, vlans, ports)
        SELECT {_ts(t)}, plane, {{fabric:String}}, device,
               if({failed}, if(is_tor, [], rr_macs), macs),
               if({failed}, arrayResize(vlans, if(is_tor, 0, {{K:UInt8}})), vlans),
               if({failed}, if(is_tor, [], rr_ports), ports)
        FROM {SCRATCH}.fdb CROSS JOIN (SELECT number FROM numbers({{lo:UInt32}}, {{n:UInt32}})) AS k"""
    _insert_chunked(store, "fdb_snapshots", sql, {**shape.params(), "interval": shape.fdb_interval},
                    shape.samples(shape.fdb_interval), shape.switches, out)


def _events(store: EmbeddedStore, db: str, shape: DayShape) -> None:
    """Initial state, then the changes of the plane failure and of the reboots (as engine/timeline.py time them)."""
    p = {**shape.params(), "hold": HOLD_TIMER_EXPIRED}
    port_down = f"({{f0:Float64}} + 0.05 + 0.95 * {_u('down', 'device', 'port')})"
    port_up = f"({{f1:Float64}} + 0.05 + 1.95 * {_u('up', 'device', 'port')})"
    reboot_down = f"(t0 + 0.02 + 0.18 * {_u('reboot-down', 'device', 'port')})"
    reboot_up = f"(t1 + 0.5 + {_u('reboot-up', 'device', 'port')})"
    status = f"INSERT INTO {db}.interface_status (ts, plane, fabric, device, port, oper_status)"
    store.query(f"{status} SELECT {_ts('{start:Float64} + 0.001')}, plane, {{fabric:String}}, device, port, 'UP' "
                f"FROM {SCRATCH}.ports", p)
    for ts, state in ((port_down, "DOWN"), (port_up, "UP")):
        store.query(f"{status} SELECT {_ts(ts)}, plane, {{fabric:String}}, device, port, '{state}' "
                    f"FROM {SCRATCH}.ports WHERE plane = {{fp:UInt8}} AND fails", p)
    reboot_ports = f"FROM {SCRATCH}.ports AS p INNER JOIN {SCRATCH}.reboots AS r ON p.i = toInt64(r.i)"
    for ts, state in ((reboot_down, "DOWN"), (reboot_up, "UP")):
        store.query(f"{status} SELECT {_ts(ts)}, plane, {{fabric:String}}, device, port, '{state}' {reboot_ports}", p)
    # MACs age out on the ToR when the server port drops, and are learned again when it comes back
    changes = f"INSERT INTO {db}.fdb_changes (ts, plane, fabric, device, mac, vlan, port, change, previous_port)"
    mac = f"concat('02:', {_hex2('plane')}, ':00:', {_hex2('rack')}, ':00:', {_hex2('slot')})"
    for ts, change, where in ((port_down, "aged", "plane = {fp:UInt8} AND role = 'server'"),
                              (port_up, "learned", "plane = {fp:UInt8} AND role = 'server'")):
        store.query(f"{changes} SELECT {_ts(ts + ' + 0.001')}, plane, {{fabric:String}}, device, {mac}, 100 + plane, "
                    f"port, '{change}', NULL FROM {SCRATCH}.ports WHERE {where}", p)
    for ts, change in ((reboot_down, "aged"), (reboot_up, "learned")):
        store.query(f"{changes} SELECT {_ts(ts + ' + 0.001')}, plane, {{fabric:String}}, device, {mac}, 100 + plane, "
                    f"port, '{change}', NULL {reboot_ports}", p)
    # BGP: every server to both reflectors of every plane
    sessions = f"""
        INSERT INTO {db}.bgp_sessions (ts, plane, fabric, node, protocol, peer_ip, state, info)
        SELECT {{ts}}, plane, {{{{fabric:String}}}}, name, concat('Node_10_', toString(plane), '_255_', toString(kk)),
               concat('10.', toString(plane), '.255.', toString(kk)), {{state}}
        FROM {SCRATCH}.servers AS s {{join}}
        ARRAY JOIN range(1, {{{{P:UInt8}}}} + 1) AS plane
        ARRAY JOIN range(1, {{{{K:UInt8}}}} + 1) AS kk
        {{where}}"""
    key = "name, plane, kk"
    rows = (
        (_ts("{start:Float64} + 0.001"), "'Established', ''", "", ""),
        (_ts(f"{{f0:Float64}} + 0.5 + 2.5 * {_u('down', key)}"), "'Active', {hold:String}", "", "WHERE plane = {fp:UInt8}"),
        (_ts(f"{{f1:Float64}} + 2.5 + 3.5 * {_u('up', key)}"), "'Established', ''", "", "WHERE plane = {fp:UInt8}"),
        (_ts(f"t0 + 0.5 + 2.5 * {_u('down', key)}"), "'Idle', {hold:String}",
         f"INNER JOIN {SCRATCH}.reboots AS r ON s.i = r.i", ""),
        (_ts(f"t1 + 3.0 + 5.0 * {_u('up', key)}"), "'Established', ''",
         f"INNER JOIN {SCRATCH}.reboots AS r ON s.i = r.i", ""),
    )
    for ts, state, join, where in rows:
        store.query(sessions.format(ts=ts, state=state, join=join, where=where), p)


def _findings(store: EmbeddedStore, db: str, shape: DayShape) -> None:
    """One plane_failure (firing, resolved) as the detector words it, and a server_failure per reboot."""
    from planewatch.streams.detector import fingerprint  # the detectors' own stable id

    plane, servers = FAILED_PLANE, shape.servers
    began, fired = shape.failure_start + 0.05, shape.failure_start + 2.3
    ended, resolved = shape.failure_end + 3.9, shape.failure_end + 31.0
    evidence = {"plane_name": plane_name(plane), "servers_down": servers, "servers_total": servers,
                "sessions_down": servers * ROUTE_REFLECTORS, "sessions_total": servers * ROUTE_REFLECTORS,
                "server_ports_down": servers, "server_ports_total": servers, "tors_down": shape.racks,
                "tors_total": shape.racks, "generated_by": "planewatch bench query"}
    common = dict(plane=plane, fabric=shape.fabric, fingerprint=fingerprint("plane_failure", plane), kind="plane_failure",
                  subject="", severity="critical", started_at=began)
    share = 1.0 / shape.planes
    store.write([
        Finding(ts=fired, status="firing", ended_at=None, evidence=evidence, **common,
                summary=f"plane {plane} ({plane_name(plane)}) failed: {servers}/{servers} servers lost BGP, "
                        f"{shape.racks}/{shape.racks} ToRs' server ports down, traffic share 0.00 (was {share:.2f})"),
        Finding(ts=resolved, status="resolved", ended_at=ended, evidence={**evidence, "servers_down": 0}, **common,
                summary=f"plane {plane} ({plane_name(plane)}) recovered after {ended - began:.0f}s: 0/{servers} servers "
                        f"lost BGP, 0/{shape.racks} ToRs' server ports down, traffic share {share:.2f} (was {share:.2f})"),
    ])
    store.query(f"""
        INSERT INTO {db}.findings (ts, plane, fabric, fingerprint, kind, subject, severity, status, started_at, ended_at,
                                   summary, evidence)
        SELECT {_ts('x.1')}, 0, {{fabric:String}}, lower(hex(sipHash64('server_failure', 0, name))), 'server_failure', name,
               'warning', x.2, {_ts('t0 + 0.02')}, if(x.2 = 'resolved', {_ts('t1 + 8.0')}, NULL), x.3,
               '{{"generated_by":"planewatch bench query"}}'
        FROM {SCRATCH}.reboots AS r INNER JOIN {SCRATCH}.servers AS s ON s.i = r.i
        ARRAY JOIN [(t0 + 9.0, 'firing', concat('server ', name, ' is down on all ', toString({{P:UInt8}}),
                                                ' planes since 9s (a server failure, not a plane failure)')),
                    (t1 + 12.0, 'resolved', concat('server ', name, ' is back after ', toString(round(t1 - t0 + 8)), 's'))] AS x""",
                shape.params())


def _inventory(store: EmbeddedStore, db: str, shape: DayShape) -> bool:
    """The ``planes`` and ``switches`` rows planewatch writes when it starts; False when this schema lacks them."""
    present = store.query(f"SELECT count() AS n FROM system.tables WHERE database = {{db:String}} "
                          f"AND name IN ('planes', 'switches')", {"db": db}).column("n")[0].as_py()
    if present < 2:
        return False
    p = shape.params()
    store.query(f"""
        INSERT INTO {db}.planes (ts, plane, fabric, name, switches, servers, expected_macs)
        SELECT {_ts('{start:Float64}')}, number + 1, {{fabric:String}},
               arrayElement({{names:Array(String)}}, number + 1), {{R:UInt32}} + {{SP:UInt8}}, {{S:UInt32}},
               {{S:UInt32}} + {{K:UInt8}}
        FROM numbers({{P:UInt8}})""", {**p, "names": [plane_name(x) for x in range(1, shape.planes + 1)]})
    store.query(f"""
        INSERT INTO {db}.switches (ts, plane, fabric, device, role, rack, uplinks)
        SELECT {_ts('{start:Float64}')}, plane, {{fabric:String}}, device, if(is_tor, 'tor', 'spine'),
               if(is_tor, concat('r', {_pad2('rack')}), ''),
               if(is_tor, arrayMap(u -> concat('Ethernet', toString({{base:UInt32}} + u)), range(1, {{U:UInt32}} + 1)), [])
        FROM {SCRATCH}.fdb""", p)
    return True


def generate_day(store: EmbeddedStore, shape: DayShape, out: Out = print) -> dict[str, float]:
    """Write the day into ``store``'s (empty) tables; seconds spent per step.

    Merges of :data:`PAUSED_TABLES` stay stopped (``SYSTEM START MERGES`` resumes them; a
    reopened store merges as usual).
    """
    db = store.database
    seconds: dict[str, float] = {}

    def step(name: str, action: Callable[[], object]) -> None:
        began = time.perf_counter()
        action()
        seconds[name] = time.perf_counter() - began
        out(f"  {name}: {seconds[name]:.1f} s")

    _scratch(store)
    for table in PAUSED_TABLES:
        store.query(f"SYSTEM STOP MERGES {db}.{table}")
    try:
        step("fabric model (servers, ports, reboots, MAC tables)", lambda: _fill_scratch(store, shape))
        step("state changes (interface_status, fdb_changes, bgp_sessions)", lambda: _events(store, db, shape))
        step("findings", lambda: _findings(store, db, shape))
        if not _inventory(store, db, shape):
            out("  inventory: skipped (this store has no planes/switches tables)")
        step("fdb_snapshots", lambda: _fdb_snapshots(store, db, shape, out))
        step("bgp_route_counters", lambda: _route_counters(store, db, shape, out))
        step("port_counters", lambda: _port_counters(store, db, shape, out))
    finally:
        store.query(f"DROP DATABASE IF EXISTS {SCRATCH}")
    return seconds


# -- the timing harness -------------------------------------------------------------------------------------

REFERENCE_COLUMNS: dict[str, str] = {
    "bgp_sessions": "plane, node, peer_ip, state, info",
    "interface_status": "plane, device, port, oper_status",
    "fdb_changes": "plane, device, mac, port, change, previous_port",
    "findings": "plane, fingerprint, kind, subject, severity, status, started_at, ended_at, summary",
    "port_counters": "plane, device, port, in_octets, out_octets, in_broadcast_pkts, in_multicast_pkts",
    "fdb_snapshots": "plane, device, length(macs)",
    "bgp_route_counters": "plane, node, peer_ip, routes_imported, import_updates, import_withdraws",
}
"""Columns the reference reads per table: about what the forensic queries read."""
EVENT_TABLES = ("bgp_sessions", "interface_status", "fdb_changes", "findings")


@dataclasses.dataclass(frozen=True)
class Case:
    """One forensic question: how to ask it, over which window, and which tables the reference scans.

    ``needs`` names the :mod:`planewatch.forensics` function the case calls, so a build
    without it lists the case as not measured instead of failing.
    """

    name: str
    window: Callable[[DayShape], Window]
    ask: Callable[[Any, Window], pa.Table]
    tables: tuple[str, ...]
    needs: str

    @property
    def available(self) -> bool:
        return hasattr(forensics, self.needs)


def _around_failure(before: float, after: float) -> Callable[[DayShape], Window]:
    return lambda shape: Window(shape.failure_start + before, shape.failure_start + after)


def _day_off_the_hour(shape: DayShape) -> Window:
    """The day less 17 min 17 s at each end: a window whose ends fall inside hours, so ``top``
    reads its partial first and last hours from the raw rows besides the hourly rollups."""
    trim = min(1037.0, (shape.end - shape.start) / 8)
    return Window(shape.start + trim, shape.end - trim)


STATE_TABLES = ("bgp_sessions", "interface_status", "port_counters", "fdb_snapshots", "findings")
_f = forensics
CASES: list[Case] = [
    Case("timeline, incident hour", DayShape.incident_hour, lambda s, w: _f.timeline(s, w), EVENT_TABLES, "timeline"),
    Case("timeline, whole day", DayShape.whole_day, lambda s, w: _f.timeline(s, w), EVENT_TABLES, "timeline"),
    Case("alerts, whole day", DayShape.whole_day, lambda s, w: _f.alerts(s, w), ("findings",), "alerts"),
    Case("asof, 5 min into the failure", _around_failure(300 - 900, 300), lambda s, w: _f.asof(s, w.end),
         STATE_TABLES, "asof"),
    Case("diff, 5 min before vs 5 min into", _around_failure(-300, 300), lambda s, w: _f.diff(s, w.start, w.end),
         STATE_TABLES, "diff"),
    Case("top ports by broadcast, incident hour", DayShape.incident_hour,
         lambda s, w: _f.top_ports(s, w, by="broadcast"), ("port_counters",), "top_ports"),
    Case("top ports by traffic, whole day", DayShape.whole_day, lambda s, w: _f.top_ports(s, w, by="traffic"),
         ("port_counters",), "top_ports"),
    Case("top ports by traffic, day off the hour", _day_off_the_hour,
         lambda s, w: _f.top_ports(s, w, by="traffic"), ("port_counters",), "top_ports"),
    Case("top sessions by churn, whole day", DayShape.whole_day, lambda s, w: _f.top_sessions(s, w),
         ("bgp_sessions", "bgp_route_counters"), "top_sessions"),
    Case("top switches by MACs, incident hour", DayShape.incident_hour, lambda s, w: _f.top_switches(s, w),
         ("fdb_snapshots",), "top_switches"),
]
"""Add a forensic query with one line; it is timed beside a raw scan of its tables over its window."""


@dataclasses.dataclass
class Timing:
    name: str
    window: Window
    rows_out: int
    seconds: list[float]
    reference_seconds: list[float]
    rows_scanned: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    @property
    def reference_median(self) -> float:
        return statistics.median(self.reference_seconds)

    @property
    def ratio(self) -> float:
        """Query median over the raw scan's median: how much more than reading its rows once the query costs."""
        return self.median / self.reference_median if self.reference_median > 0 else float("inf")


def _reference_sql(db: str, tables: tuple[str, ...]) -> str:
    parts = [f"SELECT count() AS n, sum(cityHash64({REFERENCE_COLUMNS[t]})) AS h FROM {db}.{t} "
             f"WHERE ts >= fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC') "
             f"AND ts <= fromUnixTimestamp64Milli({{end_ms:Int64}}, 'UTC')" for t in tables]
    return "SELECT sum(n) AS n, sum(h) AS h FROM (" + " UNION ALL ".join(parts) + ")"


def time_case(store: EmbeddedStore, shape: DayShape, case: Case, repeats: int) -> Timing:
    """Run the case and its reference alternately ``repeats`` times (alternating shares the machine's noise)."""
    window = case.window(shape)
    reference = _reference_sql(store.database, case.tables)
    seconds: list[float] = []
    ref_seconds: list[float] = []
    rows_out = scanned = 0
    for _ in range(repeats):
        began = time.perf_counter()
        result = case.ask(store, window)
        seconds.append(time.perf_counter() - began)
        rows_out = result.num_rows
        began = time.perf_counter()
        ref = store.query(reference, window.params())
        ref_seconds.append(time.perf_counter() - began)
        scanned = int(ref.column("n")[0].as_py() or 0)
    return Timing(case.name, window, rows_out, seconds, ref_seconds, scanned)


# -- checks and reporting -----------------------------------------------------------------------------------

def table_sizes(store: EmbeddedStore) -> dict[str, tuple[int, int, int]]:
    """Rows (``count()``), bytes on disk and parts (active ones) of every table in the store's database.

    Materialized views are left out: the rows they write are counted in their target
    tables (the ``*_1h`` rollups), where counting them again would double them.
    """
    db = store.database
    sizes = store.query("SELECT table, sum(bytes_on_disk) AS b, count() AS parts FROM system.parts "
                        "WHERE database = {db:String} AND active GROUP BY table", {"db": db}).to_pylist()
    disk = {row["table"]: (int(row["b"]), int(row["parts"])) for row in sizes}
    names = store.query("SELECT name FROM system.tables WHERE database = {db:String} AND name != 'schema_migrations' "
                        "AND engine != 'MaterializedView' ORDER BY name", {"db": db}).column("name").to_pylist()
    return {name: (int(store.query(f"SELECT count() AS n FROM {db}.{name}").column("n")[0].as_py()),
                   *disk.get(name, (0, 0))) for name in names}


def _wait_for_merges(store: EmbeddedStore, out: Out, limit: float = 180.0) -> float:
    """Let background merges settle (a day-old store would be merged) so they do not run under the timings."""
    began = time.perf_counter()
    said = False
    while time.perf_counter() - began < limit:
        running = store.query("SELECT count() AS n FROM system.merges WHERE database = {db:String}",
                              {"db": store.database}).column("n")[0].as_py()
        if not running:
            break
        if not said:
            out("waiting for background merges to settle (a store a day old has merged its parts) …")
            said = True
        time.sleep(1.0)
    return time.perf_counter() - began


def failure_found(store: EmbeddedStore, shape: DayShape) -> tuple[bool, str]:
    """Do ``alerts`` and ``timeline`` tell the story that was written? (Else the timings time nonsense.)"""
    found = forensics.alerts(store, shape.whole_day()).to_pylist()
    plane = [a for a in found if a["kind"] == "plane_failure" and a["plane"] == FAILED_PLANE and a["state"] == "resolved"]
    servers = sum(1 for a in found if a["kind"] == "server_failure")
    changes = forensics.timeline(store, shape.incident_hour(), bucket_seconds=60).to_pylist()
    dropped = sum(r["count"] for r in changes if r["plane"] == FAILED_PLANE and r["source"] == "bgp"
                  and r["change"] == "Established -> Active")
    ports = sum(r["count"] for r in changes if r["plane"] == FAILED_PLANE and r["source"] == "port"
                and r["change"] == "UP -> DOWN")
    want_sessions = shape.servers * ROUTE_REFLECTORS
    ok = len(plane) == 1 and dropped == want_sessions and ports >= shape.servers and servers == shape.reboots
    began = plane[0]["began"].strftime("%H:%M:%S") if plane else "-"
    return ok, (f"alerts: {len(plane)} plane_failure on plane {FAILED_PLANE} (began {began} UTC, resolved), "
                f"{servers:,} server_failure; timeline: {dropped:,}/{want_sessions:,} sessions Established -> Active, "
                f"{ports:,} ports UP -> DOWN on plane {FAILED_PLANE}")


def _size(value: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value} B"


def _directory_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _seconds(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"


def _print_table(shape: DayShape, timings: list[Timing], out: Out) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"forensic queries on a {shape.hours:g} h day of {shape.servers:,} servers x {shape.planes} "
                        f"planes (median and max of the repeats)", title_justify="left")
    for column in ("query", "rows out", "median", "max", "raw scan (reference)", "rows scanned", "vs raw scan"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for t in timings:
        table.add_row(t.name, f"{t.rows_out:,}", _seconds(t.median), _seconds(t.max),
                      _seconds(t.reference_median), f"{t.rows_scanned:,}", f"{t.ratio:,.1f}x")
    buffer = io.StringIO()
    Console(file=buffer, width=140, force_terminal=False, color_system=None).print(table)
    out(buffer.getvalue().rstrip())


@dataclasses.dataclass
class QueryBenchResult:
    """Everything the benchmark printed, for callers and tests."""

    shape: DayShape
    rows: dict[str, int]
    expected_rows: dict[str, int]
    bytes_on_disk: dict[str, int]
    directory_bytes: int
    generation_seconds: float
    timings: list[Timing]
    failure_found: bool
    data: Path
    kept: bool

    @property
    def rows_ok(self) -> bool:
        return all(self.rows.get(name) == want for name, want in self.expected_rows.items() if name in self.rows)

    @property
    def fast(self) -> bool:
        return all(t.median <= TARGET_SECONDS for t in self.timings)

    @property
    def ok(self) -> bool:
        return self.rows_ok and self.failure_found

    @property
    def verdict(self) -> str:
        """One line: OK / SLOW / DATA WRONG, and for a slow query whether its rows or its own work are the cost."""
        shape, timings = self.shape, self.timings
        scale = (f"on {sum(self.rows.values()):,} rows ({_size(sum(self.bytes_on_disk.values()))}), "
                 f"a {shape.hours:g} h day of {shape.servers:,} servers x {shape.planes} planes")
        if not self.ok:
            why = ("row counts differ from what was asked" if not self.rows_ok
                   else "the generated plane failure was not found")
            return f"DATA WRONG: {why}; the timings mean nothing"
        if not timings:
            return f"NOTHING TIMED: no forensic query is available in this build {scale}"
        slow = [t for t in timings if t.median > TARGET_SECONDS]
        if not slow:
            slowest = max(timings, key=lambda t: t.median)
            return (f"OK: every forensic query answered within {TARGET_SECONDS:g} s (median) {scale}; slowest: "
                    f"{slowest.name} {_seconds(slowest.median)}, {slowest.ratio:.1f}x a raw scan of its rows")
        parts = []
        for t in slow:
            if t.reference_median > TARGET_SECONDS / 3:
                cost = (f"its raw scan alone takes {_seconds(t.reference_median)}: the rows read are the cost, "
                        "a rollup would cut them")
            else:
                cost = f"{t.ratio:.1f}x its raw scan: the query's own work is the cost"
            parts.append(f"{t.name} {_seconds(t.median)} ({cost})")
        return (f"SLOW: {'; '.join(parts)}; the other {len(timings) - len(slow)} within {TARGET_SECONDS:g} s (median) "
                f"{scale}")


def run_query_bench(
    servers: int = 20_000,
    planes: int = 4,
    hours: float = 24.0,
    counter_interval: float = 60.0,
    route_interval: float = 300.0,
    fdb_interval: float = 3600.0,
    *,
    data: Path | None = None,
    keep: bool = False,
    repeats: int = 3,
    cases: list[Case] | None = None,
    out: Out = print,
) -> QueryBenchResult:
    """Generate the day into ``data`` (a temporary directory by default), time every case, print every figure."""
    shape = DayShape.build(servers, planes, hours, counter_interval, route_interval, fdb_interval)
    cases = CASES if cases is None else cases
    temporary = data is None
    directory = Path(tempfile.mkdtemp(prefix="planewatch-bench-query-")) if temporary else Path(data)
    try:
        with EmbeddedStore.open(directory) as store:
            if any(rows for rows, _, _ in table_sizes(store).values()):
                raise BenchQueryError(f"{directory} already holds planewatch data; give --data an empty or new directory")
            expected = shape.expected_rows()
            out(f"fabric: {shape.servers:,} servers x {shape.planes} planes ({shape.racks} racks of up to "
                f"{shape.servers_per_rack}, {shape.switches:,} switches, {shape.ports:,} ports with counters, "
                f"{shape.sessions:,} BGP sessions), fabric {shape.fabric}")
            out(f"day: {shape.hours:g} h from {time.strftime('%Y-%m-%d %H:%M', time.gmtime(shape.start))} UTC; "
                f"counters every {shape.counter_interval:g} s, route counters every {shape.route_interval:g} s, "
                f"MAC tables every {shape.fdb_interval:g} s; plane {FAILED_PLANE} down "
                f"{time.strftime('%H:%M:%S', time.gmtime(shape.failure_start))}"
                f"-{time.strftime('%H:%M:%S', time.gmtime(shape.failure_end))} UTC; {shape.reboots:,} server reboot"
                + ("s" if shape.reboots != 1 else ""))
            lookback = getattr(forensics, "DEFAULT_LOOKBACK", None)
            if lookback and shape.fdb_interval > lookback:
                out(f"note: asof looks {lookback:g} s back for each switch's MAC table; with one every "
                    f"{shape.fdb_interval:g} s it finds one for ~{100 * lookback / shape.fdb_interval:.0f} % of the "
                    "switches (less MAC data read than at a shorter --fdb-interval)")
            out(f"generating {sum(expected.values()):,} rows into {directory} (ClickHouse INSERT … SELECT, untimed) …")
            began = time.perf_counter()
            generate_day(store, shape, out)
            _wait_for_merges(store, out)
            generation = time.perf_counter() - began
            sizes = table_sizes(store)
            rows = {name: n for name, (n, _, _) in sizes.items()}
            disk = {name: b for name, (_, b, _) in sizes.items()}
            total_disk = sum(disk.values())
            out(f"generated in {generation:.1f} s: {sum(rows.values()):,} rows, {_size(total_disk)} on disk "
                f"(data directory {_size(_directory_bytes(directory))} with parts awaiting cleanup)")
            for name in sorted(sizes, key=lambda n: -rows[n]):
                want = expected.get(name)
                check = "" if want is None else (" (as expected)" if rows[name] == want else f" - EXPECTED {want:,}")
                parts = sizes[name][2]
                out(f"  {name}: {rows[name]:,} rows, {_size(disk[name])} in {parts} part{'s' if parts != 1 else ''}{check}")
            found, story = failure_found(store, shape)
            out(f"generated plane failure found: {story} - {'OK' if found else 'NOT FOUND'}")
            missing = [case.name for case in cases if not case.available]
            cases = [case for case in cases if case.available]
            out(f"timing {len(cases)} queries, {repeats} runs each, alternating with a raw scan of their tables …")
            timings: list[Timing] = []
            for case in cases:
                timing = time_case(store, shape, case, repeats)
                timings.append(timing)
                out(f"  {case.name}: median {_seconds(timing.median)}, max {_seconds(timing.max)}; raw scan "
                    f"{_seconds(timing.reference_median)} ({timing.rows_scanned:,} rows)")
            for table in PAUSED_TABLES:
                store.query(f"SYSTEM START MERGES {store.database}.{table}")
        result = QueryBenchResult(shape, rows, expected, disk, total_disk, generation, timings, found, directory,
                                  kept=not temporary or keep)
        _print_table(shape, timings, out)
        if missing:
            out(f"not measured (not in this build of planewatch.forensics): {', '.join(missing)}")
        out("verdict: " + result.verdict)
        if result.kept:
            out(f"data kept in {directory}: planewatch query --data {directory} timeline --from "
                f"{int(shape.incident_hour().start or 0)} --to {int(shape.incident_hour().end or 0)}")
        return result
    finally:
        if temporary and not keep:
            shutil.rmtree(directory, ignore_errors=True)

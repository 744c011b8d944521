"""Flooding: broadcast/multicast storms and unknown-unicast floods, one finding per plane and kind.

In a Calico fabric the servers route, so a plane's steady broadcast is almost nothing:
servers ARPing for each other, a fraction of a packet per second per server (the
simulator models 0.05–0.2 pps of ARP plus 0.02 pps of IPv6 ND per server port). A loop or
a misbehaving device turns that into thousands of packets per second on every port of
the plane, and since each plane is its own L2 domain, the other planes stay quiet. Two
findings come out of this module:

``flooding`` (per plane)
    Broadcast + multicast packets per second *received on server-facing ToR ports*
    (gNMI ``in_broadcast_pkts + in_multicast_pkts``; sFlow generic ``in_bcast + in_mcast``
    when a switch sends no gNMI), summed over the plane. It fires when that rate stays
    above **all** of: an absolute floor scaled by fabric size (``floor_per_server_pps`` ×
    the plane's servers), ``baseline_multiple`` × the plane's own healthy baseline, and
    ``peer_multiple`` × the median of the other planes. Requiring the other planes to be
    quiet is what makes one plane's storm trustworthy: something flooding *every* plane
    equally is a server or an application, not the plane.

``unknown_unicast`` (per plane)
    sFlow flow samples of unicast frames whose destination MAC is not in the plane's
    FDB (a MAC counts as present while some switch of the plane reported it, by
    snapshot or ``learned`` change, within ``fdb_max_age``). Every switch of an L2 plane
    sees a flooded frame, so the plane's rate is the *mean* over sampling switches of
    ``Σ sampling_rate / window`` — not the sum, which would count each flooded frame once
    per switch. Fires when that estimate is above ``max(floor, per-server × servers,
    baseline_multiple × baseline)`` with at least ``unknown_unicast_min_samples`` samples.

Counter handling: every counter → rate goes through :func:`planewatch.counters.counter_rate`.
gNMI counters are OpenConfig ``counter64``, so a "32-bit wrap" there is really a reset and
gives no rate; sFlow generic counters are 32 bits on the wire and do wrap, bounded by the
port's line rate in minimum-size frames. A reset keeps the port's last rate; a port silent
for ``stale_after`` stops contributing. Nothing in this module reads the wall clock: the
event-time clock is the largest ``ts`` seen; :class:`Watermark` records advance it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from typing import Any, Self

import msgspec

from planewatch.counters import CounterEvent, counter_rate
from planewatch.inventory import Inventory
from planewatch.schemas.records import (
    FdbChange,
    FdbSnapshot,
    Finding,
    PortCounters,
    Record,
    SflowCounterSample,
    SflowFlowSample,
)
from planewatch.streams.detector import (
    Band,
    Hysteresis,
    Lifecycle,
    Transition,
    decode_state,
    encode_state,
    explanation_flipped,
    make_finding,
)

__all__ = ["KIND", "KINDS", "UNKNOWN_UNICAST", "FloodingConfig", "FloodingDetector"]

KIND = "flooding"
UNKNOWN_UNICAST = "unknown_unicast"
KINDS = (KIND, UNKNOWN_UNICAST)
"""Finding kinds this detector raises."""
_KINDS = KINDS
_SEVERITY = {KIND: "critical", UNKNOWN_UNICAST: "warning"}
_STATE_VERSION = 1
_WRAP = CounterEvent.WRAP
_MIN_FRAME_BITS = 84 * 8
"""A minimum-size Ethernet frame on the wire (64 B + preamble + inter-frame gap), in bits."""


class FloodingConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds and timings of the flooding detector (event-time seconds, packets/s)."""

    floor_per_server_pps: float = 2.0
    """Absolute floor: a plane floods when it receives more broadcast+multicast than this many pps
    per server on the plane. Steady state is server ARPs (≈0.1–0.2 pps per server per plane on a
    Calico fabric, where nothing but the servers' routers speak L2); 2 pps leaves 10× headroom for
    ARP refresh bursts, and scales with the fabric (20,000 servers: 40 kpps)."""
    baseline_multiple: float = 10.0
    """…and more than this multiple of the plane's own healthy baseline (for planes whose normal is high)."""
    peer_multiple: float = 5.0
    """…and more than this multiple of the median of the other planes' rates (they share the servers,
    so they see the same ARP load; a plane several times louder than its peers is the plane's fault)."""
    clear_ratio: float = 0.5
    """A firing plane clears when its rate falls below this fraction of the raise level (hysteresis gap)."""
    baseline_alpha: float = 0.05
    """Weight of each calm assessment in the per-plane baseline (exponential average, ~100 s at 5 s)."""
    unknown_unicast_floor_pps: float = 100.0
    """Unknown-unicast frames per second a plane may flood before it is material (normally ~0: every
    server MAC is refreshed by ARP long before it ages; a single sample at 1-in-4096 is 136 pps over 30 s)."""
    unknown_unicast_per_server_pps: float = 0.05
    """…scaled with the fabric: 20,000 servers allow 1,000 pps before raising."""
    unknown_unicast_min_samples: int = 5
    """Samples needed in the window before an unknown-unicast estimate is trusted."""
    fdb_settle: float = 120.0
    """After a plane failure (or degraded plane) that ``fdb_unsettled_by`` explains resolves, the plane's
    MAC tables are being relearned and our view of them (FDB snapshots, every 60 s over gNMI) lags
    the switches': unknown unicast on that plane is not judged for this long, nor while it is down."""
    fdb_unsettled_by: tuple[str, ...] = ("plane_failure", "plane_degraded")
    interval: float = 5.0
    """How often (event time) the planes are assessed."""
    window: float = 30.0
    """Flow-sample window for the unknown-unicast estimate and the sampled-MAC evidence."""
    raise_hold: float = 10.0
    """The raise condition must hold this long (two assessments) before a finding fires."""
    resolve_hold: float = 30.0
    """The clear condition must hold this long before a finding resolves."""
    stale_after: float = 60.0
    """A port whose counters are older than this stops contributing (3 gNMI intervals, 3 sFlow ones)."""
    max_lateness: float = 30.0
    """Flow samples older than the clock minus this are dropped (their window has been judged)."""
    fdb_max_age: float = 180.0
    """A MAC is in the plane's FDB while a switch reported it within this long (3 × the 60 s gNMI FDB poll)."""
    max_port_pps: float = 150e6
    """Upper bound on any port's packet rate when its speed is unknown (100 GbE of 64-byte frames)."""
    max_tracked_macs: int = 4096
    """Per plane cap on remembered non-inventory FDB MACs and sampled source MACs (bounds memory)."""
    top: int = 5
    """How many ports / racks the evidence lists."""
    example_macs: int = 10
    """How many sampled source MACs the evidence lists."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("floor_per_server_pps", "unknown_unicast_floor_pps", "interval", "window",
                     "stale_after", "fdb_max_age", "max_port_pps"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0")
        for name in ("baseline_multiple", "peer_multiple", "unknown_unicast_per_server_pps",
                     "raise_hold", "resolve_hold", "max_lateness"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not 0 < self.clear_ratio < 1:
            problems.append(f"clear_ratio ({self.clear_ratio}) must be in (0, 1) so raise and clear levels differ")
        if not 0 < self.baseline_alpha <= 1:
            problems.append("baseline_alpha must be in (0, 1]")
        if self.window < self.interval:
            problems.append(f"window ({self.window}) must be >= interval ({self.interval})")
        for name in ("unknown_unicast_min_samples", "max_tracked_macs", "top", "example_macs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if problems:
            raise ValueError("invalid FloodingConfig: " + "; ".join(problems))


# -- live state --------------------------------------------------------------------------


class _Switch:
    """One switch: its plane and the sums of its server ports' rates, per source.

    A switch that reports gNMI broadcast/multicast counters is measured by gNMI; its sFlow
    counter samples then only count when gNMI says nothing (the two describe the same ports).
    """

    __slots__ = ("name", "plane", "rack", "tor", "uplinks", "uplink_ifs",
                 "g_n", "g_flood", "g_total", "s_n", "s_flood", "s_total")

    def __init__(self, name: str, plane: int, rack: str | None, tor: bool, uplinks: frozenset[str]):
        self.name, self.plane, self.rack, self.tor, self.uplinks = name, plane, rack, tor, uplinks
        self.uplink_ifs = frozenset(n for n in (_port_number(u) for u in uplinks) if n is not None)
        self.g_n = self.s_n = 0
        self.g_flood = self.g_total = self.s_flood = self.s_total = 0.0

    def contribution(self) -> tuple[bool, float, float]:
        if self.g_n:
            return True, max(self.g_flood, 0.0), max(self.g_total, 0.0)
        if self.s_n:
            return True, max(self.s_flood, 0.0), max(self.s_total, 0.0)
        return False, 0.0, 0.0


class _Port:
    """One server-facing port's last raw counters (broadcast, multicast, unicast) and rates."""

    __slots__ = ("switch", "gnmi", "name", "ts", "last", "flood", "total")

    def __init__(self, switch: _Switch, gnmi: bool, name: str | int, ts: float, last: tuple[int | None, ...]):
        self.switch, self.gnmi, self.name, self.ts, self.last = switch, gnmi, name, ts, last
        self.flood: float | None = None
        self.total: float | None = None


class _Buckets:
    """Sums over a sliding event-time window, in ``interval`` buckets (late values land in their bucket)."""

    __slots__ = ("interval", "ids", "weight", "count")

    def __init__(self, interval: float, slots: int):
        self.interval = interval
        self.ids = [-1] * slots
        self.weight = [0.0] * slots
        self.count = [0] * slots

    def add(self, ts: float, weight: float) -> None:
        b = int(ts // self.interval)
        k = b % len(self.ids)
        if self.ids[k] != b:
            if self.ids[k] > b:
                return  # older than the window
            self.ids[k], self.weight[k], self.count[k] = b, 0.0, 0
        self.weight[k] += weight
        self.count[k] += 1

    def totals(self, now: float) -> tuple[float, int]:
        newest = int(now // self.interval)
        oldest = newest - len(self.ids) + 1
        weight, count = 0.0, 0
        for b, w, n in zip(self.ids, self.weight, self.count):
            if oldest <= b <= newest:
                weight += w
                count += n
        return weight, count


class _Top:
    """Counts per key over the last one-to-two windows (two generations), at most ``cap`` keys each."""

    __slots__ = ("cap", "since", "cur", "prev")

    def __init__(self, cap: int):
        self.cap = cap
        self.since: float | None = None
        self.cur: dict[Any, float] = {}
        self.prev: dict[Any, float] = {}

    def add(self, key: Any, amount: float = 1.0) -> None:
        cur = self.cur
        value = cur.get(key)
        if value is None:
            if len(cur) >= self.cap:
                return
            cur[key] = amount
        else:
            cur[key] = value + amount

    def rotate(self, now: float, window: float) -> None:
        if self.since is None:
            self.since = now
        elif now - self.since >= window:
            self.prev, self.cur, self.since = self.cur, {}, now

    def top(self, n: int) -> list[tuple[Any, float]]:
        merged = dict(self.prev)
        for key, value in self.cur.items():
            merged[key] = merged.get(key, 0.0) + value
        return sorted(merged.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def _port_number(name: str) -> int | None:
    """The last number in a port name (``Ethernet48`` → 48): how sFlow ifIndexes are matched to uplinks."""
    digits = ""
    for ch in reversed(name):
        if ch.isdigit():
            digits = ch + digits
        elif digits:
            break
    return int(digits) if digits else None


# -- snapshot layout -------------------------------------------------------------------------


class _PortRow(msgspec.Struct, array_like=True):
    device: str
    gnmi: bool
    port: str | int
    plane: int
    ts: float
    last: list[int | None]
    flood: float | None
    total: float | None


class _TopRow(msgspec.Struct, array_like=True):
    key: list[Any]
    count: float


class _TopState(msgspec.Struct, array_like=True):
    since: float | None
    cur: list[_TopRow]
    prev: list[_TopRow]


class _SeenRow(msgspec.Struct, array_like=True):
    """Inventory MACs last seen at one time (a whole table is refreshed at once, so rows are few)."""

    ts: float
    macs: list[str]


class _PlaneState(msgspec.Struct, kw_only=True):
    baseline: float | None = None
    uu_baseline: float | None = None
    last_fdb: float | None = None
    seen: list[_SeenRow] = []
    seen_other: dict[str, float] = {}
    buckets: list[list[float]] = []
    samplers: list[str] = []
    flood_sources: _TopState | None = None
    uu_sources: _TopState | None = None
    uu_ports: _TopState | None = None
    lifecycles: dict[str, Lifecycle] = {}
    onsets: dict[str, float] = {}
    rising_from: float | None = None
    unsettled: list[str] = []
    settle_until: float | None = None


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    next_tick: float | None
    ports: list[_PortRow]
    fdb_ts: dict[str, float]
    planes: dict[int, _PlaneState]


# -- the detector -------------------------------------------------------------------------


class FloodingDetector:
    """Broadcast/multicast floods and unknown-unicast floods per plane.

    Feed it :class:`PortCounters`, :class:`SflowCounterSample`, :class:`SflowFlowSample`,
    :class:`FdbSnapshot`, :class:`FdbChange` and :class:`Watermark` records; other records
    only advance the event clock, and findings (from an ensemble) are ignored.
    """

    name = KIND
    kinds = KINDS

    def __init__(self, inventory: Inventory, config: FloodingConfig | None = None):
        self.inventory = inventory
        self.config = cfg = config or FloodingConfig()
        self._hysteresis = Hysteresis(raise_hold=cfg.raise_hold, clear_hold=cfg.resolve_hold)
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        n = len(self._plane_ids)
        self._servers = [self._servers_on(p) for p in self._plane_ids]
        self._expected = [frozenset(inventory.expected_macs(p)) for p in self._plane_ids]
        self._clock: float | None = None
        self._next_tick: float | None = None
        self._switches: dict[str, _Switch | None] = {}
        self._plane_switches: list[list[_Switch]] = [[] for _ in range(n)]
        self._ports: dict[tuple[bool, str, str | int], _Port] = {}
        self._recent: deque[tuple[float, tuple[bool, str, str | int]]] = deque()
        self._flood = [0.0] * n
        self._total = [0.0] * n
        self._has_data = [False] * n
        self._baseline: list[float | None] = [None] * n
        self._rising_from: list[float | None] = [None] * n  # earliest start of a rising sample since the last assessment
        self._onset: dict[str, list[float | None]] = {kind: [None] * n for kind in _KINDS}
        # unknown unicast
        self._fdb_ts: dict[str, float] = {}
        self._last_fdb: list[float | None] = [None] * n
        self._seen: list[dict[str, float]] = [{} for _ in range(n)]
        self._seen_other: list[dict[str, float]] = [{} for _ in range(n)]
        self._refreshed: list[dict[int, float]] = [{} for _ in range(n)]  # table digest -> last refresh
        slots = max(1, math.ceil(cfg.window / cfg.interval))
        self._uu = [_Buckets(cfg.interval, slots) for _ in range(n)]
        self._uu_rate = [0.0] * n
        self._uu_samples = [0] * n
        self._uu_baseline: list[float | None] = [None] * n
        self._samplers: list[set[str]] = [set() for _ in range(n)]
        self._flood_sources = [_Top(cfg.max_tracked_macs) for _ in range(n)]
        self._uu_sources = [_Top(cfg.max_tracked_macs) for _ in range(n)]
        self._uu_ports = [_Top(cfg.max_tracked_macs) for _ in range(n)]
        self._unsettled: list[set[str]] = [set() for _ in range(n)]
        self._settle_until: list[float | None] = [None] * n
        self._lives: dict[str, list[Lifecycle]] = {kind: [Lifecycle() for _ in range(n)] for kind in _KINDS}
        self._handlers = {
            PortCounters: self._on_port_counters,
            SflowCounterSample: self._on_sflow_counters,
            SflowFlowSample: self._on_flow,
            FdbSnapshot: self._on_fdb_snapshot,
            FdbChange: self._on_fdb_change,
        }

    # -- public API ----------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        """Apply one record; once per ``interval`` of event time, assess every plane."""
        if isinstance(record, Finding):
            self._on_finding(record)
            return []
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        handler = self._handlers.get(type(record))
        if handler is not None:
            handler(record)
        if self._next_tick is None:
            self._next_tick = self._tick_after(ts)
            return []
        if self._clock < self._next_tick:
            return []
        self._next_tick = self._tick_after(self._clock)
        return self._assess()

    def rates(self, plane: int) -> dict[str, float | None]:
        """The current view of ``plane`` (for status pages and tests)."""
        i = self._index[plane]
        return {
            "flood_pps": self._flood[i],
            "total_pps": self._total[i],
            "baseline_pps": self._baseline[i],
            "threshold_pps": self._threshold(i),
            "unknown_unicast_pps": self._uu_rate[i],
        }

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        planes = {}
        for i, plane in enumerate(ids):
            planes[plane] = _PlaneState(
                baseline=self._baseline[i],
                uu_baseline=self._uu_baseline[i],
                last_fdb=self._last_fdb[i],
                seen=_group_seen(self._seen[i]),
                seen_other=self._seen_other[i],
                buckets=[[float(b), w, float(c)] for b, w, c in zip(self._uu[i].ids, self._uu[i].weight, self._uu[i].count)],
                samplers=sorted(self._samplers[i]),
                flood_sources=_dump_top(self._flood_sources[i]),
                uu_sources=_dump_top(self._uu_sources[i]),
                uu_ports=_dump_top(self._uu_ports[i]),
                lifecycles={kind: lives[i] for kind, lives in self._lives.items()},
                onsets={kind: o[i] for kind, o in self._onset.items() if o[i] is not None},
                rising_from=self._rising_from[i],
                unsettled=sorted(self._unsettled[i]),
                settle_until=self._settle_until[i],
            )
        state = _State(
            clock=self._clock,
            next_tick=self._next_tick,
            # sFlow ports of a switch measured by gNMI are left out: they only matter if gNMI stops,
            # and then they restart from their next sample.
            ports=[_PortRow(p.switch.name, p.gnmi, p.name, ids[p.switch.plane], p.ts, list(p.last), p.flood, p.total)
                   for p in self._ports.values() if p.gnmi or not p.switch.g_n],
            fdb_ts=dict(self._fdb_ts),
            planes=planes,
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: FloodingConfig | None, state: bytes) -> Self:
        """Rebuild a detector from :meth:`snapshot` bytes (planes no longer in ``inventory`` are dropped)."""
        saved = decode_state(state, KIND, _STATE_VERSION, _State)
        self = cls(inventory, config)
        index = self._index
        self._clock, self._next_tick = saved.clock, saved.next_tick
        for row in sorted(saved.ports, key=lambda r: r.ts):
            switch = self._switch(row.device, row.plane)
            if switch is None or row.plane not in index:
                continue
            port = self._ports[(row.gnmi, row.device, row.port)] = _Port(switch, row.gnmi, row.port, row.ts, tuple(row.last))
            self._apply(port, row.flood, row.total)
            self._recent.append((row.ts, (row.gnmi, row.device, row.port)))
        self._fdb_ts = dict(saved.fdb_ts)
        for plane, ps in saved.planes.items():
            if plane not in index:
                continue
            i = index[plane]
            self._baseline[i], self._uu_baseline[i], self._last_fdb[i] = ps.baseline, ps.uu_baseline, ps.last_fdb
            self._seen[i] = {mac: row.ts for row in ps.seen for mac in row.macs if mac in self._expected[i]}
            self._seen_other[i] = dict(itertools.islice(ps.seen_other.items(), self.config.max_tracked_macs))
            buckets = self._uu[i]
            for k, (b, w, c) in enumerate(ps.buckets[: len(buckets.ids)]):
                buckets.ids[k], buckets.weight[k], buckets.count[k] = int(b), w, int(c)
            self._samplers[i] = set(ps.samplers)
            _load_top(self._flood_sources[i], ps.flood_sources)
            _load_top(self._uu_sources[i], ps.uu_sources)
            _load_top(self._uu_ports[i], ps.uu_ports, tuple)
            for kind, life in ps.lifecycles.items():
                if kind in self._lives:
                    self._lives[kind][i] = life
            for kind, onset in ps.onsets.items():
                if kind in self._onset:
                    self._onset[kind][i] = onset
            self._rising_from[i] = ps.rising_from
            self._unsettled[i], self._settle_until[i] = set(ps.unsettled), ps.settle_until
        return self

    # -- helpers ---------------------------------------------------------------------
    def _servers_on(self, plane: int) -> int:
        """Servers with an address (or MAC) on ``plane``; the pod's server count when servers are not listed."""
        listed = 0
        for server in self.inventory.servers.values():
            keys = {*server.addresses, *server.macs}
            if any(self._plane_key(k) == plane for k in keys):
                listed += 1
        return listed or self.inventory.server_count

    def _plane_key(self, key: int | str) -> int | None:
        try:
            return self.inventory.plane_id(key)
        except KeyError:
            return None

    def _switch(self, device: str, record_plane: int) -> _Switch | None:
        """The switch called ``device`` (created on first sight); None if it maps to no plane."""
        switch = self._switches.get(device, False)
        if switch is not False:
            return switch  # type: ignore[return-value]
        inv = self.inventory.switches.get(device)
        i = self._index.get(self.inventory.plane_of_switch(device)) if inv else None
        if i is None:
            i = self._index.get(record_plane)
        if i is None:
            # An unmapped device: remembered as "no plane" only while the cache stays fabric-sized.
            if len(self._switches) < 4 * max(len(self.inventory.switches), 256):
                self._switches[device] = None
            return None
        made = _Switch(device, i, inv.rack if inv else None, bool(inv and inv.role == "tor"),
                       frozenset(inv.uplinks) if inv else frozenset())
        self._switches[device] = made
        self._plane_switches[i].append(made)
        return made

    def _tick_after(self, ts: float) -> float:
        interval = self.config.interval
        return (math.floor(ts / interval) + 1) * interval

    # -- counters ---------------------------------------------------------------------
    def _on_port_counters(self, r: PortCounters) -> None:
        switch = self._switch(r.device, r.plane)
        if switch is None or not switch.tor or r.port in switch.uplinks:
            return  # only server-facing ToR ports
        values = (r.in_broadcast_pkts, r.in_multicast_pkts, r.in_unicast_pkts)
        self._on_sample(switch, True, r.port, r.ts, values, self.config.max_port_pps)

    def _on_sflow_counters(self, r: SflowCounterSample) -> None:
        switch = self._switch(r.device, r.plane)
        if switch is None and (agent := self.inventory.switch_of_agent(r.agent)) is not None:
            switch = self._switch(agent.name, r.plane)
        if switch is None or not switch.tor or r.if_index in switch.uplink_ifs:
            return
        values = (r.in_bcast_pkts, r.in_mcast_pkts, r.in_ucast_pkts)
        max_rate = r.if_speed / _MIN_FRAME_BITS if r.if_speed else self.config.max_port_pps
        self._on_sample(switch, False, r.if_index, r.ts, values, max_rate)

    def _on_sample(self, switch: _Switch, gnmi: bool, name: str | int, ts: float,
                   values: tuple[int | None, int | None, int | None], max_rate: float) -> None:
        key = (gnmi, switch.name, name)
        port = self._ports.get(key)
        if port is None:
            port = self._ports[key] = _Port(switch, gnmi, name, ts, values)
            self._recent.append((ts, key))
            return
        then = port.ts
        if ts <= then:
            return  # duplicate or late sample: newer state already held
        bc, mc, uc = values
        last_bc, last_mc, last_uc = port.last
        if bc is None and mc is None:
            flood = None  # the device does not count broadcast/multicast: ignore the port
        else:
            # A reset (or, on gNMI's 64-bit counters, a "wrap", which can only be a reset)
            # has no rate: the port keeps its last known one.
            flood, fresh = 0.0, True
            for previous, current in ((last_bc, bc), (last_mc, mc)):
                if current is not None:
                    rate = counter_rate(previous, then, current, ts, max_rate=max_rate)
                    if rate.per_second is None or (gnmi and rate.event is _WRAP):
                        fresh = False
                        break
                    flood += rate.per_second
            if not fresh:
                flood = port.flood
        if flood is None or uc is None:
            total = None
        else:
            rate = counter_rate(last_uc, then, uc, ts, max_rate=max_rate)
            if rate.per_second is None or (gnmi and rate.event is _WRAP):
                total = port.total
            else:
                total = flood + rate.per_second
        if (flood is not None and (gnmi or not switch.g_n)
                and flood > max(2.0 * (port.flood or 0.0), self.config.floor_per_server_pps)):
            i = switch.plane
            rising = self._rising_from[i]
            if rising is None or then < rising:
                self._rising_from[i] = then  # this port's rate jumped over (then, ts]
        port.ts, port.last = ts, values
        if flood != port.flood or total != port.total:
            self._apply(port, flood, total)
        self._recent.append((ts, key))

    def _apply(self, port: _Port, flood: float | None, total: float | None) -> None:
        """Replace ``port``'s rates and keep its switch's sums in step (O(1))."""
        sw = port.switch
        d_n = (flood is not None) - (port.flood is not None)
        d_flood = (flood or 0.0) - (port.flood or 0.0)
        d_total = _total(flood, total) - _total(port.flood, port.total)
        if port.gnmi:
            sw.g_n += d_n
            sw.g_flood += d_flood
            sw.g_total += d_total
        else:
            sw.s_n += d_n
            sw.s_flood += d_flood
            sw.s_total += d_total
        port.flood, port.total = flood, total

    def _expire(self, now: float) -> None:
        """Ports silent for ``stale_after`` stop contributing (amortised O(1): one entry per sample)."""
        cutoff = now - self.config.stale_after
        recent, ports = self._recent, self._ports
        while recent and recent[0][0] < cutoff:
            ts, key = recent.popleft()
            port = ports.get(key)
            if port is not None and port.ts == ts and port.flood is not None:
                self._apply(port, None, None)

    # -- FDB and flow samples ------------------------------------------------------------
    def _on_fdb_snapshot(self, r: FdbSnapshot) -> None:
        switch = self._switch(r.device, r.plane)
        if switch is None:
            return
        last = self._fdb_ts.get(r.device)
        if last is not None and r.ts <= last:
            return
        self._fdb_ts[r.device] = r.ts
        i = switch.plane
        if self._last_fdb[i] is None or r.ts > self._last_fdb[i]:  # type: ignore[operator]
            self._last_fdb[i] = r.ts
        # Every switch of a plane holds nearly the same table: refresh a table content once
        # per third of the max age, however many switches report it (C-speed set work).
        digest = hash(tuple(r.macs))
        refreshed = self._refreshed[i]
        done = refreshed.get(digest)
        if done is not None and 0 <= r.ts - done < self.config.fdb_max_age / 3:
            return
        refreshed[digest] = r.ts
        if len(refreshed) > 4 * len(self._plane_switches[i]) + 16:
            cutoff = r.ts - self.config.fdb_max_age
            self._refreshed[i] = {d: t for d, t in refreshed.items() if t >= cutoff}
        known = self._expected[i].intersection(r.macs)
        self._seen[i].update(dict.fromkeys(known, r.ts))
        if len(known) < len(r.macs):
            others = set(r.macs).difference(known)
            self._remember_other(i, itertools.islice(others, self.config.max_tracked_macs), r.ts)

    def _remember_other(self, i: int, macs: Any, ts: float) -> None:
        seen, cap = self._seen_other[i], self.config.max_tracked_macs
        for mac in macs:
            if mac in seen or len(seen) < cap:
                if ts > seen.get(mac, -math.inf):
                    seen[mac] = ts
            else:
                cutoff = ts - self.config.fdb_max_age
                self._seen_other[i] = seen = {m: t for m, t in seen.items() if t >= cutoff}
                if len(seen) >= cap:
                    return  # full of fresh MACs: the rest count as absent (a leak is flooding anyway)
                seen[mac] = ts

    def _on_fdb_change(self, r: FdbChange) -> None:
        if r.change == "aged":
            return  # other switches may still hold it; absence is judged by age
        switch = self._switch(r.device, r.plane)
        if switch is None:
            return
        i = switch.plane
        if r.mac in self._expected[i]:
            if r.ts > self._seen[i].get(r.mac, -math.inf):
                self._seen[i][r.mac] = r.ts
        else:
            self._remember_other(i, (r.mac,), r.ts)

    def _on_flow(self, r: SflowFlowSample) -> None:
        clock = self._clock
        assert clock is not None
        if r.ts < clock - self.config.max_lateness:
            return
        switch = self._switch(r.device, r.plane)
        if switch is None:
            return
        i = switch.plane
        samplers = self._samplers[i]
        if r.device not in samplers and len(samplers) < len(self._switches) + 1:
            samplers.add(r.device)
        frame_class = r.frame_class
        if frame_class != "unicast":
            if frame_class in ("broadcast", "multicast"):
                self._flood_sources[i].add(r.src_mac)
            return
        if self._fdb_unsettled(i, r.ts) or self._fdb_holds(i, r.dst_mac, r.ts):
            return
        self._uu[i].add(r.ts, float(r.sampling_rate))
        self._uu_sources[i].add(r.src_mac)
        self._uu_ports[i].add((r.device, r.input_if), float(r.sampling_rate))

    def _on_finding(self, f: Finding) -> None:
        """A plane going down or coming back: its MAC tables (and our view of them) are in flux."""
        flipped = explanation_flipped(self._unsettled, self._index, self.config.fdb_unsettled_by, f)
        if flipped is not None and not flipped[1]:
            self._settle_until[flipped[0]] = f.ts + self.config.fdb_settle

    def _fdb_unsettled(self, i: int, ts: float) -> bool:
        until = self._settle_until[i]
        return bool(self._unsettled[i]) or (until is not None and ts < until)

    def _fdb_holds(self, i: int, mac: str, ts: float) -> bool:
        """Whether the plane's FDB holds ``mac`` at ``ts``; True (no verdict) while the FDB itself is unknown."""
        last = self._last_fdb[i]
        max_age = self.config.fdb_max_age
        if last is None or ts - last > max_age:
            return True
        seen = self._seen[i].get(mac)
        if seen is None:
            seen = self._seen_other[i].get(mac)
        return seen is not None and ts - seen <= max_age

    # -- assessment ------------------------------------------------------------------------
    def _threshold(self, i: int) -> float:
        """The flood rate (pps) at which plane ``i`` raises: floor, own baseline and peers, whichever is highest."""
        cfg = self.config
        floor = cfg.floor_per_server_pps * self._servers[i]
        base = cfg.baseline_multiple * (self._baseline[i] or 0.0)
        return max(floor, base, cfg.peer_multiple * self._peer_median(i))

    def _peer_median(self, i: int) -> float:
        others = [self._flood[j] for j in range(len(self._plane_ids)) if j != i and self._has_data[j]]
        return statistics.median(others) if others else 0.0

    def _uu_threshold(self, i: int) -> float:
        cfg = self.config
        return max(cfg.unknown_unicast_floor_pps, cfg.unknown_unicast_per_server_pps * self._servers[i],
                   cfg.baseline_multiple * (self._uu_baseline[i] or 0.0))

    def _assess(self) -> list[Finding]:
        cfg, now = self.config, self._clock
        assert now is not None
        self._expire(now)
        n = len(self._plane_ids)
        for i in range(n):
            has, flood, total = False, 0.0, 0.0
            for sw in self._plane_switches[i]:
                data, f, t = sw.contribution()
                if data:
                    has, flood, total = True, flood + f, total + t
            self._has_data[i], self._flood[i], self._total[i] = has, flood, total
            weight, samples = self._uu[i].totals(now)
            self._uu_rate[i] = weight / (cfg.window * max(1, len(self._samplers[i])))
            self._uu_samples[i] = samples
            for top in (self._flood_sources[i], self._uu_sources[i], self._uu_ports[i]):
                top.rotate(now, cfg.window)
        findings: list[Finding] = []
        for i in range(n):
            threshold = self._threshold(i)
            ratio = self._flood[i] / threshold if self._has_data[i] and threshold > 0 else 0.0
            band = Band(1.0, cfg.clear_ratio)
            findings += self._step(KIND, i, band.raising(ratio), band.clearing(ratio))
            if not self._lives[KIND][i].firing and self._lives[KIND][i].raising_since is None \
                    and self._has_data[i] and band.clearing(ratio):
                base = self._baseline[i]
                flood = self._flood[i]
                self._baseline[i] = flood if base is None else base + cfg.baseline_alpha * (flood - base)
            uu_threshold = self._uu_threshold(i)
            uu_ratio = self._uu_rate[i] / uu_threshold
            raising = band.raising(uu_ratio) and self._uu_samples[i] >= cfg.unknown_unicast_min_samples
            findings += self._step(UNKNOWN_UNICAST, i, raising, band.clearing(uu_ratio))
            life = self._lives[UNKNOWN_UNICAST][i]
            if not life.firing and life.raising_since is None and band.clearing(uu_ratio):
                base, rate = self._uu_baseline[i], self._uu_rate[i]
                self._uu_baseline[i] = rate if base is None else base + cfg.baseline_alpha * (rate - base)
            self._rising_from[i] = None
        return findings

    def _step(self, kind: str, i: int, raising: bool, clearing: bool) -> list[Finding]:
        now = self._clock
        assert now is not None
        life = self._lives[kind][i]
        onsets = self._onset[kind]
        if raising and life.raising_since is None and not life.firing:
            onsets[i] = self._first_interval(kind, i, now)
        transition = self._hysteresis.step(life, now, raising=raising, clearing=clearing)
        if transition is None:
            return []
        if transition is Transition.FIRE:
            life.started_at = min(now, onsets[i] if onsets[i] is not None else now)
            onsets[i] = None
        evidence = self._evidence(kind, i)
        plane = self._plane_ids[i]
        return [make_finding(kind=kind, plane=plane, transition=transition, life=life, ts=now,
                             severity=_SEVERITY[kind], summary=self._summary(kind, transition, i, evidence, life),
                             evidence=evidence)]

    def _first_interval(self, kind: str, i: int, now: float) -> float:
        """Start of the first interval over the threshold: the earliest counter interval (since the previous
        assessment) in which a port's flood rate jumped — doubled and above one server's floor — for
        flooding; the earliest bucket of the window for unknown unicast."""
        if kind == KIND:
            rising = self._rising_from[i]
            return rising if rising is not None else now - self.config.interval
        buckets = self._uu[i]
        newest = int(now // buckets.interval)
        live = [b for b, c in zip(buckets.ids, buckets.count) if c and newest - len(buckets.ids) < b <= newest]
        return min(live) * buckets.interval if live else now - self.config.interval

    # -- evidence ---------------------------------------------------------------------------
    def _evidence(self, kind: str, i: int) -> dict[str, Any]:
        cfg, ids = self.config, self._plane_ids
        others = {str(ids[j]): round(self._flood[j], 3) for j in range(len(ids)) if j != i and self._has_data[j]}
        common = {
            "plane_name": self.inventory.plane_name(ids[i]),
            "servers": self._servers[i],
        }
        if kind == KIND:
            total = self._total[i]
            ports = sorted(
                (p for p in self._ports.values()
                 if p.switch.plane == i and p.flood is not None and p.gnmi == bool(p.switch.g_n)),
                key=lambda p: (-(p.flood or 0.0), p.switch.name, str(p.name)),
            )
            racks: dict[str, float] = {}
            for p in ports:
                rack = p.switch.rack or p.switch.name
                racks[rack] = racks.get(rack, 0.0) + (p.flood or 0.0)
            return {
                **common,
                "flood_pps": round(self._flood[i], 3),
                "flood_share": round(self._flood[i] / total, 6) if total > 0 else None,
                "threshold_pps": round(self._threshold(i), 3),
                "floor_pps": round(cfg.floor_per_server_pps * self._servers[i], 3),
                "baseline_pps": None if self._baseline[i] is None else round(self._baseline[i], 3),  # type: ignore[arg-type]
                "other_planes_median_pps": round(self._peer_median(i), 3),
                "other_planes_pps": others,
                "ports_reporting": len(ports),
                "top_ports": [
                    {"switch": p.switch.name, "port": p.name, "rack": p.switch.rack, "pps": round(p.flood or 0.0, 3),
                     "source": "gnmi" if p.gnmi else "sflow"}
                    for p in ports[: cfg.top]
                ],
                "top_racks": [
                    {"rack": rack, "pps": round(pps, 3)}
                    for rack, pps in sorted(racks.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.top]
                ],
                "sampled_source_macs": self._macs(self._flood_sources[i]),
            }
        uu_others = [self._uu_rate[j] for j in range(len(ids)) if j != i]
        window = cfg.window
        return {
            **common,
            "unknown_unicast_pps": round(self._uu_rate[i], 3),
            "samples": self._uu_samples[i],
            "sampling_switches": len(self._samplers[i]),
            "threshold_pps": round(self._uu_threshold(i), 3),
            "baseline_pps": None if self._uu_baseline[i] is None else round(self._uu_baseline[i], 3),  # type: ignore[arg-type]
            "other_planes_median_pps": round(statistics.median(uu_others), 3) if uu_others else 0.0,
            "top_ports": [
                {"switch": device, "if_index": if_index, "rack": self._rack(device), "pps": round(weight / window, 3)}
                for (device, if_index), weight in self._uu_ports[i].top(cfg.top)
            ],
            "sampled_source_macs": self._macs(self._uu_sources[i]),
        }

    def _rack(self, device: str) -> str | None:
        switch = self.inventory.switches.get(device)
        return switch.rack if switch else None

    def _macs(self, top: _Top) -> list[dict[str, Any]]:
        return [{"mac": mac, "samples": int(count), "owner": self.inventory.owner_of_mac(mac)}
                for mac, count in top.top(self.config.example_macs)]

    def _summary(self, kind: str, transition: Transition, i: int, ev: dict[str, Any], life: Lifecycle) -> str:
        plane = self._plane_ids[i]
        head = f"plane {plane} ({ev['plane_name']})"
        if kind == KIND:
            where = ", ".join(f"{p['switch']}:{p['port']}" for p in ev["top_ports"][:3]) or "no port"
            facts = (f"{ev['flood_pps']:.0f} broadcast+multicast pps on server ports (raise level "
                     f"{ev['threshold_pps']:.0f}, other planes' median {ev['other_planes_median_pps']:.0f}); top: {where}")
            what = "floods"
        else:
            facts = (f"~{ev['unknown_unicast_pps']:.0f} unknown-unicast pps from {ev['samples']} samples "
                     f"(raise level {ev['threshold_pps']:.0f})")
            what = "floods unknown unicast"
        if transition is Transition.FIRE:
            return f"{head} {what}: {facts}"
        assert life.ended_at is not None
        return f"{head} stopped flooding after {life.ended_at - life.started_at:.0f}s: {facts}"


def _total(flood: float | None, total: float | None) -> float:
    """A port's packets per second for the share: its total when known, else its flood alone."""
    if total is not None:
        return total
    return flood or 0.0


def _group_seen(seen: dict[str, float]) -> list[_SeenRow]:
    groups: dict[float, list[str]] = {}
    for mac, ts in seen.items():
        groups.setdefault(ts, []).append(mac)
    return [_SeenRow(ts, macs) for ts, macs in groups.items()]


def _dump_top(top: _Top) -> _TopState:
    def rows(d: dict[Any, float]) -> list[_TopRow]:
        return [_TopRow(list(k) if isinstance(k, tuple) else [k], v) for k, v in d.items()]

    return _TopState(top.since, rows(top.cur), rows(top.prev))


def _load_top(top: _Top, saved: _TopState | None, key=None) -> None:
    if saved is None:
        return

    def keyed(row: _TopRow) -> Any:
        return tuple(row.key) if key is tuple else row.key[0]

    top.since = saved.since
    top.cur = {keyed(r): r.count for r in saved.cur[: top.cap]}
    top.prev = {keyed(r): r.count for r in saved.prev[: top.cap]}

"""MAC leaks and MAC moves: what a plane's MAC tables hold that a Calico fabric never should.

Calico routes at the server, so a plane's tables should hold about one MAC per server plus
the route reflectors and routers — exactly :meth:`Inventory.expected_macs`. Two findings:

``mac_leak`` (per plane)
    MACs in the plane's tables (from :class:`FdbSnapshot` and ``learned`` :class:`FdbChange`)
    that belong to no server, RR or router: a workload bridged onto the fabric (a VM on a
    Linux bridge instead of behind calico-node's routing, say). It fires when the plane
    holds more such MACs than ``max(min_unknown, unknown_fraction × expected MACs)`` — a
    couple may legitimately be missing from an inventory, a 20,000-server plane tolerates
    100 — **or** when one server-facing port has ``per_port_unknown`` of them behind it,
    which catches a slow leak from one server within seconds on a fabric of any size.
    ``started_at`` is when the current run of unknown MACs began (first seen, chained
    back while consecutive first sightings are less than ``onset_gap`` apart, so one
    long-standing stray MAC does not drag the start into last week).

``mac_move`` (per plane, one finding for the plane, not one per MAC)
    MAC moves — ``FdbChange`` ``moved``, or a MAC found on a different server-facing port
    of the same switch across snapshots — above ``max(move_floor_per_s, move_per_server_per_s
    × servers)`` over ``move_window``. A Calico server has exactly one link per plane, so a
    moving MAC means a loop (the typical storm symptom) or a flapping/duplicated port.

Memory is bounded by the fabric: per switch its size and its server-port entries (≈ one
per server), plus at most ``max_unknown_macs`` unknown MACs per plane (the count beyond
the cap is reported as a lower bound). An unchanged snapshot (same content as the switch's
previous one) costs one hash of its lists; a changed one is O(entries).
"""

from __future__ import annotations

import math
from collections import deque
from itertools import compress
from operator import not_ as _not
from typing import Any, Self

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas.records import FdbChange, FdbSnapshot, Finding, Record
from planewatch.streams.detector import (
    Hysteresis,
    Lifecycle,
    Transition,
    decode_state,
    encode_state,
    make_finding,
)

__all__ = ["KINDS", "MAC_LEAK", "MAC_MOVE", "MacLeakConfig", "MacLeakDetector"]

MAC_LEAK = "mac_leak"
MAC_MOVE = "mac_move"
KINDS = (MAC_LEAK, MAC_MOVE)
"""Finding kinds this detector raises."""
_KINDS = KINDS
_SEVERITY = {MAC_LEAK: "warning", MAC_MOVE: "critical"}
_STATE_VERSION = 1


class MacLeakConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds and timings of the MAC leak / move detector (event-time seconds)."""

    min_unknown: int = 2
    """A plane raises when it holds more than ``max(min_unknown, unknown_fraction × expected)`` MACs that
    are no server's, RR's or router's: a couple of strays (a switch's own MAC, a forgotten appliance)
    are tolerated."""
    unknown_fraction: float = 0.005
    """…scaled with the fabric: 0.5 % of the plane's expected MACs (100 on a 20,000-server plane)."""
    per_port_unknown: int = 4
    """Unknown MACs behind one server-facing port that raise on their own (a server port should hold
    exactly one MAC: its server's)."""
    clear_fraction: float = 0.5
    """The finding clears when the unknown count is at most this fraction of the bound (and no port holds
    half ``per_port_unknown``): the gap keeps a count hovering at the bound from flapping."""
    move_floor_per_s: float = 0.2
    """MAC moves per second (over ``move_window``) that raise ``mac_move``; healthy Calico planes see none."""
    move_per_server_per_s: float = 1e-4
    """…scaled with the fabric (20,000 servers: 2 moves/s), whichever is higher."""
    move_window: float = 30.0
    """Window over which moves are counted (also the evidence's 'recent' period)."""
    interval: float = 5.0
    """How often (event time) the planes are assessed."""
    raise_hold: float = 10.0
    """The raise condition must hold this long before a finding fires."""
    resolve_hold: float = 60.0
    """The clear condition must hold this long before a finding resolves (tables age out slowly)."""
    onset_gap: float = 120.0
    """Unknown MACs first seen less than this apart belong to the same leak (for ``started_at``)."""
    max_lateness: float = 30.0
    """Changes older than the clock minus this no longer count as moves (their window is judged)."""
    max_unknown_macs: int = 4096
    """Per plane cap on tracked unknown MACs (bounds memory; beyond it counts are lower bounds)."""
    max_movers: int = 1024
    """Per plane cap on distinct MACs / port pairs remembered for the move evidence."""
    top: int = 5
    """How many switches, ports, MACs or port pairs the evidence lists."""
    example_macs: int = 10
    """How many example unknown MACs the evidence lists."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("min_unknown", "per_port_unknown", "max_unknown_macs", "max_movers", "top", "example_macs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("unknown_fraction", "move_per_server_per_s", "raise_hold", "resolve_hold", "max_lateness"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("move_floor_per_s", "move_window", "interval", "onset_gap"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0")
        if not 0 <= self.clear_fraction < 1:
            problems.append(f"clear_fraction ({self.clear_fraction}) must be in [0, 1)")
        if self.move_window < self.interval:
            problems.append(f"move_window ({self.move_window}) must be >= interval ({self.interval})")
        if problems:
            raise ValueError("invalid MacLeakConfig: " + "; ".join(problems))


# -- live state --------------------------------------------------------------------------


class _Switch:
    """One switch's view: table size, server-port entries of inventory MACs, and its unknown MACs."""

    __slots__ = ("name", "plane", "tor", "uplinks", "ts", "digest", "size", "local", "unknown")

    def __init__(self, name: str, plane: int, tor: bool, uplinks: frozenset[str]):
        self.name, self.plane, self.tor, self.uplinks = name, plane, tor, uplinks
        self.ts: float | None = None
        self.digest: int | None = None
        self.size = 0
        self.local: dict[str, str] = {}
        """Inventory MAC -> server-facing port it is learned on (ToRs only)."""
        self.unknown: dict[str, str] = {}
        """Tracked unknown MAC -> port it is learned on."""

    def server_port(self, port: str) -> bool:
        return self.tor and port not in self.uplinks


class _Unknown:
    __slots__ = ("first_seen", "holders", "home")

    def __init__(self, first_seen: float):
        self.first_seen = first_seen
        self.holders = 0
        self.home: tuple[str, str] | None = None
        """(switch, server-facing port) where it entered the fabric, when known."""


class _Plane:
    """Per plane: tracked unknown MACs, their homes, count history, and recent moves."""

    __slots__ = ("unknown", "homes", "refused", "history", "move_ids", "move_counts", "move_first",
                 "movers", "movers_prev", "pairs", "pairs_prev", "rotated")

    def __init__(self, slots: int):
        self.unknown: dict[str, _Unknown] = {}
        self.homes: dict[tuple[str, str], int] = {}
        self.refused = 0
        """Unknown MACs not tracked because the cap was reached (since the count last fell below it)."""
        self.history: deque[tuple[float, int]] = deque()
        self.move_ids = [-1] * slots
        self.move_counts = [0] * slots
        self.move_first = [0.0] * slots
        self.movers: dict[str, list[Any]] = {}
        self.movers_prev: dict[str, list[Any]] = {}
        self.pairs: dict[tuple[str, str, str], int] = {}
        self.pairs_prev: dict[tuple[str, str, str], int] = {}
        self.rotated: float | None = None


# -- snapshot layout -------------------------------------------------------------------------


class _SwitchRow(msgspec.Struct, array_like=True):
    device: str
    plane: int
    ts: float | None
    size: int
    local: dict[str, str]
    unknown: dict[str, str]


class _UnknownRow(msgspec.Struct, array_like=True):
    mac: str
    first_seen: float
    home: list[str] | None


class _MoverRow(msgspec.Struct, array_like=True):
    mac: str
    count: int
    device: str
    previous: str
    port: str


class _PairRow(msgspec.Struct, array_like=True):
    device: str
    a: str
    b: str
    count: int


class _PlaneState(msgspec.Struct, kw_only=True):
    unknown: list[_UnknownRow] = []
    refused: int = 0
    history: list[list[float]] = []
    moves: list[list[float]] = []
    movers: list[_MoverRow] = []
    movers_prev: list[_MoverRow] = []
    pairs: list[_PairRow] = []
    pairs_prev: list[_PairRow] = []
    rotated: float | None = None
    lifecycles: dict[str, Lifecycle] = {}


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    next_tick: float | None
    switches: list[_SwitchRow]
    planes: dict[int, _PlaneState]


# -- the detector -------------------------------------------------------------------------


class MacLeakDetector:
    """Unknown MACs (leaks) and MAC moves per plane, from FDB snapshots and changes.

    Feed it :class:`FdbSnapshot`, :class:`FdbChange` and :class:`Watermark` records; other
    records only advance the event clock, and findings (from an ensemble) are ignored.
    A plane whose inventory lists no MACs at all cannot be judged for leaks (every MAC
    would be unknown) and never raises ``mac_leak``; moves are judged regardless.
    """

    name = MAC_LEAK
    kinds = KINDS

    def __init__(self, inventory: Inventory, config: MacLeakConfig | None = None):
        self.inventory = inventory
        self.config = cfg = config or MacLeakConfig()
        self._hysteresis = Hysteresis(raise_hold=cfg.raise_hold, clear_hold=cfg.resolve_hold)
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        n = len(self._plane_ids)
        self._expected = [frozenset(inventory.expected_macs(p)) for p in self._plane_ids]
        self._servers = [self._servers_on(p) for p in self._plane_ids]
        self._clock: float | None = None
        self._next_tick: float | None = None
        self._switches: dict[str, _Switch | None] = {}
        self._slots = max(1, math.ceil(cfg.move_window / cfg.interval))
        self._planes = [_Plane(self._slots) for _ in range(n)]
        self._lives: dict[str, list[Lifecycle]] = {kind: [Lifecycle() for _ in range(n)] for kind in _KINDS}

    # -- public API ----------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        """Apply one record; once per ``interval`` of event time, assess every plane."""
        kind = type(record)
        if kind is Finding:
            return []
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        if kind is FdbSnapshot:
            self._on_snapshot(record)  # type: ignore[arg-type]
        elif kind is FdbChange:
            self._on_change(record)  # type: ignore[arg-type]
        if self._next_tick is None:
            self._next_tick = self._tick_after(ts)
            return []
        if self._clock < self._next_tick:
            return []
        self._next_tick = self._tick_after(self._clock)
        return self._assess()

    def unknown_macs(self, plane: int) -> dict[str, tuple[str, str] | None]:
        """Tracked unknown MACs of ``plane`` and the (switch, server port) each entered on (for tests and status)."""
        return {mac: u.home for mac, u in self._planes[self._index[plane]].unknown.items()}

    def bound(self, plane: int) -> float:
        """Unknown MACs ``plane`` may hold before ``mac_leak`` raises."""
        i = self._index[plane]
        return max(float(self.config.min_unknown), self.config.unknown_fraction * len(self._expected[i]))

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        planes = {}
        for i, plane in enumerate(ids):
            p = self._planes[i]
            planes[plane] = _PlaneState(
                unknown=[_UnknownRow(mac, u.first_seen, list(u.home) if u.home else None) for mac, u in p.unknown.items()],
                refused=p.refused,
                history=[[t, float(c)] for t, c in p.history],
                moves=[[float(b), float(c), f] for b, c, f in zip(p.move_ids, p.move_counts, p.move_first)],
                movers=[_MoverRow(mac, *v) for mac, v in p.movers.items()],
                movers_prev=[_MoverRow(mac, *v) for mac, v in p.movers_prev.items()],
                pairs=[_PairRow(*k, v) for k, v in p.pairs.items()],
                pairs_prev=[_PairRow(*k, v) for k, v in p.pairs_prev.items()],
                rotated=p.rotated,
                lifecycles={kind: lives[i] for kind, lives in self._lives.items()},
            )
        state = _State(
            clock=self._clock,
            next_tick=self._next_tick,
            switches=[_SwitchRow(s.name, ids[s.plane], s.ts, s.size, s.local, s.unknown)
                      for s in self._switches.values() if s is not None],
            planes=planes,
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: MacLeakConfig | None, state: bytes) -> Self:
        """Rebuild a detector from :meth:`snapshot` bytes (planes no longer in ``inventory`` are dropped)."""
        saved = decode_state(state, MAC_LEAK, _STATE_VERSION, _State)
        self = cls(inventory, config)
        index = self._index
        self._clock, self._next_tick = saved.clock, saved.next_tick
        for plane, ps in saved.planes.items():
            if plane not in index:
                continue
            p = self._planes[index[plane]]
            for row in ps.unknown[: self.config.max_unknown_macs]:
                u = p.unknown[row.mac] = _Unknown(row.first_seen)
                if row.home:
                    u.home = (row.home[0], row.home[1])
                    p.homes[u.home] = p.homes.get(u.home, 0) + 1
            p.refused = ps.refused
            p.history.extend((t, int(c)) for t, c in ps.history)
            for k, (b, c, f) in enumerate(ps.moves[: self._slots]):
                p.move_ids[k], p.move_counts[k], p.move_first[k] = int(b), int(c), f
            p.movers = {r.mac: [r.count, r.device, r.previous, r.port] for r in ps.movers}
            p.movers_prev = {r.mac: [r.count, r.device, r.previous, r.port] for r in ps.movers_prev}
            p.pairs = {(r.device, r.a, r.b): r.count for r in ps.pairs}
            p.pairs_prev = {(r.device, r.a, r.b): r.count for r in ps.pairs_prev}
            p.rotated = ps.rotated
            for kind, life in ps.lifecycles.items():
                if kind in self._lives:
                    self._lives[kind][index[plane]] = life
        for row in saved.switches:
            switch = self._switch(row.device, row.plane)
            if switch is None:
                continue
            switch.ts, switch.size, switch.local = row.ts, row.size, dict(row.local)
            tracked = self._planes[switch.plane].unknown
            for mac, port in row.unknown.items():
                if mac in tracked:
                    switch.unknown[mac] = port
                    tracked[mac].holders += 1
        for p in self._planes:
            for mac in [m for m, u in p.unknown.items() if u.holders <= 0]:
                self._forget(p, mac)
        return self

    # -- helpers ---------------------------------------------------------------------
    def _servers_on(self, plane: int) -> int:
        listed = 0
        for server in self.inventory.servers.values():
            for key in (*server.addresses, *server.macs):
                try:
                    if self.inventory.plane_id(key) == plane:
                        listed += 1
                        break
                except KeyError:
                    continue
        return listed or self.inventory.server_count

    def _switch(self, device: str, record_plane: int) -> _Switch | None:
        switch = self._switches.get(device, False)
        if switch is not False:
            return switch  # type: ignore[return-value]
        inv = self.inventory.switches.get(device)
        i = self._index.get(self.inventory.plane_of_switch(device)) if inv else None
        if i is None:
            i = self._index.get(record_plane)
        if i is None:
            if len(self._switches) < 4 * max(len(self.inventory.switches), 256):
                self._switches[device] = None
            return None
        made = _Switch(device, i, bool(inv and inv.role == "tor"), frozenset(inv.uplinks) if inv else frozenset())
        self._switches[device] = made
        return made

    def _tick_after(self, ts: float) -> float:
        interval = self.config.interval
        return (math.floor(ts / interval) + 1) * interval

    # -- unknown MAC bookkeeping -------------------------------------------------------------
    def _hold(self, switch: _Switch, mac: str, port: str, ts: float) -> None:
        """``switch`` holds unknown ``mac`` on ``port`` (first sighting, or a port change = a move)."""
        p = self._planes[switch.plane]
        held = switch.unknown.get(mac)
        if held is not None:
            if held != port:
                switch.unknown[mac] = port
                self._move(switch, mac, held, port, ts)
                self._set_home(p, mac, switch, port)
            return
        u = p.unknown.get(mac)
        if u is None:
            if len(p.unknown) >= self.config.max_unknown_macs:
                p.refused += 1
                return
            u = p.unknown[mac] = _Unknown(ts)
        elif ts < u.first_seen:
            u.first_seen = ts
        u.holders += 1
        switch.unknown[mac] = port
        self._set_home(p, mac, switch, port)

    def _set_home(self, p: _Plane, mac: str, switch: _Switch, port: str) -> None:
        if not switch.server_port(port):
            return
        u = p.unknown[mac]
        home = (switch.name, port)
        if u.home == home:
            return
        if u.home is not None:
            self._unhome(p, u.home)
        u.home = home
        p.homes[home] = p.homes.get(home, 0) + 1

    @staticmethod
    def _unhome(p: _Plane, home: tuple[str, str]) -> None:
        left = p.homes.get(home, 0) - 1
        if left > 0:
            p.homes[home] = left
        else:
            p.homes.pop(home, None)

    def _release(self, switch: _Switch, mac: str) -> None:
        """``switch`` no longer holds unknown ``mac``."""
        if switch.unknown.pop(mac, None) is None:
            return
        p = self._planes[switch.plane]
        u = p.unknown.get(mac)
        if u is None:
            return
        u.holders -= 1
        if u.holders <= 0:
            self._forget(p, mac)

    def _forget(self, p: _Plane, mac: str) -> None:
        u = p.unknown.pop(mac)
        if u.home is not None:
            self._unhome(p, u.home)
        if len(p.unknown) < self.config.max_unknown_macs // 2:
            p.refused = 0

    # -- moves ---------------------------------------------------------------------------------
    def _move(self, switch: _Switch, mac: str, previous: str, port: str, ts: float) -> None:
        clock = self._clock
        if clock is not None and ts < clock - self.config.max_lateness:
            return
        p = self._planes[switch.plane]
        b = int(ts // self.config.interval)
        k = b % self._slots
        if p.move_ids[k] != b:
            if p.move_ids[k] > b:
                return
            p.move_ids[k], p.move_counts[k], p.move_first[k] = b, 0, ts
        p.move_counts[k] += 1
        if ts < p.move_first[k]:
            p.move_first[k] = ts
        cap = self.config.max_movers
        mover = p.movers.get(mac)
        if mover is not None:
            mover[0] += 1
            mover[1:] = [switch.name, previous, port]
        elif len(p.movers) < cap:
            p.movers[mac] = [1, switch.name, previous, port]
        pair = (switch.name, *sorted((previous, port)))
        if pair in p.pairs:
            p.pairs[pair] += 1  # type: ignore[index]
        elif len(p.pairs) < cap:
            p.pairs[pair] = 1  # type: ignore[index]

    def _moves(self, i: int, now: float) -> tuple[int, float | None]:
        """Moves of plane ``i`` in the window ending at ``now``, and the earliest one's time."""
        p = self._planes[i]
        newest = int(now // self.config.interval)
        oldest = newest - self._slots + 1
        count, first = 0, None
        for b, c, f in zip(p.move_ids, p.move_counts, p.move_first):
            if oldest <= b <= newest and c:
                count += c
                first = f if first is None else min(first, f)
        return count, first

    # -- records -----------------------------------------------------------------------------
    def _on_snapshot(self, r: FdbSnapshot) -> None:
        switch = self._switch(r.device, r.plane)
        if switch is None or (switch.ts is not None and r.ts <= switch.ts):
            return
        switch.ts = r.ts
        macs, ports = r.macs, r.ports
        digest = hash((len(macs), hash(tuple(macs)), hash(tuple(ports))))
        if digest == switch.digest:
            return  # the same table as last time: nothing to learn
        switch.digest = digest
        switch.size = len(macs)
        expected = self._expected[switch.plane]
        unknown = set() if expected.issuperset(macs) else set(macs).difference(expected)
        if unknown or switch.unknown:
            for mac in [m for m in switch.unknown if m not in unknown]:
                self._release(switch, mac)
            if unknown:
                where = dict(zip(macs, ports))
                for mac in unknown:
                    self._hold(switch, mac, where[mac], r.ts)
        if switch.tor:
            # Entries on server-facing ports, selected at C speed (a ToR's table is mostly uplink entries).
            local = switch.local
            facing = list(map(_not, map(switch.uplinks.__contains__, ports)))
            fresh = {m: p for m, p in zip(compress(macs, facing), compress(ports, facing)) if m in expected}
            for mac, port in fresh.items():
                before = local.get(mac)
                if before is not None and before != port:
                    self._move(switch, mac, before, port, r.ts)
            switch.local = fresh

    def _on_change(self, r: FdbChange) -> None:
        switch = self._switch(r.device, r.plane)
        if switch is None:
            return
        mac, port, change = r.mac, r.port, r.change
        known = mac in self._expected[switch.plane]
        if change == "moved":
            # A move is an event in its own right: counted even when a newer snapshot is held.
            previous = r.previous_port
            if previous is None:
                previous = switch.local.get(mac) if known else switch.unknown.get(mac)
            self._move(switch, mac, previous or "?", port, r.ts)
        if switch.ts is not None and r.ts < switch.ts:
            return  # the switch's newer snapshot already says where things are
        if change == "aged":
            switch.size = max(0, switch.size - 1)
            if known:
                switch.local.pop(mac, None)
            else:
                self._release(switch, mac)
            return
        if change == "learned":
            switch.size += 1
        elif change != "moved":
            return
        if known:
            if switch.server_port(port):
                switch.local[mac] = port
            else:
                switch.local.pop(mac, None)
        elif change == "moved" and mac in switch.unknown:
            switch.unknown[mac] = port  # the move is counted above
            self._set_home(self._planes[switch.plane], mac, switch, port)
        else:
            self._hold(switch, mac, port, r.ts)

    # -- assessment ------------------------------------------------------------------------
    def _move_threshold(self, i: int) -> float:
        cfg = self.config
        return max(cfg.move_floor_per_s, cfg.move_per_server_per_s * self._servers[i])

    def _assess(self) -> list[Finding]:
        cfg, now = self.config, self._clock
        assert now is not None
        findings: list[Finding] = []
        for i, p in enumerate(self._planes):
            if p.rotated is None:
                p.rotated = now
            elif now - p.rotated >= cfg.move_window:
                p.movers_prev, p.movers, p.pairs_prev, p.pairs, p.rotated = p.movers, {}, p.pairs, {}, now
            count = len(p.unknown)
            p.history.append((now, count))
            while p.history and now - p.history[0][0] > 60.0 + cfg.interval:
                p.history.popleft()
            if self._expected[i]:
                bound = self.bound(self._plane_ids[i])
                worst_port = max(p.homes.values(), default=0)
                raising = count > bound or worst_port >= cfg.per_port_unknown
                clearing = count <= math.floor(bound * cfg.clear_fraction) and worst_port < cfg.per_port_unknown / 2
                findings += self._step(MAC_LEAK, i, raising, clearing)
            moves, _ = self._moves(i, now)
            rate = moves / cfg.move_window
            threshold = self._move_threshold(i)
            findings += self._step(MAC_MOVE, i, rate >= threshold, rate < cfg.clear_fraction * threshold)
        return findings

    def _step(self, kind: str, i: int, raising: bool, clearing: bool) -> list[Finding]:
        now = self._clock
        assert now is not None
        life = self._lives[kind][i]
        transition = self._hysteresis.step(life, now, raising=raising, clearing=clearing)
        if transition is None:
            return []
        if transition is Transition.FIRE:
            life.started_at = self._onset(kind, i, now)
        evidence = self._leak_evidence(i) if kind == MAC_LEAK else self._move_evidence(i)
        return [make_finding(kind=kind, plane=self._plane_ids[i], transition=transition, life=life, ts=now,
                             severity=_SEVERITY[kind], summary=self._summary(kind, transition, i, evidence, life),
                             evidence=evidence)]

    def _onset(self, kind: str, i: int, now: float) -> float:
        """Event time the fault began (runs once per fault: O(tracked MACs))."""
        if kind == MAC_MOVE:
            _, first = self._moves(i, now)
            return min(first, now) if first is not None else now
        times = sorted((u.first_seen for u in self._planes[i].unknown.values()), reverse=True)
        if not times:
            return now
        start = times[0]
        for t in times[1:]:
            if start - t > self.config.onset_gap:
                break
            start = t
        return min(start, now)

    # -- evidence ---------------------------------------------------------------------------
    def _server_behind(self, device: str, port: str) -> str | None:
        switch = self._switches.get(device)
        if not switch:
            return None
        for mac, where in switch.local.items():
            if where == port:
                return self.inventory.owner_of_mac(mac)
        return None

    def _leak_evidence(self, i: int) -> dict[str, Any]:
        cfg, p, now = self.config, self._planes[i], self._clock
        assert now is not None
        plane = self._plane_ids[i]
        count = len(p.unknown)
        # Net change per minute over the last minute, or since the leak began if that is later.
        since = self._lives[MAC_LEAK][i].started_at
        then_ts, then = next(((t, c) for t, c in p.history if t >= since), (now, count))
        growth = (count - then) / (now - then_ts) * 60.0 if now > then_ts else 0.0
        recent = sum(1 for u in p.unknown.values() if u.first_seen > now - 60.0)
        switches: dict[str, int] = {}
        sizes = []
        for s in self._switches.values():
            if s is not None and s.plane == i:
                sizes.append((s.size, s.name))
                if s.unknown:
                    switches[s.name] = len(s.unknown)
        largest = max(sizes, default=(0, None))
        newest = sorted(p.unknown.items(), key=lambda kv: (-kv[1].first_seen, kv[0]))[: cfg.example_macs]
        return {
            "plane_name": self.inventory.plane_name(plane),
            "unknown_macs": count,
            "unknown_macs_capped": p.refused > 0,
            "bound": self.bound(plane),
            "expected_macs": len(self._expected[i]),
            "largest_table": largest[0],
            "largest_table_switch": largest[1],
            "growth_per_minute": round(growth, 2),
            "new_in_last_minute": recent,
            "top_ports": [
                {"switch": dev, "port": port, "unknown_macs": n, "server": self._server_behind(dev, port)}
                for (dev, port), n in sorted(p.homes.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.top]
            ],
            "top_switches": [
                {"switch": name, "unknown_macs": n}
                for name, n in sorted(switches.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.top]
            ],
            "example_macs": [mac for mac, _ in newest],
        }

    def _move_evidence(self, i: int) -> dict[str, Any]:
        cfg, p, now = self.config, self._planes[i], self._clock
        assert now is not None
        moves, _ = self._moves(i, now)
        movers: dict[str, list[Any]] = {mac: list(v) for mac, v in p.movers_prev.items()}
        for mac, v in p.movers.items():
            if mac in movers:
                movers[mac][0] += v[0]
                movers[mac][1:] = v[1:]
            else:
                movers[mac] = list(v)
        pairs = dict(p.pairs_prev)
        for key, n in p.pairs.items():
            pairs[key] = pairs.get(key, 0) + n
        return {
            "plane_name": self.inventory.plane_name(self._plane_ids[i]),
            "moves": moves,
            "moves_per_second": round(moves / cfg.move_window, 3),
            "threshold_per_second": round(self._move_threshold(i), 3),
            "window_seconds": cfg.move_window,
            "moving_macs": len(movers),
            "top_macs": [
                {"mac": mac, "moves": v[0], "owner": self.inventory.owner_of_mac(mac),
                 "switch": v[1], "from": v[2], "to": v[3]}
                for mac, v in sorted(movers.items(), key=lambda kv: (-kv[1][0], kv[0]))[: cfg.top]
            ],
            "top_port_pairs": [
                {"switch": dev, "ports": [a, b], "moves": n}
                for (dev, a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.top]
            ],
        }

    def _summary(self, kind: str, transition: Transition, i: int, ev: dict[str, Any], life: Lifecycle) -> str:
        head = f"plane {self._plane_ids[i]} ({ev['plane_name']})"
        if kind == MAC_LEAK:
            where = ", ".join(
                f"{t['switch']}:{t['port']}" + (f" ({t['server']})" if t["server"] else "") for t in ev["top_ports"][:3]
            ) or "unknown ports"
            facts = (f"{ev['unknown_macs']} MACs that are no server's, RR's or router's (bound {ev['bound']:g}, "
                     f"{ev['growth_per_minute']:+.0f}/min), learned behind {where}")
            what = "leaks MACs"
        else:
            top = ev["top_macs"][0]["mac"] if ev["top_macs"] else "?"
            facts = (f"{ev['moves']} MAC moves in {ev['window_seconds']:g}s of {ev['moving_macs']} MACs "
                     f"(raise level {ev['threshold_per_second']:g}/s), e.g. {top}")
            what = "MACs are moving (loop or flapping port)"
        if transition is Transition.FIRE:
            return f"{head} {what}: {facts}"
        assert life.ended_at is not None
        return f"{head} recovered after {life.ended_at - life.started_at:.0f}s: {facts}"

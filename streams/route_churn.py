"""Route churn: BGP that moves more than servers coming and going explains — per plane, per server.

Calico's BIRD at every server peers with each plane's route reflectors. In a healthy pod the
only churn is servers, switches and links coming and going: the Calico note's ~2,000
events a *day* for 20,000 servers, i.e. ``churn_per_server_per_day`` = 0.1. This detector
raises three kinds:

* ``route_churn`` (per plane, subject ``""``): over a sliding ``window`` of event time, the
  plane's session transitions (Established ↔ not, from :class:`BgpSession`) plus its import
  updates + withdraws per session (from :class:`BgpRouteCounters` deltas; a plane-wide route
  change reaches every session once, so per session it counts once) exceed
  ``events_multiple`` × the fabric-size baseline, **and** come from at least
  ``servers_multiple`` × baseline distinct servers (never fewer than ``min_servers``),
  **and** are ``others_ratio`` × the other planes' median. The distinct-server gate is
  what makes one noisy server a ``session_flap`` rather than a churning plane; the
  comparison with the other planes keeps servers rebooting (which churn every plane
  alike) from being blamed on one plane.
* ``session_flap`` (subject = the server): one of the server's sessions on the plane made
  ``flap_transitions`` up/down transitions within ``flap_window`` (default 3 in 5 min) —
  a one-time down/up (a reboot, a plane failure) never does. Not raised while as many
  servers flap on the plane as make it churn (that is one ``route_churn``, not N flaps).
* ``route_divergence`` (per plane): the median ``routes_imported`` over the plane's
  Established sessions differs from the median of the other planes' medians by more than
  ``divergence_tolerance`` (a partial blackhole: the plane's RRs lost routes). With only two
  planes in N just the plane with fewer routes is blamed.

A plane with a firing ``plane_failure`` / ``plane_degraded`` finding (fed back by the
ensemble) is a failed plane, not a churning one: its window is emptied when the failure
fires, nothing it does counts until ``failure_grace`` after the failure resolves, and a
firing ``route_churn`` of it is resolved at once as explained.

State is bounded by the fabric: per session a few numbers and its last
``flap_transitions`` transition times; per plane a ring of ``buckets`` time buckets (not a
list of events) and a histogram of route counts. A record costs O(1); the lifecycles are
judged every ``evaluate_interval`` (O(planes × buckets + flapping servers)), the route-count
medians every ``divergence_interval``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Self

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Finding, Record, Watermark
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

__all__ = ["CHURN_KIND", "DIVERGENCE_KIND", "FLAP_KIND", "KINDS", "RouteChurnConfig", "RouteChurnDetector"]

CHURN_KIND = "route_churn"
FLAP_KIND = "session_flap"
DIVERGENCE_KIND = "route_divergence"
KINDS = (CHURN_KIND, FLAP_KIND, DIVERGENCE_KIND)
_STATE_VERSION = 1
_DAY = 86_400.0


class RouteChurnConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds and timings of the route-churn detector (event-time seconds).

    Absolute thresholds scale with the fabric: ``baseline = churn_per_server_per_day ×
    servers × window / 1 day`` expected churning servers per window (20,000 servers, 5 min:
    6.9), and each threshold is a generous multiple of it with a floor for small fabrics.
    """

    window: float = 300.0
    """Sliding event-time window of the churn counts."""
    buckets: int = 30
    """The window is a ring of this many buckets (10 s each by default)."""
    churn_per_server_per_day: float = 0.1
    """Normal churn (Calico note: ~2,000 events/day for 20,000 servers)."""
    servers_multiple: float = 10.0
    """Distinct churning servers in the window must reach this multiple of the baseline …"""
    min_servers: int = 5
    """… and never fewer than this many (one noisy server is a session_flap, not plane churn)."""
    events_multiple: float = 10.0
    """Transitions + import updates/withdraws per session in the window must reach this multiple of the baseline …"""
    min_events: float = 20.0
    """… and never fewer than this many."""
    others_ratio: float = 3.0
    """… and this multiple of the median of the other planes' events (churn on every plane alike is not one plane's)."""
    clear_fraction: float = 0.5
    """Churn clears when events or servers fall below this fraction of their thresholds."""
    raise_hold: float = 50.0
    """The churn condition must hold this long before ``route_churn`` fires: longer than
    ``plane_degraded``'s 40 s hold, so a third of a plane's servers losing it at once is
    reported as a degraded plane (which then explains the churn), not as churn."""
    resolve_hold: float = 60.0
    """A clear condition must hold this long before a finding resolves."""
    flap_transitions: int = 3
    """A session flaps when it made this many up/down transitions …"""
    flap_window: float = 300.0
    """… within this many seconds."""
    flap_quiet: float = 120.0
    """A server whose sessions made no transition for this long has stopped flapping."""
    divergence_tolerance: float = 0.05
    """A plane's median routes_imported this fraction away from the other planes' raises ``route_divergence``."""
    divergence_clear: float = 0.025
    """… and back within this fraction clears it."""
    min_divergence_routes: int = 3
    """Differences smaller than this many routes never count (tiny fabrics, churn in flight)."""
    divergence_hold: float = 60.0
    """The divergence must hold this long before it fires (route counts converge within seconds)."""
    divergence_interval: float = 10.0
    """How often the per-plane route-count medians are computed."""
    min_sessions: int = 3
    """A plane needs this many Established sessions reporting route counts to be compared."""
    evaluate_interval: float = 1.0
    """How often (event time) churn and flap lifecycles are judged; Watermarks also judge them."""
    failure_grace: float = 60.0
    """After a plane failure resolves, the plane's BGP is not counted for this long (sessions re-sync)."""
    explained_by: tuple[str, ...] = ("plane_failure", "plane_degraded")
    """Finding kinds that, while firing for a plane, explain its BGP activity."""
    top: int = 10
    """How many servers / sessions the evidence lists."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("window", "flap_window", "evaluate_interval", "divergence_interval"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        if self.buckets < 2:
            problems.append("buckets must be >= 2")
        if self.flap_transitions < 2:
            problems.append("flap_transitions must be >= 2 (one down/up is not a flap)")
        if self.min_servers < 2:
            problems.append("min_servers must be >= 2 (one server is a flap, not plane churn)")
        if not 0 < self.clear_fraction < 1:
            problems.append("clear_fraction must be in (0, 1)")
        if not 0 < self.divergence_clear <= self.divergence_tolerance:
            problems.append("need 0 < divergence_clear <= divergence_tolerance")
        for name in ("churn_per_server_per_day", "servers_multiple", "events_multiple", "min_events", "others_ratio",
                     "raise_hold", "resolve_hold", "flap_quiet", "divergence_hold", "failure_grace"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if problems:
            raise ValueError("invalid RouteChurnConfig: " + "; ".join(problems))

    def baseline(self, servers: int) -> float:
        """Servers expected to churn in one window on a healthy fabric of ``servers`` servers."""
        return self.churn_per_server_per_day * servers * self.window / _DAY

    def thresholds(self, servers: int) -> tuple[float, float]:
        """``(servers, events)`` in a window that make a plane churn, for a fabric of ``servers`` servers."""
        base = self.baseline(servers)
        return max(float(self.min_servers), self.servers_multiple * base), max(self.min_events, self.events_multiple * base)


# -- mutable working state ---------------------------------------------------------------


class _Session:
    __slots__ = ("node", "peer", "plane", "ts", "established", "edges", "fresh", "routes", "counter_ts", "info")

    def __init__(self, node: str, peer: str, plane: int):
        self.node, self.peer, self.plane = node, peer, plane
        self.ts: float | None = None
        self.established: bool | None = None
        self.edges: list[float] = []
        """Times of the last ``flap_transitions`` up/down transitions, oldest first."""
        self.fresh = False
        """Came up since its last route poll: that poll's imports are a table load, not churn."""
        self.routes: int | None = None
        """routes_imported as counted in the plane's histogram (None: not counted)."""
        self.counter_ts: float | None = None
        self.info = ""


class _Ring:
    """Per-plane time buckets of the sliding window: bucket number, transitions, imports, servers, first event."""

    __slots__ = ("index", "transitions", "imports", "servers", "first")

    def __init__(self, size: int):
        self.index = [-1] * size
        self.transitions = [0] * size
        self.imports = [0] * size
        self.servers = [0] * size
        self.first = [math.inf] * size

    def slot(self, bucket: int) -> int | None:
        """The slot of ``bucket``, emptied if it held an older bucket; None if the bucket is too old."""
        s = bucket % len(self.index)
        held = self.index[s]
        if held == bucket:
            return s
        if held > bucket:
            return None
        self.index[s] = bucket
        self.transitions[s] = self.imports[s] = self.servers[s] = 0
        self.first[s] = math.inf
        return s

    def holds(self, bucket: int) -> int | None:
        s = bucket % len(self.index)
        return s if self.index[s] == bucket else None

    def clear(self) -> None:
        size = len(self.index)
        self.__init__(size)  # type: ignore[misc]

    def totals(self, now_bucket: int) -> tuple[int, int, int, float]:
        """(transitions, imports, servers, earliest event) over the buckets in the window ending at ``now_bucket``."""
        low = now_bucket - len(self.index)
        t = i = s = 0
        first = math.inf
        for k, b in enumerate(self.index):
            if low < b <= now_bucket:
                t += self.transitions[k]
                i += self.imports[k]
                s += self.servers[k]
                if self.first[k] < first:
                    first = self.first[k]
        return t, i, s, first


class _Subject(msgspec.Struct, kw_only=True):
    life: Lifecycle = msgspec.field(default_factory=Lifecycle)
    since: float | None = None


class _Flap(msgspec.Struct, kw_only=True):
    """One server's flapping on one plane: its lifecycle and what the evidence needs."""

    state: _Subject = msgspec.field(default_factory=_Subject)
    transitions: int = 0
    """Transitions since the episode began."""
    first: float = 0.0
    last: float = 0.0
    peers: list[str] = []
    info: str = ""


# -- snapshot layout -------------------------------------------------------------------


class _SessionRow(msgspec.Struct, array_like=True):
    node: str
    peer: str
    plane: int
    ts: float | None
    established: bool | None
    edges: list[float]
    fresh: bool
    routes: int | None
    counter_ts: float | None
    info: str


class _RingRow(msgspec.Struct, array_like=True):
    index: list[int]
    transitions: list[int]
    imports: list[int]
    servers: list[int]
    first: list[float | None]


class _FlapRow(msgspec.Struct, array_like=True):
    node: str
    plane: int
    flap: _Flap


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    next_eval: float | None
    next_divergence: float | None
    sessions: list[_SessionRow]
    rings: dict[int, _RingRow]
    active: list[tuple[str, int, int]]
    flaps: list[_FlapRow]
    churn: dict[int, _Subject]
    divergence: dict[int, _Subject]
    medians: dict[int, float]
    explained: dict[int, list[str]]
    grace_until: dict[int, float]


# -- the detector ----------------------------------------------------------------------


class RouteChurnDetector:
    """BGP sessions and route counters per plane → ``route_churn``, ``session_flap``, ``route_divergence``.

    Feed it :class:`BgpSession`, :class:`BgpRouteCounters`, :class:`Finding` (plane failures,
    via the ensemble) and :class:`Watermark` records; anything else only advances the clock.
    """

    name = "route_churn"
    kinds = KINDS

    def __init__(self, inventory: Inventory, config: RouteChurnConfig | None = None):
        self.inventory = inventory
        self.config = cfg = config or RouteChurnConfig()
        self._churn_hyst = Hysteresis(raise_hold=cfg.raise_hold, clear_hold=cfg.resolve_hold)
        self._flap_hyst = Hysteresis(raise_hold=0.0, clear_hold=cfg.resolve_hold)
        self._divergence_hyst = Hysteresis(raise_hold=cfg.divergence_hold, clear_hold=cfg.resolve_hold)
        self._divergence_band = Band(cfg.divergence_tolerance, cfg.divergence_clear)
        self._width = cfg.window / cfg.buckets
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        n = len(self._plane_ids)
        self._servers_threshold, self._events_threshold = cfg.thresholds(max(1, inventory.server_count))
        self._clock: float | None = None
        self._next_eval: float | None = None
        self._next_divergence: float | None = None
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._plane_sessions = [0] * n
        """Sessions per plane that reported route counters (normalises import counts)."""
        self._rings = [_Ring(cfg.buckets) for _ in range(n)]
        self._active: dict[tuple[str, int], int] = {}
        """(server, plane) -> the bucket of its latest churn, for distinct-server counts."""
        self._histograms: list[dict[int, int]] = [{} for _ in range(n)]
        self._medians: list[float | None] = [None] * n
        self._flaps: dict[tuple[str, int], _Flap] = {}
        self._churn = [_Subject() for _ in range(n)]
        self._churning = [False] * n
        """The churn condition held at the last evaluation (flaps on such a plane are part of it)."""
        self._divergence = [_Subject() for _ in range(n)]
        self._explained: list[set[str]] = [set() for _ in range(n)]
        self._grace_until: list[float | None] = [None] * n
        self._handlers: dict[type, Callable[[Any], list[Finding]]] = {
            BgpSession: self._on_session,
            BgpRouteCounters: self._on_counters,
            Finding: self._on_finding,
        }

    # -- public API ----------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        handler = self._handlers.get(type(record))
        findings = handler(record) if handler is not None else []
        clock = self._clock
        if self._next_eval is None:
            interval = self.config.evaluate_interval
            self._next_eval = clock + interval
            self._next_divergence = clock + self.config.divergence_interval
        elif clock >= self._next_eval or type(record) is Watermark:
            if clock >= self._next_eval:
                interval = self.config.evaluate_interval
                self._next_eval = (math.floor(clock / interval) + 1) * interval
            findings = findings + self._evaluate()
        return findings

    def window(self, plane: int) -> dict[str, float]:
        """The plane's churn over the current window (for status pages and tests)."""
        i = self._index[plane]
        transitions, imports, servers, _ = self._rings[i].totals(self._bucket(self._clock or 0.0))
        per_session = imports / self._plane_sessions[i] if self._plane_sessions[i] else 0.0
        return {"transitions": transitions, "imports_per_session": per_session,
                "events": transitions + per_session, "servers": servers}

    def thresholds(self) -> dict[str, float]:
        """The churn thresholds in effect for this fabric (scaled from its server count)."""
        return {"servers": self._servers_threshold, "events": self._events_threshold}

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        state = _State(
            clock=self._clock,
            next_eval=self._next_eval,
            next_divergence=self._next_divergence,
            sessions=[_SessionRow(s.node, s.peer, ids[s.plane], s.ts, s.established, list(s.edges), s.fresh, s.routes,
                                  s.counter_ts, s.info) for s in self._sessions.values()],
            rings={ids[i]: _RingRow(list(r.index), list(r.transitions), list(r.imports), list(r.servers),
                                    [None if math.isinf(f) else f for f in r.first]) for i, r in enumerate(self._rings)},
            active=[(node, ids[i], b) for (node, i), b in self._active.items()],
            flaps=[_FlapRow(node, ids[i], flap) for (node, i), flap in self._flaps.items()],
            churn={ids[i]: s for i, s in enumerate(self._churn)},
            divergence={ids[i]: s for i, s in enumerate(self._divergence)},
            medians={ids[i]: m for i, m in enumerate(self._medians) if m is not None},
            explained={ids[i]: sorted(k) for i, k in enumerate(self._explained) if k},
            grace_until={ids[i]: g for i, g in enumerate(self._grace_until) if g is not None},
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: RouteChurnConfig | None, state: bytes) -> Self:
        """Rebuild a detector from :meth:`snapshot` bytes (planes no longer in ``inventory`` are dropped)."""
        saved = decode_state(state, cls.name, _STATE_VERSION, _State)
        self = cls(inventory, config)
        index = self._index
        self._clock, self._next_eval, self._next_divergence = saved.clock, saved.next_eval, saved.next_divergence
        for row in saved.sessions:
            if row.plane not in index:
                continue
            i = index[row.plane]
            s = self._sessions[(row.node, row.peer)] = _Session(row.node, row.peer, i)
            s.ts, s.established, s.edges, s.fresh = row.ts, row.established, list(row.edges), row.fresh
            s.counter_ts, s.info = row.counter_ts, row.info
            if row.counter_ts is not None:
                self._plane_sessions[i] += 1
            if row.routes is not None:
                self._count_routes(s, row.routes)
        size = self.config.buckets
        for plane, ring_row in saved.rings.items():
            if plane in index and len(ring_row.index) == size:
                ring = self._rings[index[plane]]
                ring.index, ring.transitions = list(ring_row.index), list(ring_row.transitions)
                ring.imports, ring.servers = list(ring_row.imports), list(ring_row.servers)
                ring.first = [math.inf if f is None else f for f in ring_row.first]
        for node, plane, bucket in saved.active:
            if plane in index:
                self._active[(node, index[plane])] = bucket
        for row in saved.flaps:
            if row.plane in index:
                self._flaps[(row.node, index[row.plane])] = row.flap
        for table, rows in ((self._churn, saved.churn), (self._divergence, saved.divergence)):
            for plane, subject in rows.items():
                if plane in index:
                    table[index[plane]] = subject
        for plane, median in saved.medians.items():
            if plane in index:
                self._medians[index[plane]] = median
        for plane, kinds in saved.explained.items():
            if plane in index:
                self._explained[index[plane]] = set(kinds)
        for plane, g in saved.grace_until.items():
            if plane in index:
                self._grace_until[index[plane]] = g
        return self

    # -- records -------------------------------------------------------------------
    def _bucket(self, ts: float) -> int:
        return int(ts // self._width)

    def _session(self, node: str, peer: str, record_plane: int) -> _Session | None:
        key = (node, peer)
        session = self._sessions.get(key)
        if session is None:
            i = self._index.get(record_plane)
            if i is None:
                i = self._index.get(self.inventory.plane_of_ip(peer))
            if i is None:
                return None  # unmapped peer: nothing to say about any plane
            session = self._sessions[key] = _Session(node, peer, i)
        return session

    def _counting(self, i: int) -> bool:
        """Does plane ``i``'s BGP count as churn now (not explained by a plane failure, not in grace)?"""
        if self._explained[i]:
            return False
        grace = self._grace_until[i]
        return grace is None or (self._clock is not None and self._clock >= grace)

    def _on_session(self, r: BgpSession) -> list[Finding]:
        session = self._session(r.node, r.peer_ip, r.plane)
        if session is None:
            return []
        if session.ts is not None and r.ts < session.ts:
            return []  # late record: newer state already held
        session.ts = r.ts
        established = r.state == "Established"
        before = session.established
        session.established = established
        if r.info:
            session.info = r.info
        if before is None or before == established:
            return []  # first sight of the session, or a move between non-Established states
        i = session.plane
        if not established and session.routes is not None:
            self._uncount_routes(session)
        if established:
            session.fresh = True
        if not self._counting(i):
            return []
        edges = session.edges
        edges.append(r.ts)
        if len(edges) > self.config.flap_transitions:
            del edges[0]
        ring = self._rings[i]
        bucket = self._bucket(r.ts)
        slot = ring.slot(bucket)
        if slot is not None:
            ring.transitions[slot] += 1
            if r.ts < ring.first[slot]:
                ring.first[slot] = r.ts
        self._activity(r.node, i, bucket)
        cfg = self.config
        key = (r.node, i)
        flap = self._flaps.get(key)
        if flap is not None and flap.transitions:
            flap.transitions += 1  # the episode goes on
        elif len(edges) >= cfg.flap_transitions and r.ts - edges[0] <= cfg.flap_window:
            if flap is None:
                flap = self._flaps[key] = _Flap()
            flap.first, flap.transitions, flap.peers = edges[0], len(edges), []
        else:
            return []
        flap.last = max(flap.last, r.ts)
        if session.peer not in flap.peers:
            flap.peers.append(session.peer)
        flap.info = session.info
        return []

    def _activity(self, node: str, i: int, bucket: int) -> None:
        """``node`` churned on plane ``i`` in ``bucket``: count it once per window (distinct servers)."""
        key = (node, i)
        previous = self._active.get(key)
        if previous is not None and previous >= bucket:
            return
        ring = self._rings[i]
        slot = ring.slot(bucket)
        if slot is None:
            return
        if previous is not None:
            old = ring.holds(previous)
            if old is not None:
                ring.servers[old] -= 1
        ring.servers[slot] += 1
        self._active[key] = bucket

    def _on_counters(self, r: BgpRouteCounters) -> list[Finding]:
        session = self._session(r.node, r.peer_ip, r.plane)
        if session is None:
            return []
        if session.counter_ts is not None and r.ts <= session.counter_ts:
            return []
        if session.counter_ts is None:
            self._plane_sessions[session.plane] += 1
        session.counter_ts = r.ts
        i = session.plane
        if session.established is not False:
            if session.routes != r.routes_imported:
                if session.routes is not None:
                    self._uncount_routes(session)
                self._count_routes(session, r.routes_imported)
        if session.fresh:
            session.fresh = False  # a table load after the session came up, not churn
            return []
        imports = r.import_updates + r.import_withdraws
        exports = r.export_updates + r.export_withdraws
        if not (imports or exports) or not self._counting(i):
            return []
        ring = self._rings[i]
        bucket = self._bucket(r.ts)
        if imports:
            slot = ring.slot(bucket)
            if slot is not None:
                ring.imports[slot] += imports
                if r.ts < ring.first[slot]:
                    ring.first[slot] = r.ts
        if exports:
            self._activity(r.node, i, bucket)  # the server changed its own routes
        return []

    def _count_routes(self, session: _Session, routes: int) -> None:
        histogram = self._histograms[session.plane]
        histogram[routes] = histogram.get(routes, 0) + 1
        session.routes = routes

    def _uncount_routes(self, session: _Session) -> None:
        histogram = self._histograms[session.plane]
        routes = session.routes
        assert routes is not None
        left = histogram.get(routes, 0) - 1
        if left > 0:
            histogram[routes] = left
        else:
            histogram.pop(routes, None)
        session.routes = None

    def _on_finding(self, f: Finding) -> list[Finding]:
        flipped = explanation_flipped(self._explained, self._index, self.config.explained_by, f)
        if flipped is None:
            return []
        i, kinds = flipped
        if not kinds:
            self._grace_until[i] = f.ts + self.config.failure_grace
            return []
        # The failure's own session drops are not churn: forget them, and the flaps they began.
        self._grace_until[i] = None
        self._rings[i].clear()
        for key in [k for k in self._active if k[1] == i]:
            del self._active[key]
        for session in self._sessions.values():
            if session.plane == i:
                session.edges.clear()
        out: list[Finding] = []
        for (node, plane_index), flap in list(self._flaps.items()):
            if plane_index == i and not flap.state.life.firing:
                del self._flaps[(node, plane_index)]
        state = self._churn[i]
        state.since = None
        state.life.raising_since = None
        if state.life.firing and self._clock is not None:
            life = state.life
            life.firing, life.ended_at, life.clearing_since = False, self._clock, None
            evidence = self._churn_evidence(i)
            evidence["explained_by"] = {"kind": f.kind, "fingerprint": f.fingerprint}
            plane = self._plane_ids[i]
            out.append(make_finding(
                kind=CHURN_KIND, plane=plane, transition=Transition.RESOLVE, life=life, ts=self._clock,
                severity="warning", evidence=evidence,
                summary=f"plane {plane} ({self.inventory.plane_name(plane)}) BGP churn explained by {f.kind}",
            ))
        return out

    # -- lifecycles ------------------------------------------------------------------
    def _evaluate(self) -> list[Finding]:
        now = self._clock
        assert now is not None
        out = self._evaluate_churn(now)
        out += self._evaluate_flaps(now)
        if self._next_divergence is not None and now >= self._next_divergence:
            interval = self.config.divergence_interval
            self._next_divergence = (math.floor(now / interval) + 1) * interval
            self._medians = [self._median(h) if sum(h.values()) >= self.config.min_sessions else None
                             for h in self._histograms]
        out += self._evaluate_divergence(now)
        return out

    def _plane_events(self, now: float) -> list[tuple[float, int, float]]:
        """(events, servers, earliest event) of every plane over the window ending now."""
        bucket = self._bucket(now)
        out = []
        for i, ring in enumerate(self._rings):
            transitions, imports, servers, first = ring.totals(bucket)
            sessions = self._plane_sessions[i]
            out.append((transitions + (imports / sessions if sessions else 0.0), servers, first))
        return out

    def _evaluate_churn(self, now: float) -> list[Finding]:
        cfg = self.config
        planes = self._plane_events(now)
        counting = [self._counting(i) for i in range(len(planes))]
        servers_thr, events_thr = self._servers_threshold, self._events_threshold
        out = []
        for i, (events, servers, first) in enumerate(planes):
            state = self._churn[i]
            if not counting[i]:
                raising, clearing = False, True
            else:
                others = sorted(planes[j][0] for j in range(len(planes)) if j != i and counting[j])
                median = _median_of(others) if others else 0.0
                raising = servers >= servers_thr and events >= events_thr and events >= cfg.others_ratio * median
                clearing = not raising and (servers < cfg.clear_fraction * servers_thr
                                            or events < cfg.clear_fraction * events_thr)
            self._churning[i] = raising
            if raising and state.since is None:
                state.since = first if not math.isinf(first) else now
            elif clearing and not state.life.firing:
                state.since = None
            transition = self._churn_hyst.step(state.life, now, raising=raising, clearing=clearing)
            if transition is None:
                continue
            if transition is Transition.FIRE:
                state.life.started_at = state.since if state.since is not None else now
            else:
                state.since = None
            evidence = self._churn_evidence(i)
            plane = self._plane_ids[i]
            head = f"plane {plane} ({self.inventory.plane_name(plane)})"
            if transition is Transition.FIRE:
                summary = (f"{head} BGP churn: {evidence['transitions']} session transitions and "
                           f"{evidence['imports_per_session']:.0f} route updates/withdraws per session from "
                           f"{evidence['servers']} servers in {cfg.window:.0f}s (normal: ~{evidence['baseline_servers']:.1f} servers)")
            else:
                summary = f"{head} BGP churn back to normal"
            out.append(make_finding(kind=CHURN_KIND, plane=plane, transition=transition, life=state.life, ts=now,
                                    severity="warning", summary=summary, evidence=evidence))
        return out

    def _churn_evidence(self, i: int) -> dict[str, Any]:
        """Window counts of every plane, the thresholds, and the servers churning most (O(sessions): transitions only)."""
        now = self._clock or 0.0
        ids = self._plane_ids
        window = {ids[j]: self.window(ids[j]) for j in range(len(ids))}
        mine = window[ids[i]]
        low = now - self.config.flap_window
        busiest: dict[str, int] = {}
        for session in self._sessions.values():
            if session.plane == i:
                recent = sum(1 for t in session.edges if t >= low)
                if recent:
                    busiest[session.node] = busiest.get(session.node, 0) + recent
        top = sorted(busiest.items(), key=lambda item: (-item[1], item[0]))[: self.config.top]
        return {
            "plane_name": self.inventory.plane_name(ids[i]),
            "window_s": self.config.window,
            "transitions": int(mine["transitions"]),
            "imports_per_session": round(mine["imports_per_session"], 2),
            "events": round(mine["events"], 2),
            "servers": int(mine["servers"]),
            "threshold_servers": round(self._servers_threshold, 2),
            "threshold_events": round(self._events_threshold, 2),
            "baseline_servers": round(self.config.baseline(max(1, self.inventory.server_count)), 3),
            "other_planes_events": {str(p): round(w["events"], 2) for p, w in window.items() if p != ids[i]},
            "top_servers": [{"server": node, "transitions": n} for node, n in top],
        }

    def _evaluate_flaps(self, now: float) -> list[Finding]:
        cfg = self.config
        if not self._flaps:
            return []
        raising_of: dict[tuple[str, int], bool] = {}
        per_plane = [0] * len(self._plane_ids)
        for key, flap in self._flaps.items():
            active = bool(flap.transitions) and now - flap.last < cfg.flap_quiet
            raising_of[key] = active
            if active:
                per_plane[key[1]] += 1
        out = []
        for key, flap in list(self._flaps.items()):
            node, i = key
            active = raising_of[key]
            crowd = per_plane[i] >= self._servers_threshold or self._churning[i] or self._churn[i].life.firing
            raising = active and not crowd and self._counting(i)
            clearing = not active
            state = flap.state
            transition = self._flap_hyst.step(state.life, now, raising=raising, clearing=clearing)
            if transition is None:
                if clearing and not state.life.firing and now - flap.last >= cfg.flap_window:
                    del self._flaps[key]  # quiet for a whole window: forget the episode
                elif clearing and not state.life.firing:
                    flap.transitions = 0
                continue
            plane = self._plane_ids[i]
            if transition is Transition.FIRE:
                state.life.started_at = flap.first
            evidence = {
                "plane_name": self.inventory.plane_name(plane),
                "server": node,
                "transitions": flap.transitions,
                "first_transition": flap.first,
                "last_transition": flap.last,
                "peers": sorted(flap.peers),
                "last_info": flap.info,
                "flap_transitions": cfg.flap_transitions,
                "flap_window_s": cfg.flap_window,
            }
            if transition is Transition.FIRE:
                summary = (f"server {node} BGP sessions flapping on plane {plane} ({self.inventory.plane_name(plane)}): "
                           f"{flap.transitions} transitions in {now - flap.first:.0f}s"
                           + (f", last: {flap.info}" if flap.info else ""))
            else:
                summary = f"server {node} BGP sessions on plane {plane} stable again"
                flap.transitions = 0
            out.append(make_finding(kind=FLAP_KIND, plane=plane, transition=transition, life=state.life, ts=now,
                                    severity="warning", summary=summary, evidence=evidence, subject=node))
        return out

    @staticmethod
    def _median(histogram: dict[int, int]) -> float | None:
        total = sum(histogram.values())
        if not total:
            return None
        lo_rank, hi_rank = (total - 1) // 2, total // 2
        seen = 0
        lo = hi = None
        for value in sorted(histogram):
            seen += histogram[value]
            if lo is None and seen > lo_rank:
                lo = value
            if seen > hi_rank:
                hi = value
                break
        assert lo is not None and hi is not None
        return (lo + hi) / 2

    def _evaluate_divergence(self, now: float) -> list[Finding]:
        cfg = self.config
        usable = [i for i in range(len(self._plane_ids)) if self._counting(i) and self._medians[i] is not None]
        out = []
        for i, state in enumerate(self._divergence):
            deviation = None
            raising = False
            clearing = True
            if i in usable and len(usable) >= 2:
                others = sorted(self._medians[j] for j in usable if j != i)  # type: ignore[misc]
                ref = _median_of(others)
                mine = self._medians[i]
                assert mine is not None
                if ref > 0:
                    deviation = (mine - ref) / ref
                    size = abs(deviation) if len(usable) > 2 else max(0.0, -deviation)
                    big_enough = abs(mine - ref) >= cfg.min_divergence_routes
                    raising = self._divergence_band.raising(size) and big_enough
                    clearing = self._divergence_band.clearing(size) or not big_enough
            elif not self._counting(i):
                clearing = True
            else:
                clearing = False  # not comparable now: hold
            if not clearing and state.since is None:
                state.since = now
            elif clearing and not state.life.firing:
                state.since = None
            transition = self._divergence_hyst.step(state.life, now, raising=raising, clearing=clearing)
            if transition is None:
                continue
            if transition is Transition.FIRE:
                state.life.started_at = state.since if state.since is not None else now
            else:
                state.since = None
            plane = self._plane_ids[i]
            evidence = self._divergence_evidence(i, deviation)
            head = f"plane {plane} ({self.inventory.plane_name(plane)})"
            if transition is Transition.FIRE:
                summary = (f"{head} route counts diverge: median {evidence['median_routes']} routes imported vs "
                           f"{evidence['other_planes_median']} on the other planes ({100 * (deviation or 0):+.1f}%)")
            else:
                summary = f"{head} route counts agree with the other planes again"
            out.append(make_finding(kind=DIVERGENCE_KIND, plane=plane, transition=transition, life=state.life, ts=now,
                                    severity="warning", summary=summary, evidence=evidence))
        return out

    def _divergence_evidence(self, i: int, deviation: float | None) -> dict[str, Any]:
        ids = self._plane_ids
        others = sorted(m for j, m in enumerate(self._medians) if j != i and m is not None)
        sessions = [s for s in self._sessions.values() if s.plane == i and s.routes is not None]
        sessions.sort(key=lambda s: (s.routes, s.node, s.peer))
        return {
            "plane_name": self.inventory.plane_name(ids[i]),
            "median_routes": self._medians[i],
            "other_planes_median": _median_of(others) if others else None,
            "medians": {str(ids[j]): m for j, m in enumerate(self._medians) if m is not None},
            "deviation": round(deviation, 4) if deviation is not None else None,
            "tolerance": self.config.divergence_tolerance,
            "sessions": len(sessions),
            "fewest_routes": [{"server": s.node, "peer": s.peer, "routes_imported": s.routes}
                              for s in sessions[: self.config.top]],
        }


def _median_of(values: list[float]) -> float:
    """Median of an already sorted, non-empty list."""
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2

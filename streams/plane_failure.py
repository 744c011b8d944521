"""Plane failure: one finding per plane that has stopped carrying the pod's traffic.

A multi-plane Calico fabric survives the loss of a whole plane (say a spanning-tree
meltdown): servers keep routing over the other planes with less bandwidth and nothing in
Calico says so. The evidence is spread over thousands of records: every server's BGP
sessions to that plane's route reflectors drop (up to a 90 s hold timer later), the
plane's ToR ports go down or its switches go quiet, and ECMP moves its traffic share to
the other planes. This detector joins those signals per plane and raises **one** finding
per failed plane, never one per session.

Why the rules look the way they do:

* A server down on *every* plane is a server failure, so only servers still alive on some
  other plane count as evidence against a plane.
* BGP alone is not enough (a route-reflector problem also drops sessions); it must be
  corroborated by the plane's server ports, its silence, or its traffic share collapsing.
  Ports down and traffic gone is enough on its own (critical even before BGP notices).
* A plane can also fail *partly* (a line card, a ToR's plane-facing optics, a mis-pushed
  VLAN): ``plane_degraded`` (warning) fires when a smaller fraction of the servers alive
  elsewhere lost the plane, corroborated by their ports, for ``degraded_min_duration``.
  That hold is longer than it takes a whole-plane failure to show (ports drop at once,
  traffic collapses within an interval), so a plane that is failing outright raises
  ``plane_failure`` alone; if a degraded plane later fails outright, the degraded finding
  is resolved at once as superseded (evidence ``superseded_by``) and the failure fires.
* Ports are judged by their *excess* over the fabric: a server that dies takes its link on
  every plane down, so only the part of a plane's port losses above the least-affected
  plane's is evidence against that plane. Servers named by a firing ``server_failure``
  finding (fed back by the ensemble) are left out of every plane's server counts.
* Everything is counted incrementally so a record costs O(planes) at worst; only a
  lifecycle transition (rare) walks the plane's sessions and ports to build evidence.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, Self

import msgspec

from planewatch.counters import counter_rate
from planewatch.inventory import Inventory
from planewatch.schemas.records import (
    BgpSession,
    Finding,
    InterfaceStatus,
    PortCounters,
    Record,
    Watermark,
)
from planewatch.streams.detector import (
    Band,
    Hysteresis,
    Lifecycle,
    Transition,
    decode_state,
    encode_state,
    make_finding,
)

__all__ = [
    "DEGRADED_KIND",
    "PlaneFailureConfig",
    "PlaneFailureDetector",
    "PlaneHealth",
    "degraded_verdict",
    "failure_verdict",
]

KIND = "plane_failure"
DEGRADED_KIND = "plane_degraded"
SERVER_FAILURE_KIND = "server_failure"
_STATE_VERSION = 2


class PlaneFailureConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds and timings of the plane-failure detector (event-time seconds)."""

    session_fraction_raise: float = 0.5
    """Fraction of servers (alive elsewhere) without any Established session on the plane that raises."""
    session_fraction_clear: float = 0.2
    """…and below which the plane counts as recovered (with ports recovered and not silent)."""
    port_fraction_raise: float = 0.5
    """Fraction of the plane's server-facing ports down that corroborates the BGP evidence."""
    port_fraction_clear: float = 0.2
    """Server-port fraction down below which ports count as recovered."""
    port_fraction_critical: float = 0.8
    """Server ports down this much plus a traffic-share collapse raise even before BGP notices."""
    share_collapse_ratio: float = 0.3
    """A plane's traffic share has collapsed below ``ratio × 1/N`` …"""
    others_rise_ratio: float = 0.9
    """… while the other planes carry at least ``ratio ×`` their usual combined rate: the traffic
    moved rather than vanished. ECMP failover makes them *rise* by N/(N-1); the 10 % slack keeps
    ordinary traffic noise from hiding that rise on wide fabrics (N=16: only +7 %)."""
    counter_interval: float = 10.0
    """Expected gNMI counter sampling interval; the detector re-assesses traffic once per interval."""
    silence_intervals: float = 3.0
    """A plane with no counters for this many intervals, while other planes report, is silent."""
    resolve_hold: float = 30.0
    """The recovered condition must hold this long before the finding resolves."""
    onset_gap: float = 120.0
    """Down transitions closer than this belong to the same fault (covers BGP's 90 s hold timer)."""
    baseline_alpha: float = 0.2
    """Weight of each healthy interval in the per-plane traffic baseline (exponential average)."""
    top_switches: int = 5
    """How many of the most affected switches the evidence lists."""
    degraded_fraction_raise: float = 0.2
    """Partial failure: this fraction of the servers alive elsewhere lost the plane (sessions, with
    their ports corroborating), or this fraction of its server ports down beyond the other planes'."""
    degraded_fraction_clear: float = 0.1
    """Both fractions below this and the degraded finding counts as recovered."""
    degraded_corroboration: float = 0.5
    """Lost sessions count for a degraded plane only when the excess port fraction is at least this
    share of the session fraction (otherwise it is a route-reflector problem, not the plane)."""
    degraded_min_duration: float = 40.0
    """The degraded condition must hold this long before it fires: longer than a whole-plane failure
    needs to show (2-20 s, so that one raises ``plane_failure`` alone), short enough to meet the
    60 s detection target, and shorter than ``route_churn``'s raise hold (which it explains)."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("session_fraction", "port_fraction"):
            raise_at, clear = getattr(self, f"{name}_raise"), getattr(self, f"{name}_clear")
            if not 0 < clear <= raise_at <= 1:
                problems.append(f"need 0 < {name}_clear ({clear}) <= {name}_raise ({raise_at}) <= 1")
        if not 0 < self.degraded_fraction_clear <= self.degraded_fraction_raise <= 1:
            problems.append(
                f"need 0 < degraded_fraction_clear ({self.degraded_fraction_clear}) <= "
                f"degraded_fraction_raise ({self.degraded_fraction_raise}) <= 1"
            )
        if self.degraded_min_duration < 0 or not 0 <= self.degraded_corroboration <= 1:
            problems.append("degraded_min_duration must be >= 0 and degraded_corroboration within 0..1")
        if not self.port_fraction_clear <= self.port_fraction_critical <= 1:
            problems.append("port_fraction_critical must lie between port_fraction_clear and 1")
        for name in ("counter_interval", "silence_intervals", "onset_gap"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        if self.resolve_hold < 0:
            problems.append("resolve_hold must be >= 0")
        if not 0 < self.baseline_alpha <= 1:
            problems.append("baseline_alpha must be in (0, 1]")
        if problems:
            raise ValueError("invalid PlaneFailureConfig: " + "; ".join(problems))


@dataclasses.dataclass(frozen=True)
class PlaneHealth:
    """What the detector currently believes about one plane: the input of every verdict."""

    plane: int
    servers_down: int
    servers_total: int
    server_ports_down: int
    server_ports_total: int
    silent: bool
    collapsed: bool
    port_fraction_everywhere: float = 0.0
    """The smallest server-port fraction down of any plane: losses every plane shares (dead servers)."""

    @property
    def session_fraction(self) -> float:
        return self.servers_down / self.servers_total if self.servers_total else 0.0

    @property
    def port_fraction(self) -> float:
        return self.server_ports_down / self.server_ports_total if self.server_ports_total else 0.0

    @property
    def port_excess(self) -> float:
        """Server-port fraction down beyond what every plane has lost: what this plane alone lost."""
        return max(0.0, self.port_fraction - self.port_fraction_everywhere)


def failure_verdict(health: PlaneHealth, config: PlaneFailureConfig) -> tuple[bool, bool]:
    """``(raising, clearing)`` for a full plane failure.

    Other verdicts (e.g. :func:`degraded_verdict`) plug in beside this one through
    :data:`_VERDICTS`, each with its own lifecycle and fingerprint. Ports count by their
    :attr:`~PlaneHealth.port_excess`, so dead servers (down on every plane) never do.
    """
    sessions = Band(config.session_fraction_raise, config.session_fraction_clear)
    ports = Band(config.port_fraction_raise, config.port_fraction_clear)
    sf, pf = health.session_fraction, health.port_excess
    corroborated = ports.raising(pf) or health.silent or health.collapsed
    raising = (sessions.raising(sf) and corroborated) or (
        pf >= config.port_fraction_critical and health.collapsed
    )
    clearing = sessions.clearing(sf) and ports.clearing(pf) and not health.silent
    return raising, clearing


def degraded_level(health: PlaneHealth, config: PlaneFailureConfig) -> float:
    """Fraction of the plane that is lost: excess ports down, or servers without BGP there when
    their ports corroborate it (at least ``degraded_corroboration`` × as many)."""
    sf, pe = health.session_fraction, health.port_excess
    sessions = sf if pe >= config.degraded_corroboration * sf else 0.0
    return max(pe, sessions)


def degraded_verdict(health: PlaneHealth, config: PlaneFailureConfig) -> tuple[bool, bool]:
    """``(raising, clearing)`` for a partial (degraded) plane; the detector also holds it back
    while the plane's full failure is firing or about to (see :class:`PlaneFailureDetector`)."""
    band = Band(config.degraded_fraction_raise, config.degraded_fraction_clear)
    level = degraded_level(health, config)
    return band.raising(level), band.clearing(level) and band.clearing(health.session_fraction)


_Verdict = Callable[[PlaneHealth, PlaneFailureConfig], tuple[bool, bool]]
_VERDICTS: tuple[tuple[str, str, _Verdict], ...] = (
    (KIND, "critical", failure_verdict),
    (DEGRADED_KIND, "warning", degraded_verdict),
)
"""(kind, severity, verdict) evaluated for every plane, in order; one lifecycle per kind and plane.
A full failure outranks (and supersedes) the degraded verdict of the same plane."""


# -- mutable working state (slots: millions of updates per minute) ----------------------


class _Session:
    __slots__ = ("ts", "plane", "established")

    def __init__(self, ts: float, plane: int, established: bool):
        self.ts, self.plane, self.established = ts, plane, established


class _Server:
    """Per-plane session counts of one server; ``n_up`` = planes with an Established session."""

    __slots__ = ("known", "est", "n_up", "down_since", "excluded")

    def __init__(self, planes: int, excluded: bool = False):
        self.known = [0] * planes
        self.est = [0] * planes
        self.n_up = 0
        self.down_since: list[float] = [0.0] * planes
        self.excluded = excluded  # a firing server_failure accounts for it: it counts on no plane


class _Port:
    """Oper-status of one switch port; only ports seen UP at least once are counted
    (a port never seen up is uncabled, and would otherwise look like a permanent fault)."""

    __slots__ = ("ts", "since", "up", "ever_up", "plane", "server")

    def __init__(self, ts: float, plane: int, server: bool):
        self.ts, self.since, self.up, self.ever_up = ts, ts, False, False
        self.plane, self.server = plane, server


class _Counter:
    __slots__ = ("ts", "octets", "rate", "plane", "server")

    def __init__(self, ts: float, octets: int, plane: int, server: bool):
        self.ts, self.octets, self.rate, self.plane, self.server = ts, octets, None, plane, server


class _SwitchTally:
    __slots__ = ("plane", "server_total", "server_down", "uplink_total", "uplink_down")

    def __init__(self, plane: int):
        self.plane = plane
        self.server_total = self.server_down = self.uplink_total = self.uplink_down = 0


# -- snapshot layout -------------------------------------------------------------------


class _SessionRow(msgspec.Struct, array_like=True):
    node: str
    peer_ip: str
    plane: int
    ts: float
    established: bool


class _DownRow(msgspec.Struct, array_like=True):
    node: str
    plane: int
    since: float


class _PortRow(msgspec.Struct, array_like=True):
    device: str
    port: str
    plane: int
    ts: float
    since: float
    up: bool
    ever_up: bool


class _CounterRow(msgspec.Struct, array_like=True):
    device: str
    port: str
    plane: int
    ts: float
    octets: int
    rate: float | None


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    next_tick: float | None
    sessions: list[_SessionRow]
    down: list[_DownRow]
    ports: list[_PortRow]
    counters: list[_CounterRow]
    last_counter: dict[int, float]
    baseline: dict[int, float]
    silent: list[int]
    collapsed: list[int]
    lifecycles: dict[str, dict[int, Lifecycle]]
    excluded: dict[str, list[str]] = {}
    """Fingerprint of each firing server_failure finding -> the servers it accounts for."""


# -- the detector ----------------------------------------------------------------------


class PlaneFailureDetector:
    """Joins BGP sessions, port status and port counters per plane into plane-failure findings.

    Feed it :class:`BgpSession`, :class:`InterfaceStatus`, :class:`PortCounters` and
    :class:`Watermark` records (anything else only advances the event clock). Sessions,
    ports and counters are learnt from the records themselves: something never reported
    is neither healthy nor failed, it simply is not counted.
    """

    name = KIND

    def __init__(self, inventory: Inventory, config: PlaneFailureConfig | None = None):
        self.inventory = inventory
        self.config = config or PlaneFailureConfig()
        self._hysteresis = {
            KIND: Hysteresis(raise_hold=0.0, clear_hold=self.config.resolve_hold),
            DEGRADED_KIND: Hysteresis(raise_hold=self.config.degraded_min_duration, clear_hold=self.config.resolve_hold),
        }
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        n = len(self._plane_ids)
        self._clock: float | None = None
        self._next_tick: float | None = None
        # BGP
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._servers: dict[str, _Server] = {}
        self._eligible = [0] * n  # servers with a session on the plane, alive on another plane
        self._servers_down = [0] * n  # … of which down on this plane
        self._sessions_total = [0] * n
        self._sessions_down = [0] * n
        # ports
        self._ports: dict[tuple[str, str], _Port] = {}
        self._switches: dict[str, _SwitchTally] = {}
        self._server_ports = [0] * n
        self._server_ports_down = [0] * n
        self._uplinks = [0] * n
        self._uplinks_down = [0] * n
        # traffic
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._rate = [0.0] * n  # bytes/s over server-facing ports, sum of per-port rates
        self._last_counter: list[float | None] = [None] * n
        self._baseline: list[float | None] = [None] * n
        self._silent = [False] * n
        self._collapsed = [False] * n
        self._lives: dict[str, list[Lifecycle]] = {kind: [Lifecycle() for _ in range(n)] for kind, _, _ in _VERDICTS}
        self._server_on_port: Callable[[str, str], str | None] | None = getattr(inventory, "server_on_port", None)
        # servers accounted for by firing server_failure findings (fed back by the ensemble)
        self._excluded_by: dict[str, tuple[str, ...]] = {}
        self._excluded: dict[str, int] = {}
        self._handlers: dict[type, Callable[[Any], tuple[int, ...]]] = {
            BgpSession: self._on_session,
            InterfaceStatus: self._on_interface,
            PortCounters: self._on_counters,
        }

    # -- public API ----------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        """Apply one record, then re-assess the planes it touched (all planes once per interval)."""
        if isinstance(record, Finding):
            if record.kind == SERVER_FAILURE_KIND:
                self._on_server_failure(record)
            return []
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        handler = self._handlers.get(type(record))
        touched: Iterable[int] = handler(record) if handler is not None else ()
        if self._next_tick is None:
            self._next_tick = self._tick_after(ts)
        elif self._clock >= self._next_tick:
            self._next_tick = self._tick_after(self._clock)
            self._assess_traffic()
            touched = range(len(self._plane_ids))
        if type(record) is Watermark:
            touched = range(len(self._plane_ids))  # let hold times expire without data
        findings: list[Finding] = []
        for i in touched:
            findings.extend(self._evaluate(i))
        return findings

    def health(self, plane: int) -> PlaneHealth:
        """The current view of ``plane`` (what the verdicts see); for status pages and tests."""
        i = self._index[plane]
        return PlaneHealth(
            plane=plane,
            servers_down=self._servers_down[i],
            servers_total=self._eligible[i],
            server_ports_down=self._server_ports_down[i],
            server_ports_total=self._server_ports[i],
            silent=self._silent[i],
            collapsed=self._collapsed[i],
            port_fraction_everywhere=self._port_fraction_everywhere(),
        )

    def excluded_servers(self) -> list[str]:
        """Servers left out of every plane's counts because a server_failure finding names them."""
        return sorted(self._excluded)

    def shares(self) -> dict[int, float]:
        """Each plane's current share of server-facing traffic (empty before any traffic)."""
        total = sum(self._rate)
        return {p: self._rate[i] / total for i, p in enumerate(self._plane_ids)} if total > 0 else {}

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        state = _State(
            clock=self._clock,
            next_tick=self._next_tick,
            sessions=[_SessionRow(node, peer, ids[s.plane], s.ts, s.established)
                      for (node, peer), s in self._sessions.items()],
            down=[_DownRow(node, ids[i], srv.down_since[i])
                  for node, srv in self._servers.items()
                  for i in range(len(ids)) if srv.known[i] and not srv.est[i]],
            ports=[_PortRow(dev, port, ids[p.plane], p.ts, p.since, p.up, p.ever_up)
                   for (dev, port), p in self._ports.items()],
            counters=[_CounterRow(dev, port, ids[c.plane], c.ts, c.octets, c.rate)
                      for (dev, port), c in self._counters.items()],
            last_counter={ids[i]: t for i, t in enumerate(self._last_counter) if t is not None},
            baseline={ids[i]: b for i, b in enumerate(self._baseline) if b is not None},
            silent=[ids[i] for i, s in enumerate(self._silent) if s],
            collapsed=[ids[i] for i, c in enumerate(self._collapsed) if c],
            lifecycles={kind: {ids[i]: life for i, life in enumerate(lives)} for kind, lives in self._lives.items()},
            excluded={fp: list(names) for fp, names in self._excluded_by.items()},
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: PlaneFailureConfig | None, state: bytes) -> Self:
        """Rebuild a detector from :meth:`snapshot` bytes (planes no longer in ``inventory`` are dropped)."""
        saved = decode_state(state, KIND, _STATE_VERSION, _State)
        self = cls(inventory, config)
        index = self._index
        self._clock, self._next_tick = saved.clock, saved.next_tick
        for fp, names in saved.excluded.items():
            self._exclude(fp, names)
        for row in saved.sessions:
            if row.plane in index:
                self._add_session(row.node, row.peer_ip, index[row.plane], row.ts, row.established)
        for row in saved.down:
            server = self._servers.get(row.node)
            if server is not None and row.plane in index:
                server.down_since[index[row.plane]] = row.since
        for row in saved.ports:
            if row.plane in index and row.device in inventory.switches:
                port = self._new_port(row.device, row.port, index[row.plane], row.ts)
                if row.ever_up:
                    self._set_port(port, row.device, True, row.since)
                self._set_port(port, row.device, row.up, row.since)
        for row in saved.counters:
            if row.plane in index:
                i = index[row.plane]
                counter = _Counter(row.ts, row.octets, i, inventory.is_server_port(row.device, row.port))
                counter.rate = row.rate
                self._counters[(row.device, row.port)] = counter
                if counter.server and row.rate is not None:
                    self._rate[i] += row.rate
        for plane, ts in saved.last_counter.items():
            if plane in index:
                self._last_counter[index[plane]] = ts
        for plane, rate in saved.baseline.items():
            if plane in index:
                self._baseline[index[plane]] = rate
        for plane in saved.silent:
            if plane in index:
                self._silent[index[plane]] = True
        for plane in saved.collapsed:
            if plane in index:
                self._collapsed[index[plane]] = True
        for kind, lives in saved.lifecycles.items():
            if kind in self._lives:
                for plane, life in lives.items():
                    if plane in index:
                        self._lives[kind][index[plane]] = life
        return self

    # -- BGP -------------------------------------------------------------------------
    def _on_session(self, r: BgpSession) -> tuple[int, ...]:
        key = (r.node, r.peer_ip)
        session = self._sessions.get(key)
        established = r.state == "Established"
        if session is None:
            i = self._index.get(r.plane)
            if i is None:
                i = self._index.get(self.inventory.plane_of_ip(r.peer_ip))
            if i is None:
                return ()  # unmapped peer: nothing to say about any plane
            return self._add_session(r.node, r.peer_ip, i, r.ts, established)
        if r.ts < session.ts:
            return ()  # late record: newer state already held
        session.ts = r.ts
        if session.established == established:
            return ()
        session.established = established
        self._sessions_down[session.plane] += -1 if established else 1
        return self._server_change(r.node, session.plane, 0, 1 if established else -1, r.ts)

    def _add_session(self, node: str, peer: str, i: int, ts: float, established: bool) -> tuple[int, ...]:
        self._sessions[(node, peer)] = _Session(ts, i, established)
        self._sessions_total[i] += 1
        if not established:
            self._sessions_down[i] += 1
        return self._server_change(node, i, 1, int(established), ts)

    def _server_change(self, node: str, i: int, d_known: int, d_est: int, ts: float) -> tuple[int, ...]:
        """Apply a session change to the server's per-plane view and to the plane counters.

        O(planes): a server's eligibility on *every* plane depends on how many planes it
        is up on, so losing its last plane removes it from every plane's denominator.
        """
        server = self._servers.get(node)
        if server is None:
            server = self._servers[node] = _Server(len(self._plane_ids), node in self._excluded)
        before = self._contributions(server)
        was_up = server.est[i] > 0
        server.known[i] += d_known
        server.est[i] += d_est
        is_up = server.est[i] > 0
        server.n_up += is_up - was_up
        if was_up and not is_up or (d_known and not is_up and server.known[i] == 1):
            server.down_since[i] = ts
        after = self._contributions(server)
        touched = []
        for k, ((e0, d0), (e1, d1)) in enumerate(zip(before, after)):
            if e0 != e1 or d0 != d1:
                self._eligible[k] += e1 - e0
                self._servers_down[k] += d1 - d0
                touched.append(k)
        if i not in touched:
            touched.append(i)
        return tuple(touched)

    @staticmethod
    def _contributions(server: _Server) -> list[tuple[int, int]]:
        """(eligible, down) of ``server`` on each plane: eligible = alive on some *other* plane."""
        out = []
        if server.excluded:
            return [(0, 0)] * len(server.known)
        for known, est in zip(server.known, server.est):
            if not known:
                out.append((0, 0))
                continue
            up = est > 0
            eligible = server.n_up - up >= 1
            out.append((int(eligible), int(eligible and not up)))
        return out

    # -- server failures (findings of the server-failure detector) ------------------------
    def _on_server_failure(self, finding: Finding) -> None:
        """A firing server_failure takes its servers out of every plane's counts; resolved puts them back.

        No evaluation here: the planes are re-assessed on the next record (findings are
        fed back by the ensemble right after the record that caused them)."""
        from planewatch.streams.server_failure import servers_of

        if finding.status == "firing":
            if finding.fingerprint not in self._excluded_by:
                self._exclude(finding.fingerprint, servers_of(finding))
        else:
            names = self._excluded_by.pop(finding.fingerprint, ())
            for name in names:
                left = self._excluded[name] - 1
                if left:
                    self._excluded[name] = left
                else:
                    del self._excluded[name]
                    self._set_excluded(name, False)

    def _exclude(self, fp: str, names: Iterable[str]) -> None:
        known = self.inventory.servers
        names = tuple(n for n in dict.fromkeys(names) if n in known or n in self._servers)
        self._excluded_by[fp] = names
        for name in names:
            self._excluded[name] = self._excluded.get(name, 0) + 1
            if self._excluded[name] == 1:
                self._set_excluded(name, True)

    def _set_excluded(self, name: str, excluded: bool) -> None:
        """Move one server in or out of every plane's counts: O(planes)."""
        server = self._servers.get(name)
        if server is None or server.excluded == excluded:
            return
        before = self._contributions(server)
        server.excluded = excluded
        after = self._contributions(server)
        for k, ((e0, d0), (e1, d1)) in enumerate(zip(before, after)):
            self._eligible[k] += e1 - e0
            self._servers_down[k] += d1 - d0

    # -- ports -----------------------------------------------------------------------
    def _port_fraction_everywhere(self) -> float:
        """Least server-port fraction down over the planes that report ports (O(planes))."""
        fractions = [d / t for d, t in zip(self._server_ports_down, self._server_ports) if t]
        return min(fractions) if len(fractions) == len(self._plane_ids) else 0.0

    def _on_interface(self, r: InterfaceStatus) -> tuple[int, ...]:
        key = (r.device, r.port)
        port = self._ports.get(key)
        if port is None:
            if r.device not in self.inventory.switches:
                return ()  # unknown switch: cannot tell server ports from uplinks
            i = self._plane_of_device(r.device, r.plane)
            if i is None:
                return ()
            port = self._new_port(r.device, r.port, i, r.ts)
        elif r.ts < port.ts:
            return ()
        port.ts = r.ts
        up = r.oper_status == "UP"
        if up == port.up and port.ever_up:
            return ()
        self._set_port(port, r.device, up, r.ts)
        return (port.plane,)

    def _plane_of_device(self, device: str, record_plane: int) -> int | None:
        """Plane index of a switch: the inventory's word first, the record's plane otherwise."""
        i = self._index.get(self.inventory.plane_of_switch(device))
        return self._index.get(record_plane) if i is None else i

    def _new_port(self, device: str, name: str, i: int, ts: float) -> _Port:
        port = self._ports[(device, name)] = _Port(ts, i, self.inventory.is_server_port(device, name))
        if device not in self._switches:
            self._switches[device] = _SwitchTally(i)
        return port

    def _set_port(self, port: _Port, device: str, up: bool, since: float) -> None:
        """Move ``port`` to ``up`` and keep the plane and switch tallies in step."""
        tally = self._switches[device]
        i = port.plane
        if not port.ever_up:
            if not up:
                port.since = since
                return  # still never seen up: not counted
            port.ever_up = True
            if port.server:
                self._server_ports[i] += 1
                tally.server_total += 1
            else:
                self._uplinks[i] += 1
                tally.uplink_total += 1
            port.up, port.since = True, since
            return
        if port.up == up:
            return
        step = -1 if up else 1
        if port.server:
            self._server_ports_down[i] += step
            tally.server_down += step
        else:
            self._uplinks_down[i] += step
            tally.uplink_down += step
        port.up, port.since = up, since

    # -- traffic ---------------------------------------------------------------------
    def _on_counters(self, r: PortCounters) -> tuple[int, ...]:
        key = (r.device, r.port)
        counter = self._counters.get(key)
        octets = r.in_octets + r.out_octets
        if counter is None:
            i = self._plane_of_device(r.device, r.plane)
            if i is None:
                return ()
            counter = self._counters[key] = _Counter(r.ts, octets, i, self.inventory.is_server_port(r.device, r.port))
        elif r.ts <= counter.ts:
            return ()  # duplicate or late sample
        else:
            if counter.server:
                # A reset (or an implausible wrap) has no rate: keep the last known one.
                rate = counter_rate(counter.octets, counter.ts, octets, r.ts).per_second
                if rate is not None:
                    self._rate[counter.plane] += rate - (counter.rate or 0.0)
                    counter.rate = rate
            counter.ts, counter.octets = r.ts, octets
        last = self._last_counter[counter.plane]
        if last is None or r.ts > last:
            self._last_counter[counter.plane] = r.ts
        return ()  # traffic is judged once per interval, in _assess_traffic

    def _tick_after(self, ts: float) -> float:
        interval = self.config.counter_interval
        return (math.floor(ts / interval) + 1) * interval

    def _assess_traffic(self) -> None:
        """Once per counter interval: silence, share collapse, and the healthy baseline."""
        cfg, n, clock = self.config, len(self._plane_ids), self._clock
        assert clock is not None
        bound = cfg.silence_intervals * cfg.counter_interval
        fresh = [t is not None and clock - t <= bound for t in self._last_counter]
        for i in range(n):
            others_fresh = any(fresh[j] for j in range(n) if j != i)
            self._silent[i] = self._last_counter[i] is not None and not fresh[i] and others_fresh
        rates = [max(r, 0.0) for r in self._rate]
        total = sum(rates)
        lopsided = [total > 0 and r / total < cfg.share_collapse_ratio / n for r in rates]
        base_total = sum(b for b in self._baseline if b is not None)
        for i in range(n):
            base_others = base_total - (self._baseline[i] or 0.0)
            self._collapsed[i] = (
                lopsided[i] and base_others > 0 and total - rates[i] >= cfg.others_rise_ratio * base_others
            )
        # The baseline ("share before") only learns while the whole fabric looks healthy,
        # so a fault, and the other planes' rise it causes, never becomes the new normal.
        if total <= 0 or any(lopsided) or any(self._silent) or any(
            not self._calm(i) for i in range(n)
        ):
            return
        alpha = cfg.baseline_alpha
        for i, rate in enumerate(rates):
            base = self._baseline[i]
            self._baseline[i] = rate if base is None else base + alpha * (rate - base)

    def _calm(self, i: int) -> bool:
        health = self.health(self._plane_ids[i])
        return (
            health.session_fraction < self.config.session_fraction_clear
            and health.port_excess < self.config.port_fraction_clear
            and not any(lives[i].firing for lives in self._lives.values())
        )

    # -- lifecycle -------------------------------------------------------------------
    def _evaluate(self, i: int) -> list[Finding]:
        """Step every verdict's lifecycle for plane ``i``; the full failure first, since it
        outranks the degraded verdict: while it fires or is raising, degraded cannot start,
        and a degraded finding already firing is resolved as superseded."""
        assert self._clock is not None
        health = self.health(self._plane_ids[i])
        findings = []
        failure = self._lives[KIND][i]
        failing = False
        for kind, severity, verdict in _VERDICTS:
            life = self._lives[kind][i]
            raising, clearing = verdict(health, self.config)
            superseded = False
            if kind == DEGRADED_KIND and failing:
                if life.firing:
                    superseded = True
                    life.firing, life.ended_at, life.clearing_since, life.raising_since = False, self._clock, None, None
                    transition: Transition | None = Transition.RESOLVE
                else:
                    life.raising_since = None
                    transition = None
            else:
                transition = self._hysteresis[kind].step(life, self._clock, raising=raising, clearing=clearing)
            if kind == KIND:
                failing = failure.firing or raising
            if transition is None:
                continue
            if transition is Transition.FIRE:
                life.started_at = self._onset(i)
            evidence = self._evidence(i, health)
            if superseded:
                evidence["superseded_by"] = KIND
            findings.append(make_finding(
                kind=kind, plane=health.plane, transition=transition, life=life, ts=self._clock,
                severity=severity, summary=self._summary(transition, health, evidence, life, kind), evidence=evidence,
            ))
        return findings

    def _onset(self, i: int) -> float:
        """Event time the fault began: the earliest of the chain of down transitions on the
        plane, walking back from the latest while consecutive ones are < ``onset_gap`` apart.

        The chain rule keeps a port that died last week (or a server with a broken NIC)
        from dragging ``started_at`` into the past, yet includes BGP sessions that only
        noticed 90 s after the ports went down. Runs once per fault: O(plane size).
        """
        times = [s.down_since[i] for s in self._servers.values()
                 if s.known[i] and not s.est[i] and s.n_up >= 1 and not s.excluded]
        times += [p.since for (device, name), p in self._ports.items()
                  if p.plane == i and p.ever_up and not p.up and not self._port_of_dead_server(device, name)]
        if self._silent[i] and self._last_counter[i] is not None:
            times.append(self._last_counter[i])
        assert self._clock is not None
        if not times:
            return self._clock
        times.sort(reverse=True)
        start = times[0]
        for t in times[1:]:
            if start - t > self.config.onset_gap:
                break
            start = t
        return min(start, self._clock)

    def _port_of_dead_server(self, device: str, port: str) -> bool:
        """The port faces a server that is down everywhere (or named by a server_failure finding):
        its drop belongs to that server's failure, not to the plane's (needs ``servers[].ports``)."""
        owner = self._server_on_port(device, port) if self._server_on_port else None
        if owner is None:
            return False
        server = self._servers.get(owner)
        return owner in self._excluded or (server is not None and server.n_up == 0 and any(server.known))

    def _evidence(self, i: int, health: PlaneHealth) -> dict[str, Any]:
        """Counts and top offenders for the finding (built on transitions only)."""
        ids, n = self._plane_ids, len(self._plane_ids)
        rates = [max(r, 0.0) for r in self._rate]
        total = sum(rates)
        base = [b or 0.0 for b in self._baseline]
        base_total = sum(base)
        tors = [t for name, t in self._switches.items() if t.plane == i and t.server_total]
        tors_total = max(len(tors), sum(1 for s in self.inventory.switches_in(ids[i]) if s.role == "tor"))
        affected = sorted(
            ((name, t) for name, t in self._switches.items() if t.plane == i and t.server_down + t.uplink_down),
            key=lambda item: (-(item[1].server_down + item[1].uplink_down), item[0]),
        )[: self.config.top_switches]
        last = self._last_counter[i]
        return {
            "plane_name": self.inventory.plane_name(ids[i]),
            "servers_down": health.servers_down,
            "servers_total": health.servers_total,
            "server_fraction": round(health.session_fraction, 4),
            "port_fraction": round(health.port_fraction, 4),
            "port_fraction_excess": round(health.port_excess, 4),
            "servers_excluded": len(self._excluded),
            "sessions_down": self._sessions_down[i],
            "sessions_total": self._sessions_total[i],
            "server_ports_down": health.server_ports_down,
            "server_ports_total": health.server_ports_total,
            "uplinks_down": self._uplinks_down[i],
            "uplinks_total": self._uplinks[i],
            "tors_down": sum(1 for t in tors if t.server_down == t.server_total),
            "tors_total": tors_total,
            "share_now": round(rates[i] / total, 4) if total > 0 else None,
            "share_before": round(base[i] / base_total, 4) if base_total > 0 else None,
            "other_planes_share": {
                str(ids[j]): round(rates[j] / total, 4) for j in range(n) if j != i
            } if total > 0 else {},
            "other_planes_share_before": {
                str(ids[j]): round(base[j] / base_total, 4) for j in range(n) if j != i
            } if base_total > 0 else {},
            "top_switches": [
                {"switch": name, "server_ports_down": t.server_down, "server_ports_total": t.server_total,
                 "uplinks_down": t.uplink_down, "uplinks_total": t.uplink_total}
                for name, t in affected
            ],
            "silent": health.silent,
            "seconds_since_counters": round(self._clock - last, 3) if last is not None and self._clock is not None else None,
            "share_collapsed": health.collapsed,
        }

    def _summary(self, transition: Transition, health: PlaneHealth, ev: dict[str, Any], life: Lifecycle,
                 kind: str = KIND) -> str:
        head = f"plane {health.plane} ({ev['plane_name']})"
        if kind == DEGRADED_KIND:
            facts = (
                f"{ev['servers_down']}/{ev['servers_total']} servers ({ev['server_fraction']:.0%}) lost the plane, "
                f"{ev['server_ports_down']}/{ev['server_ports_total']} server ports down "
                f"({ev['port_fraction_excess']:.0%} beyond the other planes)"
            )
            if transition is Transition.FIRE:
                return f"{head} degraded: {facts}"
            assert life.ended_at is not None
            if ev.get("superseded_by"):
                return f"{head} degraded → failed outright after {life.ended_at - life.started_at:.0f}s (see plane_failure)"
            return f"{head} no longer degraded after {life.ended_at - life.started_at:.0f}s: {facts}"
        share = "unknown" if ev["share_now"] is None else f"{ev['share_now']:.2f}"
        if ev["share_before"] is not None:
            share += f" (was {ev['share_before']:.2f})"
        facts = (
            f"{ev['servers_down']}/{ev['servers_total']} servers lost BGP, "
            f"{ev['tors_down']}/{ev['tors_total']} ToRs' server ports down, traffic share {share}"
        )
        if health.silent:
            facts += ", counters silent"
        if transition is Transition.FIRE:
            return f"{head} failed: {facts}"
        assert life.ended_at is not None
        return f"{head} recovered after {life.ended_at - life.started_at:.0f}s: {facts}"

"""Link imbalance: traffic that is not spread over the planes (or over a ToR's uplinks) the way ECMP should.

In a healthy multi-plane Calico fabric every server spreads its traffic with ECMP over
the N planes, so each plane carries ~1/N of the fabric's bytes, and each ToR spreads its
rack's traffic evenly over its uplinks to the plane's spines. This detector watches three
things, each its own ``link_imbalance`` finding (distinguished by ``subject``):

* **plane share** (subject ``""``): a plane whose share of the bytes on server-facing ToR
  ports (in + out) deviates from ``1/N`` by more than ``share_tolerance`` × 1/N for
  ``raise_hold`` seconds. One finding per plane; evidence has every plane's share, the
  expected share and the servers that contribute most to the deviation.
* **uplink spread** (subject ``"uplinks"``, severity ``warning``): a ToR whose uplinks carry
  unequal loads — coefficient of variation of its working uplinks' byte rates at or above
  ``uplink_cv_raise`` (for two uplinks: one carries 3× the other). One finding per plane,
  listing the worst ToRs and the plane-wide spread.
* **servers not spreading** (severity ``warning``): servers whose own per-plane split
  deviates from the fabric's by ``server_tolerance`` × 1/n. Servers are attributed through
  :meth:`~planewatch.inventory.Inventory.server_on_port` (the inventory's ``Server.ports``)
  and grouped by the planes they avoid (or favour): **one** finding per such plane-set,
  whose subject is the server name(s) when at most ``few_servers`` are in it when it fires,
  else ``servers avoiding plane 2`` (and evidence lists the top servers).

A plane that a firing ``plane_failure`` (or ``plane_degraded``) finding explains — the
ensemble feeds those back as records — is taken out of N and its share is redistributed,
so the planes that rise because of it raise nothing; a firing share finding of the failed
plane itself is resolved at once as explained. The exclusion lasts ``failure_grace``
seconds past the failure's resolution, until the counters describe the recovered plane.
A plane whose share has *collapsed* (below ``collapse_ratio`` × 1/N) only raises after
``collapse_hold`` (longer than BGP's 90 s hold timer): that is the plane-failure
detector's business first.

Cost: a record is O(1) (O(planes) for a server port, O(uplinks) for a ToR uplink);
the lifecycles are judged every ``evaluate_interval`` of event time, O(planes + groups);
only a lifecycle transition, or a plane failure starting or ending, walks the servers.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Callable, Self

import msgspec

from planewatch.counters import counter_rate
from planewatch.inventory import Inventory
from planewatch.schemas.records import Finding, InterfaceStatus, PortCounters, Record, Watermark
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

__all__ = ["KIND", "KINDS", "ImbalanceConfig", "ImbalanceDetector"]

KIND = "link_imbalance"
KINDS = (KIND,)
UPLINKS_SUBJECT = "uplinks"
_STATE_VERSION = 1

_SERVER, _UPLINK, _OTHER = 0, 1, 2


class ImbalanceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds and timings of the link-imbalance detector (event-time seconds).

    Everything is relative (to 1/N, to a ToR's mean uplink rate, to the fabric's split),
    so the defaults hold for any number of planes and servers.
    """

    share_tolerance: float = 0.35
    """A plane's share deviating from 1/N by this fraction of 1/N raises (0.35: with 4 planes,
    below 0.1625 or above 0.3375). ECMP noise across thousands of servers is ~1 %."""
    share_clear: float = 0.2
    """…and the deviation must fall below this fraction of 1/N to clear."""
    raise_hold: float = 20.0
    """How long a plane's share must stay out of tolerance before the finding fires."""
    collapse_ratio: float = 0.3
    """A share below ``ratio × 1/N`` has collapsed: a plane failure is the likelier cause …"""
    collapse_hold: float = 120.0
    """… so it must last this long (longer than BGP's 90 s hold timer) before it is called an imbalance."""
    critical_deviation: float = 1.0
    """A plane share off by this fraction of 1/N (or more) fires as ``critical``; less as ``warning``."""
    uplink_cv_raise: float = 0.5
    """Coefficient of variation of a ToR's working uplinks' rates that marks it skewed (2 uplinks: 3:1)."""
    uplink_cv_clear: float = 0.3
    """…and below which the ToR counts as balanced again."""
    uplink_min_rate: float = 1e6
    """A ToR whose uplinks average less than this many bytes/s is too idle to judge."""
    uplink_hold: float = 60.0
    """A plane's ToR(s) must stay skewed this long before the uplink finding fires."""
    min_skewed_tors: int = 1
    """How many skewed ToRs a plane needs for the uplink finding."""
    server_tolerance: float = 0.5
    """A server whose share of some plane deviates from the fabric's by this fraction of 1/n
    (n: planes it can use) is not spreading its traffic (single servers are noisier than the fabric)."""
    server_clear: float = 0.3
    """…and below which it counts as spreading again."""
    server_min_rate: float = 1e6
    """Servers sending+receiving less than this many bytes/s are too idle to judge."""
    server_hold: float = 60.0
    """A plane-set must have unbalanced servers this long before its finding fires."""
    few_servers: int = 3
    """A plane-set finding with at most this many servers when it fires names them as its subject."""
    top_servers: int = 10
    """How many servers (and ToRs) the evidence lists."""
    resolve_hold: float = 30.0
    """The clear condition must hold this long before a finding resolves."""
    warmup: float = 25.0
    """Nothing is judged until counters have flowed this long (every port needs two samples for a
    rate: 2.5 × the usual 10 s gNMI sampling interval)."""
    coverage: float = 0.9
    """A plane is only compared while it has rates for at least this fraction of the most-covered
    plane's server ports (a ToR that stopped reporting would otherwise look like an imbalance)."""
    evaluate_interval: float = 1.0
    """How often (event time) the lifecycles are judged; Watermarks also judge them."""
    failure_grace: float = 60.0
    """A plane stays out of N this long after its plane failure resolved (its rates catch up)."""
    explained_by: tuple[str, ...] = ("plane_failure", "plane_degraded")
    """Finding kinds that, while firing for a plane, explain (and suppress) its imbalance."""

    def __post_init__(self) -> None:
        problems = []
        for raise_name, clear_name in (("share_tolerance", "share_clear"), ("uplink_cv_raise", "uplink_cv_clear"),
                                       ("server_tolerance", "server_clear")):
            raise_at, clear = getattr(self, raise_name), getattr(self, clear_name)
            if not 0 < clear <= raise_at:
                problems.append(f"need 0 < {clear_name} ({clear}) <= {raise_name} ({raise_at})")
        if not 0 <= self.collapse_ratio < 1:
            problems.append("collapse_ratio must be in [0, 1)")
        if self.evaluate_interval <= 0:
            problems.append("evaluate_interval must be > 0")
        for name in ("raise_hold", "collapse_hold", "uplink_hold", "server_hold", "resolve_hold", "warmup",
                     "failure_grace", "uplink_min_rate", "server_min_rate"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not 0 <= self.coverage <= 1:
            problems.append("coverage must be in [0, 1]")
        if self.min_skewed_tors < 1 or self.few_servers < 0 or self.top_servers < 1:
            problems.append("min_skewed_tors and top_servers must be >= 1, few_servers >= 0")
        if problems:
            raise ValueError("invalid ImbalanceConfig: " + "; ".join(problems))


# -- mutable working state ---------------------------------------------------------------


class _Port:
    __slots__ = ("name", "ts", "octets", "rate", "plane", "kind", "owner", "up", "status_ts")

    def __init__(self, name: str, plane: int, kind: int, owner: int):
        self.name = name
        self.ts: float | None = None
        self.octets = 0
        self.rate: float | None = None
        self.plane, self.kind, self.owner = plane, kind, owner
        self.up = True
        self.status_ts: float | None = None


class _Server:
    __slots__ = ("name", "rates", "up", "key")

    def __init__(self, name: str, planes: int):
        self.name = name
        self.rates: list[float | None] = [None] * planes
        self.up = [True] * planes
        self.key: tuple[str, tuple[int, ...]] | None = None
        """The plane-set group the server is in while it is not spreading (None: it is)."""


class _Tor:
    __slots__ = ("name", "plane", "uplinks", "cv", "skewed")

    def __init__(self, name: str, plane: int):
        self.name, self.plane = name, plane
        self.uplinks: list[_Port] = []
        self.cv: float | None = None
        self.skewed = False


class _Subject(msgspec.Struct, kw_only=True):
    """A finding subject's lifecycle, when its excursion began, and (groups) the subject it fired with."""

    life: Lifecycle = msgspec.field(default_factory=Lifecycle)
    since: float | None = None
    subject: str = ""


class _Group:
    __slots__ = ("members", "state")

    def __init__(self) -> None:
        self.members: set[int] = set()
        self.state = _Subject()


# -- snapshot layout -------------------------------------------------------------------


class _PortRow(msgspec.Struct, array_like=True):
    device: str
    port: str
    ts: float | None
    octets: int
    rate: float | None
    up: bool
    status_ts: float | None


class _GroupRow(msgspec.Struct, array_like=True):
    direction: str
    planes: list[int]
    members: list[str]
    state: _Subject


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    next_eval: float | None
    first_counter: float | None
    last_sample: float | None
    ports: list[_PortRow]
    explained: dict[int, list[str]]
    grace_until: dict[int, float]
    share: dict[int, _Subject]
    uplinks: dict[int, _Subject]
    skewed: list[str]
    groups: list[_GroupRow]


# -- the detector ----------------------------------------------------------------------


class ImbalanceDetector:
    """Per-plane traffic share, ToR uplink spread and per-server spread → ``link_imbalance`` findings.

    Feed it :class:`PortCounters`, :class:`InterfaceStatus`, :class:`Finding` (plane failures
    via the ensemble) and :class:`Watermark` records; anything else only advances the clock.
    """

    name = "imbalance"
    kinds = KINDS

    def __init__(self, inventory: Inventory, config: ImbalanceConfig | None = None):
        self.inventory = inventory
        self.config = cfg = config or ImbalanceConfig()
        self._share_hyst = Hysteresis(raise_hold=cfg.raise_hold, clear_hold=cfg.resolve_hold)
        self._collapse_hyst = Hysteresis(raise_hold=cfg.collapse_hold, clear_hold=cfg.resolve_hold)
        self._uplink_hyst = Hysteresis(raise_hold=cfg.uplink_hold, clear_hold=cfg.resolve_hold)
        self._server_hyst = Hysteresis(raise_hold=cfg.server_hold, clear_hold=cfg.resolve_hold)
        self._share_band = Band(cfg.share_tolerance, cfg.share_clear)
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        n = len(self._plane_ids)
        self._clock: float | None = None
        self._next_eval: float | None = None
        self._first_counter: float | None = None
        self._last_sample: float | None = None
        """Event time of the latest rated sample: when a deviation judged later first became visible."""
        self._ports: dict[tuple[str, str], _Port] = {}
        self._plane_rate = [0.0] * n
        self._rated = [0] * n
        self._servers: list[_Server] = []
        self._server_index: dict[str, int] = {}
        self._tors: list[_Tor] = []
        self._tor_index: dict[str, int] = {}
        self._skewed = [0] * n
        self._explained: list[set[str]] = [set() for _ in range(n)]
        self._grace_until: list[float | None] = [None] * n
        self._usable = list(range(n))
        self._share = [_Subject() for _ in range(n)]
        self._uplinks = [_Subject() for _ in range(n)]
        self._groups: dict[tuple[str, tuple[int, ...]], _Group] = {}
        self._handlers: dict[type, Callable[[Any], list[Finding]]] = {
            PortCounters: self._on_counters,
            InterfaceStatus: self._on_status,
            Finding: self._on_finding,
        }

    # -- public API ----------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        handler = self._handlers.get(type(record))
        findings = handler(record) if handler is not None else []
        if self._next_eval is None:
            self._next_eval = self._clock + self.config.evaluate_interval
        elif self._clock >= self._next_eval or type(record) is Watermark:
            if self._clock >= self._next_eval:
                interval = self.config.evaluate_interval
                self._next_eval = (math.floor(self._clock / interval) + 1) * interval
            findings = findings + self._evaluate()
        return findings

    def shares(self) -> dict[int, float]:
        """Current share of each plane still counted in N (empty before any traffic)."""
        total = sum(self._plane_rate[i] for i in self._usable)
        if total <= 0:
            return {}
        return {self._plane_ids[i]: self._plane_rate[i] / total for i in self._usable}

    def unbalanced_servers(self) -> dict[str, tuple[str, tuple[int, ...]]]:
        """Servers currently not spreading their traffic, with the plane-set they avoid/favour."""
        return {s.name: s.key for s in self._servers if s.key is not None}

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        state = _State(
            clock=self._clock,
            next_eval=self._next_eval,
            first_counter=self._first_counter,
            last_sample=self._last_sample,
            ports=[_PortRow(dev, name, p.ts, p.octets, p.rate, p.up, p.status_ts)
                   for (dev, name), p in self._ports.items() if p.kind != _OTHER],
            explained={ids[i]: sorted(kinds) for i, kinds in enumerate(self._explained) if kinds},
            grace_until={ids[i]: t for i, t in enumerate(self._grace_until) if t is not None},
            share={ids[i]: s for i, s in enumerate(self._share)},
            uplinks={ids[i]: s for i, s in enumerate(self._uplinks)},
            skewed=[t.name for t in self._tors if t.skewed],
            groups=[_GroupRow(key[0], list(key[1]), sorted(self._servers[m].name for m in g.members), g.state)
                    for key, g in self._groups.items()],
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: ImbalanceConfig | None, state: bytes) -> Self:
        """Rebuild a detector from :meth:`snapshot` bytes (planes no longer in ``inventory`` are dropped)."""
        saved = decode_state(state, cls.name, _STATE_VERSION, _State)
        self = cls(inventory, config)
        index = self._index
        self._clock, self._next_eval, self._first_counter = saved.clock, saved.next_eval, saved.first_counter
        self._last_sample = saved.last_sample
        for plane, kinds in saved.explained.items():
            if plane in index:
                self._explained[index[plane]] = set(kinds)
        for plane, t in saved.grace_until.items():
            if plane in index:
                self._grace_until[index[plane]] = t
        self._usable = self._usable_planes()
        for plane, subject in saved.share.items():
            if plane in index:
                self._share[index[plane]] = subject
        for plane, subject in saved.uplinks.items():
            if plane in index:
                self._uplinks[index[plane]] = subject
        for row in saved.ports:
            port = self._port(row.device, row.port, 0)
            if port is None or port.kind == _OTHER:
                continue
            port.ts, port.octets, port.up, port.status_ts = row.ts, row.octets, row.up, row.status_ts
            if port.kind == _SERVER and port.owner >= 0:
                self._servers[port.owner].up[port.plane] = row.up
            if row.rate is not None:
                port.rate = row.rate
                if port.kind == _SERVER:
                    self._plane_rate[port.plane] += row.rate
                    self._rated[port.plane] += 1
                    if port.owner >= 0:
                        self._servers[port.owner].rates[port.plane] = row.rate
        skewed = set(saved.skewed)
        for tor in self._tors:
            tor.cv = self._tor_cv(tor)
            if tor.name in skewed:
                tor.skewed = True
                self._skewed[tor.plane] += 1
        for row in saved.groups:
            key = (row.direction, tuple(row.planes))
            group = self._groups[key] = _Group()
            group.state = row.state
            for name in row.members:
                s = self._server_index.get(name)
                if s is None:
                    s = self._add_server(name)
                self._servers[s].key = key
                group.members.add(s)
        return self

    # -- records -------------------------------------------------------------------
    def _port(self, device: str, name: str, record_plane: int) -> _Port | None:
        """The state of one switch port, classified once (server port / ToR uplink / other)."""
        key = (device, name)
        port = self._ports.get(key)
        if port is not None:
            return port
        switch = self.inventory.switches.get(device)
        if switch is None:
            port = _Port(name, 0, _OTHER, -1)
        else:
            i = self._index.get(self.inventory.plane_of_switch(device), self._index.get(record_plane))
            if i is None or switch.role != "tor":
                port = _Port(name, 0, _OTHER, -1)
            elif name in switch.uplinks:
                t = self._tor_index.get(device)
                if t is None:
                    t = self._tor_index[device] = len(self._tors)
                    self._tors.append(_Tor(device, i))
                port = _Port(name, i, _UPLINK, t)
                self._tors[t].uplinks.append(port)
            else:
                server = self.inventory.server_on_port(device, name)
                owner = -1
                if server is not None:
                    owner = self._server_index.get(server, -1)
                    if owner < 0:
                        owner = self._add_server(server)
                port = _Port(name, i, _SERVER, owner)
        self._ports[key] = port
        return port

    def _add_server(self, name: str) -> int:
        s = self._server_index[name] = len(self._servers)
        self._servers.append(_Server(name, len(self._plane_ids)))
        return s

    def _on_counters(self, r: PortCounters) -> list[Finding]:
        port = self._ports.get((r.device, r.port)) or self._port(r.device, r.port, r.plane)
        assert port is not None
        kind = port.kind
        if kind == _OTHER:
            return []
        ts = r.ts
        octets = r.in_octets + r.out_octets
        if port.ts is None:
            port.ts, port.octets = ts, octets
            if self._first_counter is None:
                self._first_counter = ts
            return []
        if ts <= port.ts:
            return []  # duplicate or late sample
        rate = counter_rate(port.octets, port.ts, octets, ts).per_second
        port.ts, port.octets = ts, octets
        if rate is None:
            return []  # a reset: keep the last known rate
        old = port.rate
        port.rate = rate
        self._last_sample = ts
        i = port.plane
        if kind == _SERVER:
            if old is None:
                self._rated[i] += 1
                self._plane_rate[i] += rate
            else:
                self._plane_rate[i] += rate - old
            if port.owner >= 0:
                self._servers[port.owner].rates[i] = rate
                self._judge_server(port.owner)
        else:
            self._judge_tor(self._tors[port.owner])
        return []

    def _on_status(self, r: InterfaceStatus) -> list[Finding]:
        port = self._port(r.device, r.port, r.plane)
        if port is None or port.kind == _OTHER:
            return []
        if port.status_ts is not None and r.ts < port.status_ts:
            return []
        port.status_ts = r.ts
        up = r.oper_status == "UP"
        if up == port.up:
            return []
        port.up = up
        if port.kind == _SERVER:
            if port.owner >= 0:
                self._servers[port.owner].up[port.plane] = up
                self._judge_server(port.owner)
        else:
            self._judge_tor(self._tors[port.owner])
        return []

    def _on_finding(self, f: Finding) -> list[Finding]:
        """A plane failure starting or ending changes which planes count in N."""
        flipped = explanation_flipped(self._explained, self._index, self.config.explained_by, f)
        if flipped is None:
            return []
        i, kinds = flipped
        out: list[Finding] = []
        if kinds:
            self._grace_until[i] = None
            out += self._explain_away(i, f)
        else:
            self._grace_until[i] = f.ts + self.config.failure_grace
        self._replan()
        return out

    # -- judging servers and ToRs (per record) -------------------------------------
    def _ready(self) -> bool:
        first, clock = self._first_counter, self._clock
        return first is not None and clock is not None and clock - first >= self.config.warmup

    def _judge_server(self, s: int) -> None:
        """Is server ``s`` spreading its traffic like the fabric does? O(planes)."""
        srv = self._servers[s]
        if self._first_counter is None or self._clock - self._first_counter < self.config.warmup:  # type: ignore[operator]
            dev = None
        else:
            dev = self._quick_deviation(srv)
        cfg = self.config
        key = srv.key
        if key is None:
            if dev is not None and dev >= cfg.server_tolerance:
                _, shares, refs = self._server_deviation(srv)
                self._move(s, srv, self._server_key(shares, refs))
        elif dev is None or dev < cfg.server_clear:
            self._move(s, srv, None)
        elif dev >= cfg.server_tolerance:
            _, shares, refs = self._server_deviation(srv)
            new = self._server_key(shares, refs)
            if new != key:
                self._move(s, srv, new)

    def _quick_deviation(self, srv: _Server) -> float | None:
        """:meth:`_server_deviation` without building dicts: the per-record hot path."""
        rates, up, plane_rate = srv.rates, srv.up, self._plane_rate
        total = ref_total = 0.0
        n = 0
        for i in self._usable:
            if up[i]:
                r = rates[i]
                if r is None:
                    return None
                total += r
                ref_total += plane_rate[i]
                n += 1
        if n < 2 or total < self.config.server_min_rate or ref_total <= 0:
            return None
        worst = 0.0
        for i in self._usable:
            if up[i]:
                d = abs(rates[i] / total - plane_rate[i] / ref_total)  # type: ignore[operator]
                if d > worst:
                    worst = d
        return worst * n

    def _server_deviation(self, srv: _Server) -> tuple[float | None, dict[int, float], dict[int, float]]:
        """Largest |server share − fabric share| of a plane, in units of 1/n (n: planes the server can use)."""
        if not self._ready():
            return None, {}, {}
        rates, plane_rate = srv.rates, self._plane_rate
        total = ref_total = 0.0
        usable = []
        for i in self._usable:
            if not srv.up[i]:
                continue
            r = rates[i]
            if r is None:
                return None, {}, {}
            usable.append(i)
            total += r
            ref_total += plane_rate[i]
        n = len(usable)
        if n < 2 or total < self.config.server_min_rate or ref_total <= 0:
            return None, {}, {}
        shares = {i: rates[i] / total for i in usable}  # type: ignore[operator]
        refs = {i: plane_rate[i] / ref_total for i in usable}
        return max(abs(shares[i] - refs[i]) for i in usable) * n, shares, refs

    def _server_key(self, shares: dict[int, float], refs: dict[int, float]) -> tuple[str, tuple[int, ...]]:
        n, tol, ids = len(shares), self.config.server_tolerance, self._plane_ids
        avoided = tuple(ids[i] for i in shares if (refs[i] - shares[i]) * n >= tol)
        if avoided:
            return ("avoiding", avoided)
        return ("favouring", tuple(ids[i] for i in shares if (shares[i] - refs[i]) * n >= tol))

    def _move(self, s: int, srv: _Server, key: tuple[str, tuple[int, ...]] | None) -> None:
        if srv.key is not None:
            group = self._groups.get(srv.key)
            if group is not None:
                group.members.discard(s)
        srv.key = key
        if key is not None:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group()
            group.members.add(s)

    def _tor_cv(self, tor: _Tor) -> float | None:
        """Coefficient of variation of the ToR's working uplinks' rates (None: fewer than 2, or idle)."""
        rates = [p.rate for p in tor.uplinks if p.up and p.rate is not None]
        if len(rates) < 2:
            return None
        mean = sum(rates) / len(rates)
        if mean <= 0 or mean < self.config.uplink_min_rate:
            return None
        var = sum((r - mean) ** 2 for r in rates) / len(rates)
        return math.sqrt(var) / mean

    def _judge_tor(self, tor: _Tor) -> None:
        cfg = self.config
        cv = tor.cv = self._tor_cv(tor)
        skewed = tor.skewed
        if cv is None or cv < cfg.uplink_cv_clear:
            skewed = False
        elif cv >= cfg.uplink_cv_raise:
            skewed = True
        if skewed != tor.skewed:
            tor.skewed = skewed
            self._skewed[tor.plane] += 1 if skewed else -1

    # -- planes in N -----------------------------------------------------------------
    def _usable_planes(self) -> list[int]:
        clock = self._clock
        return [
            i for i in range(len(self._plane_ids))
            if not self._explained[i] and (self._grace_until[i] is None or clock is None or clock >= self._grace_until[i])
        ]

    def _replan(self) -> None:
        """The set of planes in N changed: re-judge every server against it (rare: O(servers × planes))."""
        usable = self._usable_planes()
        if usable == self._usable:
            return
        self._usable = usable
        for s in range(len(self._servers)):
            self._judge_server(s)

    def _explain_away(self, i: int, cause: Finding) -> list[Finding]:
        """A plane failure explains the plane's firing share finding: resolve it now, saying so."""
        state = self._share[i]
        if not state.life.firing:
            state.life.raising_since = None
            state.since = None
            return []
        assert self._clock is not None
        life = state.life
        life.firing, life.ended_at, life.clearing_since, life.raising_since = False, self._clock, None, None
        state.since = None
        evidence = self._share_evidence(i, self._current_shares())
        evidence["explained_by"] = {"kind": cause.kind, "fingerprint": cause.fingerprint}
        plane = self._plane_ids[i]
        return [make_finding(
            kind=KIND, plane=plane, transition=Transition.RESOLVE, life=life, ts=self._clock, severity="warning",
            summary=f"plane {plane} ({self.inventory.plane_name(plane)}) traffic share imbalance explained by {cause.kind}",
            evidence=evidence,
        )]

    # -- lifecycles ------------------------------------------------------------------
    def _current_shares(self) -> dict[int, float]:
        total = sum(self._plane_rate[i] for i in self._usable)
        return {i: self._plane_rate[i] / total for i in self._usable} if total > 0 else {}

    def _comparable(self) -> bool:
        if not self._ready() or len(self._usable) < 2:
            return False
        most = max(self._rated[i] for i in self._usable)
        return most > 0 and all(self._rated[i] >= self.config.coverage * most for i in self._usable)

    def _evaluate(self) -> list[Finding]:
        if self._grace_until and any(g is not None for g in self._grace_until):
            for i, g in enumerate(self._grace_until):
                if g is not None and self._clock is not None and self._clock >= g:
                    self._grace_until[i] = None
            self._replan()
        findings: list[Finding] = []
        findings += self._evaluate_shares()
        findings += self._evaluate_uplinks()
        findings += self._evaluate_servers()
        return findings

    def _seen_at(self, now: float) -> float:
        """When a condition judged ``now`` became visible: the latest sample's time (not the judging tick)."""
        last = self._last_sample
        return now if last is None or last > now else last

    def _evaluate_shares(self) -> list[Finding]:
        cfg, now = self.config, self._clock
        assert now is not None
        comparable = self._comparable()
        shares = self._current_shares() if comparable else {}
        expected = 1.0 / len(self._usable) if self._usable else 0.0
        out = []
        for i, state in enumerate(self._share):
            if i in shares:
                deviation = abs(shares[i] - expected) / expected
                raising, clearing = self._share_band.raising(deviation), self._share_band.clearing(deviation)
                collapsed = shares[i] < cfg.collapse_ratio * expected
            elif i not in self._usable:  # out of N (a plane failure explains it): nothing to say
                raising, clearing, collapsed = False, True, False
            else:  # not comparable right now (warm-up, a ToR not reporting): hold whatever state it is in
                raising, clearing, collapsed = False, False, False
            if clearing and not state.life.firing:
                state.since = None
            elif not clearing and state.since is None and i in shares:
                state.since = self._seen_at(now)
            hyst = self._collapse_hyst if collapsed else self._share_hyst
            transition = hyst.step(state.life, now, raising=raising, clearing=clearing)
            if transition is None:
                continue
            if transition is Transition.FIRE:
                state.life.started_at = state.since if state.since is not None else now
            else:
                state.since = None
            evidence = self._share_evidence(i, shares or self._current_shares())
            plane = self._plane_ids[i]
            severity = "critical" if evidence["deviation"] is not None and evidence["deviation"] >= cfg.critical_deviation else "warning"
            head = f"plane {plane} ({self.inventory.plane_name(plane)})"
            share = evidence["share"]
            if transition is Transition.FIRE:
                direction = "more" if share is not None and share > expected else "less"
                summary = (f"{head} carries {direction} than its share of traffic: "
                           f"{_pct(share)} vs {_pct(expected)} expected over {len(self._usable)} planes")
            else:
                summary = f"{head} traffic share back to {_pct(share)} (expected {_pct(expected)})"
            out.append(make_finding(kind=KIND, plane=plane, transition=transition, life=state.life, ts=now,
                                    severity=severity, summary=summary, evidence=evidence))
        return out

    def _share_evidence(self, i: int, shares: dict[int, float]) -> dict[str, Any]:
        """Every plane's share, the expected share, and the servers moving this plane's share most."""
        ids = self._plane_ids
        expected = 1.0 / len(self._usable) if self._usable else None
        share = shares.get(i)
        deviation = round(abs(share - expected) / expected, 4) if share is not None and expected else None
        top = []
        if share is not None and expected is not None:
            over = share > expected
            candidates = []
            for srv in self._servers:
                rates = [srv.rates[j] for j in self._usable if srv.up[j]]
                if srv.rates[i] is None or any(r is None for r in rates) or not rates:
                    continue
                total = sum(rates)  # type: ignore[arg-type]
                excess = srv.rates[i] - total / len(rates)  # type: ignore[operator]
                candidates.append((excess if over else -excess, srv.name, srv.rates[i], total))
            for excess, name, rate, total in heapq.nlargest(self.config.top_servers, candidates):
                if excess <= 0:
                    break
                top.append({"server": name, "plane_bytes_per_s": round(rate), "share": round(rate / total, 4) if total else None,
                            "excess_bytes_per_s": round(excess)})
        return {
            "plane_name": self.inventory.plane_name(ids[i]),
            "share": round(share, 4) if share is not None else None,
            "expected_share": round(expected, 4) if expected is not None else None,
            "deviation": deviation,
            "shares": {str(ids[j]): round(s, 4) for j, s in shares.items()},
            "bytes_per_s": {str(ids[j]): round(self._plane_rate[j]) for j in range(len(ids))},
            "excluded_planes": {str(ids[j]): sorted(k) for j, k in enumerate(self._explained) if k},
            "tolerance": self.config.share_tolerance,
            "top_servers": top,
        }

    def _evaluate_uplinks(self) -> list[Finding]:
        cfg, now = self.config, self._clock
        assert now is not None
        out = []
        for i, state in enumerate(self._uplinks):
            count = self._skewed[i] if i in self._usable else 0
            raising, clearing = count >= cfg.min_skewed_tors, count == 0
            if clearing and not state.life.firing:
                state.since = None
            elif count and state.since is None:
                state.since = self._seen_at(now)
            transition = self._uplink_hyst.step(state.life, now, raising=raising, clearing=clearing)
            if transition is None:
                continue
            if transition is Transition.FIRE:
                state.life.started_at = state.since if state.since is not None else now
            else:
                state.since = None
            evidence = self._uplink_evidence(i)
            plane = self._plane_ids[i]
            head = f"plane {plane} ({self.inventory.plane_name(plane)})"
            if transition is Transition.FIRE:
                worst = evidence["worst_tors"][0] if evidence["worst_tors"] else None
                summary = f"{head}: {count} ToR(s) spread traffic unevenly over their uplinks"
                if worst:
                    summary += f" (worst {worst['switch']}, CV {worst['cv']:.2f})"
            else:
                summary = f"{head}: ToR uplinks evenly loaded again"
            out.append(make_finding(kind=KIND, plane=plane, transition=transition, life=state.life, ts=now,
                                    severity="warning", summary=summary, evidence=evidence, subject=UPLINKS_SUBJECT))
        return out

    def _uplink_evidence(self, i: int) -> dict[str, Any]:
        tors = [t for t in self._tors if t.plane == i]
        worst = heapq.nlargest(self.config.top_servers, (t for t in tors if t.cv is not None), key=lambda t: t.cv)
        rates = sorted(p.rate for t in tors for p in t.uplinks if p.up and p.rate is not None)
        plane_cv = None
        max_over_median = None
        if len(rates) >= 2:
            mean = sum(rates) / len(rates)
            if mean > 0:
                plane_cv = round(math.sqrt(sum((r - mean) ** 2 for r in rates) / len(rates)) / mean, 4)
            median = rates[len(rates) // 2]
            max_over_median = round(rates[-1] / median, 3) if median > 0 else None
        return {
            "plane_name": self.inventory.plane_name(self._plane_ids[i]),
            "skewed_tors": self._skewed[i],
            "tors": len(tors),
            "cv_raise": self.config.uplink_cv_raise,
            "worst_tors": [
                {"switch": t.name, "cv": round(t.cv, 4), "skewed": t.skewed,  # type: ignore[arg-type]
                 "uplinks": {p.name: (round(p.rate) if p.rate is not None else None) for p in t.uplinks}}
                for t in worst
            ],
            "plane_uplink_cv": plane_cv,
            "plane_uplink_max_over_median": max_over_median,
        }

    def _evaluate_servers(self) -> list[Finding]:
        cfg, now = self.config, self._clock
        assert now is not None
        out = []
        for key in list(self._groups):
            group = self._groups[key]
            state = group.state
            count = len(group.members)
            if count and state.since is None:
                state.since = self._seen_at(now)
            transition = self._server_hyst.step(state.life, now, raising=count > 0, clearing=count == 0)
            if transition is None:
                if not count and not state.life.firing and state.life.raising_since is None:
                    del self._groups[key]  # nothing left to remember
                continue
            direction, planes = key
            if transition is Transition.FIRE:
                state.life.started_at = state.since if state.since is not None else now
                names = sorted(self._servers[m].name for m in group.members)
                state.subject = ",".join(names) if count <= cfg.few_servers else f"servers {direction} plane {_planes(planes)}"
            else:
                state.since = None
            evidence = self._server_evidence(key, group)
            what = f"{count} server(s)" if transition is Transition.FIRE else "servers"
            summary = (f"{what} not spreading traffic over the planes ({direction} plane {_planes(planes)})"
                       if transition is Transition.FIRE else f"servers {direction} plane {_planes(planes)} spread their traffic again")
            out.append(make_finding(kind=KIND, plane=planes[0], transition=transition, life=state.life, ts=now,
                                    severity="warning", summary=summary, evidence=evidence, subject=state.subject))
        return out

    def _server_evidence(self, key: tuple[str, tuple[int, ...]], group: _Group) -> dict[str, Any]:
        ids = self._plane_ids
        rows = []
        for m in group.members:
            srv = self._servers[m]
            dev, shares, refs = self._server_deviation(srv)
            if dev is None:
                continue
            rows.append((dev, srv.name, shares))
        rows = heapq.nlargest(self.config.top_servers, rows, key=lambda row: (row[0], row[1]))
        fabric = self._current_shares()
        return {
            "direction": key[0],
            "planes": list(key[1]),
            "servers": len(group.members),
            "fabric_shares": {str(ids[i]): round(s, 4) for i, s in fabric.items()},
            "top_servers": [{"server": name, "deviation": round(dev, 4),
                             "shares": {str(ids[i]): round(s, 4) for i, s in shares.items()}} for dev, name, shares in rows],
            "tolerance": self.config.server_tolerance,
        }


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{100 * value:.1f}%"


def _planes(planes: tuple[int, ...]) -> str:
    return ",".join(str(p) for p in planes)

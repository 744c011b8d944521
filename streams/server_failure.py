"""Server failure: one finding per server that has gone from *every* plane.

A server that loses power, panics or is rebooted is down on all planes at once: its link
on each plane drops and, one BGP hold timer later (up to 90 s, and a different one on each
plane), its sessions to every plane's route reflectors. That is a *server* failure — the
fabric is fine — and it must never be mistaken for (or add up to) a plane failure. This
detector names the server, so the plane-failure detector can leave it out (the ensemble
feeds every finding back to every detector).

Rules:

* On each plane a server is **down** when any signal it has there says so: all its
  sessions to that plane's RRs are not Established, or its server port (when the
  inventory maps it) is down. It is **gone** when it is down on every plane it is known
  on (at least ``min_planes`` of them). The finding waits for the last plane, but
  ``started_at`` is the first drop of the chain (see ``onset_gap``).
* It resolves once the server is back on any plane for ``resolve_hold`` seconds.
* Many servers gone at once (a rack losing power, a PDU) would page once per server; after
  ``burst_cap`` servers in ``burst_window`` seconds the rest are gathered into **one**
  aggregated finding (subject = their rack when they share one, else ``"many"``) listing
  them, which resolves when the last of them is back.
* O(planes) per record; state is bounded by servers × planes.
"""

from __future__ import annotations

import collections
from typing import Any, Self

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas.records import BgpSession, Finding, InterfaceStatus, Record, Watermark
from planewatch.streams.detector import (
    Hysteresis,
    Lifecycle,
    Transition,
    decode_state,
    encode_state,
    make_finding,
)

__all__ = ["KIND", "ServerFailureConfig", "ServerFailureDetector", "port_owners", "servers_of"]

KIND = "server_failure"
PLANE_FAILURE_KIND = "plane_failure"
MANY = "many"
_STATE_VERSION = 1


class ServerFailureConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Timings and limits of the server-failure detector (event-time seconds)."""

    raise_hold: float = 0.0
    """How long a server must be gone everywhere before the finding fires."""
    resolve_hold: float = 30.0
    """How long it must be back on some plane before the finding resolves."""
    onset_gap: float = 120.0
    """Per-plane drops closer than this belong to the same failure (covers BGP's 90 s hold timer)."""
    min_planes: int = 2
    """A server must be known on at least this many planes (or on all of a smaller fabric's) to count as gone."""
    burst_window: float = 120.0
    """Servers going down within this many seconds of each other count as one burst …"""
    burst_cap: int = 20
    """… and beyond this many in a burst, the rest are reported as one aggregated finding."""
    max_listed: int = 1000
    """Most servers an aggregated finding lists by name (the count is always exact)."""
    sweep_interval: float = 1.0
    """How often (event time) pending raise/resolve holds are re-checked without new data."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("raise_hold", "resolve_hold"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("onset_gap", "burst_window", "sweep_interval"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0")
        if self.min_planes < 1:
            problems.append("min_planes must be >= 1")
        if self.burst_cap < 1:
            problems.append("burst_cap must be >= 1")
        if self.max_listed < 1:
            problems.append("max_listed must be >= 1")
        if problems:
            raise ValueError("invalid ServerFailureConfig: " + "; ".join(problems))


def servers_of(finding: Finding) -> list[str]:
    """Servers a ``server_failure`` finding accounts for (the subject, or the aggregated list)."""
    listed = finding.evidence.get("servers") if finding.evidence else None
    if isinstance(listed, list):
        return [str(s) for s in listed]
    return [finding.subject] if finding.subject else []


def port_owners(inventory: Inventory) -> dict[tuple[str, str], tuple[str, int]]:
    """``(switch, port) -> (server, plane)`` for the server ports the inventory names.

    Inventories may say on which port each server sits (``servers[].ports``: per plane
    either ``"switch:port"``, a port on the ToR of the server's rack, or a mapping with
    ``switch``/``port``). Without that, only BGP tells whether a server is there.
    """
    tors: dict[tuple[int, str | None], str] = {}
    for switch in inventory.switches.values():
        if switch.role == "tor":
            tors.setdefault((inventory.plane_of_switch(switch.name), switch.rack), switch.name)
    owners: dict[tuple[str, str], tuple[str, int]] = {}
    for server in inventory.servers.values():
        ports = getattr(server, "ports", None)
        if not isinstance(ports, dict):
            continue
        for key, where in ports.items():
            try:
                plane = inventory.plane_id(key)
            except KeyError:
                continue
            switch: str | None
            if isinstance(where, str):
                switch, sep, port = where.partition(":")
                if not sep:
                    switch, port = tors.get((plane, server.rack)), where
            else:
                get = where.get if isinstance(where, dict) else lambda k, w=where: getattr(w, k, None)
                switch, port = get("switch") or get("device"), get("port")
            if switch and port:
                owners[(str(switch), str(port))] = (server.name, plane)
    return owners


# -- working state -----------------------------------------------------------------------


class _Server:
    """One server: per plane, session counts and port state; ``down`` = planes it is down on."""

    __slots__ = ("known", "est", "port", "down_since", "n_known", "n_down", "life", "reported", "grouped")

    def __init__(self, planes: int):
        self.known = [0] * planes
        self.est = [0] * planes
        self.port: list[int] = [-1] * planes  # -1 unknown, 0 down, 1 up
        self.down_since = [0.0] * planes
        self.n_known = 0
        self.n_down = 0
        self.life = Lifecycle()
        self.reported = False  # an individual finding is firing
        self.grouped = False  # counted in the firing aggregated finding

    def plane_state(self, i: int) -> tuple[bool, bool]:
        """(known, down) on plane ``i``."""
        sessions, port = self.known[i] > 0, self.port[i]
        known = sessions or port >= 0
        down = (sessions and self.est[i] == 0) or port == 0
        return known, down


class _Group(msgspec.Struct, kw_only=True):
    """The aggregated finding of a burst: who is in it and how many are still gone."""

    subject: str
    life: Lifecycle
    members: list[str]
    remaining: int
    last_back: float = 0.0


class _SessionRow(msgspec.Struct, array_like=True):
    node: str
    peer_ip: str
    plane: int
    ts: float
    established: bool


class _ServerRow(msgspec.Struct, array_like=True):
    name: str
    ports: list[int]
    down_since: list[float]
    life: Lifecycle
    reported: bool
    grouped: bool


class _State(msgspec.Struct, kw_only=True):
    clock: float | None
    planes: list[int]
    sessions: list[_SessionRow]
    servers: list[_ServerRow]
    port_ts: dict[str, float]
    burst: list[tuple[float, str]]
    group: _Group | None
    failed_planes: list[int] = []


# -- the detector ----------------------------------------------------------------------------


class ServerFailureDetector:
    """Joins each server's BGP sessions (and mapped ports) across planes into server-failure findings.

    Feed it :class:`BgpSession`, :class:`InterfaceStatus` and :class:`Watermark` records;
    anything else only advances the event clock.
    """

    name = KIND

    def __init__(self, inventory: Inventory, config: ServerFailureConfig | None = None):
        self.inventory = inventory
        self.config = config or ServerFailureConfig()
        self._raise = Hysteresis(raise_hold=self.config.raise_hold, clear_hold=self.config.resolve_hold)
        self._plane_ids = list(inventory.plane_ids)
        self._index = {plane: i for i, plane in enumerate(self._plane_ids)}
        self._min_planes = min(self.config.min_planes, len(self._plane_ids))
        self._owners = port_owners(inventory)
        self._clock: float | None = None
        self._next_sweep: float | None = None
        self._sessions: dict[tuple[str, str], list[Any]] = {}  # (node, peer) -> [ts, plane index, established]
        self._port_ts: dict[tuple[str, str], float] = {}
        self._servers: dict[str, _Server] = {}
        self._pending: set[str] = set()  # servers with a raise or resolve hold running
        self._burst: collections.deque[tuple[float, str]] = collections.deque()
        self._group: _Group | None = None
        self._failed_planes: set[int] = set()  # plane indexes with a firing plane_failure finding

    # -- public API ------------------------------------------------------------------
    def feed(self, record: Record) -> list[Finding]:
        if isinstance(record, Finding):
            if record.kind == PLANE_FAILURE_KIND and record.plane in self._index:
                if record.status == "firing":
                    self._failed_planes.add(self._index[record.plane])
                else:
                    self._failed_planes.discard(self._index[record.plane])
            return []
        ts = record.ts
        if self._clock is None or ts > self._clock:
            self._clock = ts
        findings: list[Finding] = []
        kind = type(record)
        node: str | None = None
        if kind is BgpSession:
            node = self._on_session(record)  # type: ignore[arg-type]
        elif kind is InterfaceStatus and self._owners:
            node = self._on_interface(record)  # type: ignore[arg-type]
        if node is not None:
            findings += self._evaluate(node)
        if self._pending and (kind is Watermark or self._next_sweep is None or self._clock >= self._next_sweep):
            self._next_sweep = self._clock + self.config.sweep_interval
            for name in sorted(self._pending):
                findings += self._evaluate(name)
        return findings

    def gone(self) -> list[str]:
        """Servers currently down on every plane they are known on (sorted)."""
        return sorted(name for name, s in self._servers.items() if self._is_gone(s))

    def snapshot(self) -> bytes:
        ids = self._plane_ids
        state = _State(
            clock=self._clock,
            planes=ids,
            sessions=[_SessionRow(node, peer, ids[s[1]], s[0], s[2]) for (node, peer), s in self._sessions.items()],
            servers=[_ServerRow(name, list(s.port), list(s.down_since), s.life, s.reported, s.grouped)
                     for name, s in self._servers.items()],
            port_ts={f"{dev}\x1f{port}": ts for (dev, port), ts in self._port_ts.items()},
            burst=list(self._burst),
            group=self._group,
            failed_planes=sorted(ids[i] for i in self._failed_planes),
        )
        return encode_state(self.name, _STATE_VERSION, state)

    @classmethod
    def restore(cls, inventory: Inventory, config: ServerFailureConfig | None, state: bytes) -> Self:
        saved = decode_state(state, KIND, _STATE_VERSION, _State)
        self = cls(inventory, config)
        self._clock = saved.clock
        remap = [self._index.get(p) for p in saved.planes]
        for row in saved.sessions:
            i = self._index.get(row.plane)
            if i is not None:
                self._sessions[(row.node, row.peer_ip)] = [row.ts, i, row.established]
                server = self._server(row.node)
                server.known[i] += 1
                server.est[i] += row.established
        for row in saved.servers:
            server = self._server(row.name)
            for old, i in enumerate(remap):
                if i is not None and old < len(row.ports):
                    server.port[i], server.down_since[i] = row.ports[old], row.down_since[old]
            server.life, server.reported, server.grouped = row.life, row.reported, row.grouped
        for name, server in self._servers.items():
            server.n_known = server.n_down = 0
            for i in range(len(self._plane_ids)):
                known, down = server.plane_state(i)
                server.n_known += known
                server.n_down += down
            if server.life.raising_since is not None or server.life.clearing_since is not None:
                self._pending.add(name)
        for key, ts in saved.port_ts.items():
            dev, _, port = key.partition("\x1f")
            self._port_ts[(dev, port)] = ts
        self._burst.extend((t, n) for t, n in saved.burst)
        self._group = saved.group
        self._failed_planes = {self._index[p] for p in saved.failed_planes if p in self._index}
        return self

    # -- inputs ------------------------------------------------------------------------
    def _server(self, name: str) -> _Server:
        server = self._servers.get(name)
        if server is None:
            server = self._servers[name] = _Server(len(self._plane_ids))
        return server

    def _on_session(self, r: BgpSession) -> str | None:
        key = (r.node, r.peer_ip)
        established = r.state == "Established"
        session = self._sessions.get(key)
        if session is None:
            i = self._index.get(r.plane)
            if i is None:
                i = self._index.get(self.inventory.plane_of_ip(r.peer_ip))
            if i is None:
                return None
            self._sessions[key] = [r.ts, i, established]
            return self._change(r.node, i, r.ts, d_known=1, d_est=int(established))
        if r.ts < session[0]:
            return None
        session[0] = r.ts
        if session[2] == established:
            return None
        session[2] = established
        return self._change(r.node, session[1], r.ts, d_est=1 if established else -1)

    def _on_interface(self, r: InterfaceStatus) -> str | None:
        key = (r.device, r.port)
        owner = self._owners.get(key)
        if owner is None:
            return None
        last = self._port_ts.get(key)
        if last is not None and r.ts < last:
            return None
        self._port_ts[key] = r.ts
        name, plane = owner
        i = self._index.get(plane)
        return None if i is None else self._change(name, i, r.ts, port=int(r.oper_status == "UP"))

    def _change(self, name: str, i: int, ts: float, *, d_known: int = 0, d_est: int = 0, port: int | None = None) -> str | None:
        server = self._server(name)
        known0, down0 = server.plane_state(i)
        server.known[i] += d_known
        server.est[i] += d_est
        if port is not None:
            server.port[i] = port
        known1, down1 = server.plane_state(i)
        server.n_known += known1 - known0
        server.n_down += down1 - down0
        if down1 and not down0:
            server.down_since[i] = ts
        return name if (known0, down0) != (known1, down1) or server.life.firing else None

    # -- lifecycle ---------------------------------------------------------------------
    def _is_gone(self, server: _Server) -> bool:
        return server.n_known >= self._min_planes and server.n_down == server.n_known

    def _evaluate(self, name: str) -> list[Finding]:
        assert self._clock is not None
        server = self._servers[name]
        gone = self._is_gone(server)
        life = server.life
        transition = self._raise.step(life, self._clock, raising=gone, clearing=not gone)
        if life.raising_since is not None or life.clearing_since is not None:
            self._pending.add(name)
        else:
            self._pending.discard(name)
        if transition is Transition.FIRE:
            return self._fire(name, server)
        if transition is Transition.RESOLVE:
            return self._resolve(name, server)
        return []

    def _onset(self, server: _Server) -> float:
        """Start of the chain of per-plane drops that ends in the latest one (gaps < ``onset_gap``).

        Planes with a firing plane failure are left out (unless that is all of them): a
        server that dies during a plane outage began to fail when its *other* planes dropped.
        """
        down = [i for i in range(len(self._plane_ids)) if server.plane_state(i)[1]]
        own = [i for i in down if i not in self._failed_planes] or down
        times = sorted((server.down_since[i] for i in own), reverse=True)
        assert self._clock is not None
        if not times:
            return self._clock
        start = times[0]
        for t in times[1:]:
            if start - t > self.config.onset_gap:
                break
            start = t
        return min(start, self._clock)

    def _fire(self, name: str, server: _Server) -> list[Finding]:
        assert self._clock is not None
        now, cfg = self._clock, self.config
        server.life.started_at = self._onset(server)
        burst = self._burst
        while burst and burst[0][0] < now - cfg.burst_window:
            burst.popleft()
        burst.append((now, name))
        group = self._group
        if group is not None and group.life.firing:
            server.grouped = True
            group.remaining += 1
            if len(group.members) < cfg.max_listed:
                group.members.append(name)
            group.life.started_at = min(group.life.started_at, server.life.started_at)
            return []
        if len(burst) > cfg.burst_cap:
            return [self._fire_group()]
        server.reported = True
        return [self._finding(name, server, Transition.FIRE)]

    def _fire_group(self) -> Finding:
        """Gather every server of the current burst that is still gone into one finding."""
        assert self._clock is not None
        members = []
        for _, name in self._burst:
            server = self._servers.get(name)
            if server is not None and server.life.firing and not server.grouped:
                server.grouped = True
                members.append(name)
        racks = {self._rack(n) for n in members}
        subject = next(iter(racks)) if len(racks) == 1 and None not in racks else MANY
        life = Lifecycle(firing=True, started_at=min(self._servers[n].life.started_at for n in members))
        self._group = _Group(subject=subject, life=life, members=members[: self.config.max_listed],
                             remaining=len(members))
        return self._group_finding(Transition.FIRE, count=len(members))

    def _resolve(self, name: str, server: _Server) -> list[Finding]:
        out = []
        if server.reported:
            server.reported = False
            out.append(self._finding(name, server, Transition.RESOLVE))
        if server.grouped and self._group is not None:
            server.grouped = False
            group = self._group
            group.remaining -= 1
            group.last_back = max(group.last_back, server.life.ended_at or 0.0)
            if group.remaining <= 0:
                group.life.firing, group.life.ended_at = False, group.last_back
                out.append(self._group_finding(Transition.RESOLVE, count=len(group.members)))
                self._group = None
        return out

    # -- findings ----------------------------------------------------------------------
    def _rack(self, name: str) -> str | None:
        server = self.inventory.servers.get(name)
        return server.rack if server is not None else None

    def _finding(self, name: str, server: _Server, transition: Transition) -> Finding:
        assert self._clock is not None
        ids = self._plane_ids
        planes = [ids[i] for i in range(len(ids)) if server.plane_state(i)[0]]
        down = [ids[i] for i in range(len(ids)) if server.plane_state(i)[1]]
        evidence = {
            "server": name,
            "rack": self._rack(name),
            "planes_known": planes,
            "planes_down": down,
            "down_since": {str(ids[i]): server.down_since[i] for i in range(len(ids)) if server.plane_state(i)[1]},
            "sessions_established": sum(server.est),
            "sessions_total": sum(server.known),
            "ports_down": sum(1 for p in server.port if p == 0),
            "ports_known": sum(1 for p in server.port if p >= 0),
        }
        life = server.life
        if transition is Transition.FIRE:
            summary = (f"server {name} is down on all {len(planes)} planes since "
                       f"{self._clock - life.started_at:.0f}s (a server failure, not a plane failure)")
        else:
            assert life.ended_at is not None
            summary = f"server {name} is back after {life.ended_at - life.started_at:.0f}s"
        return make_finding(kind=KIND, plane=0, transition=transition, life=life, ts=self._clock,
                            severity="warning", summary=summary, evidence=evidence, subject=name)

    def _group_finding(self, transition: Transition, *, count: int) -> Finding:
        assert self._clock is not None and self._group is not None
        group = self._group
        racks = collections.Counter(self._rack(n) or "?" for n in group.members)
        evidence = {
            "aggregated": True,
            "count": count,
            "servers": sorted(group.members),
            "racks": dict(sorted(racks.items())),
            "still_down": group.remaining,
        }
        where = f"rack {group.subject}" if group.subject != MANY else f"{len(racks)} racks"
        if transition is Transition.FIRE:
            summary = f"{count} servers down on every plane at once ({where}); more that follow join this finding"
        else:
            assert group.life.ended_at is not None
            summary = f"all {count} servers of {where} are back after {group.life.ended_at - group.life.started_at:.0f}s"
        return make_finding(kind=KIND, plane=0, transition=transition, life=group.life, ts=self._clock,
                            severity="warning", summary=summary, evidence=evidence, subject=group.subject)

"""Turn successive ``show protocols all`` snapshots of one BIRD into BGP records.

Kept apart from the polling loop so the rules that decide what a change *means* — the
part that must never invent churn — are plain, synchronous and testable on fixtures.

Sessions
    A :class:`~planewatch.schemas.records.BgpSession` is emitted for the first sight of
    each BGP protocol and whenever its (BGP state, ``since``) pair changes. ``ts`` is
    BIRD's ``since`` — the time of the last *protocol* state change (up/start/down), which
    BIRD does not move on BGP-FSM steps such as Active → OpenSent, so two records may
    share a ``ts``. A changed ``since`` with an unchanged state means the session went
    down and came back between two polls: we report the new state at its new time.
    BIRD's ``Down`` (protocol disabled) and ``Close`` map to ``Idle``, the FSM's name for
    a session that is not trying; ``info`` is BIRD's last error (or says it was disabled).

Route counters
    BIRD counts per protocol (1.6) or channel (2.x, summed here): *import updates
    received* — what the route reflector actually sent, duplicates and filtered routes
    included, because that is the plane's churn on the wire — and *export updates/withdraws
    accepted* — what this node actually sent (BIRD's export "received" also counts routes
    offered back to the peer they came from and rejected, which never reach the wire).
    Deltas are taken against the previous poll of the same BIRD process:

    * first sight of a session, or BIRD restarted (its ``Last reboot`` changed): baseline,
      deltas 0 — the table re-sent after a restart is not churn of the plane;
    * the session restarted between polls (``since`` moved, or it was not up before):
      BIRD zeroed its counters when the session started, so the delta is the counter
      itself (the table exchanged on re-establishment is real traffic on the plane);
    * a counter went backwards otherwise: re-baseline, deltas 0, count a reset;
    * no statistics (protocol down): routes and deltas 0.

BIRD's printed times jitter
    BIRD shows a stored event time as "real time now minus how long ago on the monotonic
    clock", with two clock readings that are not taken at the same instant. BIRD 1.6 keeps
    both in whole seconds and refreshes the real one only when the monotonic second
    ticks, so the *same* ``since`` or ``Last reboot`` prints one second apart from one
    ``show`` to the next (seen on every 1.6 lab run under CPU load); BIRD 2 shows
    milliseconds and can slip by the time it took to reach the command in its loop.
    So a ``since`` that moved by no more than that (:func:`same_time`) with counters
    that did not go backwards is the same session, and a ``Last reboot`` that moved by
    no more than a second is the same BIRD; we keep the first value seen. Reading the
    jitter as a change would invent a flap (or a BIRD restart) and, worse, count the
    session's whole table again as churn.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from planewatch.collectors.bird.parse import BGP_STATES, ProtocolInfo
from planewatch.inventory import Inventory
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Record

__all__ = ["Counters", "NodeSessions", "counters_of", "peer_ip_from_name", "record_state", "same_time"]

_CALICO_NAME = re.compile(r"^(?:Mesh|Node|Global)_(.+)$")

WHOLE_SECOND_JITTER = 1.0
"""How far BIRD 1.6 moves a printed whole-second time between two ``show`` commands (exactly one tick)."""
SUBSECOND_JITTER = 0.25
"""The same for times printed with a fraction (BIRD 2): the delay inside one event-loop round, generously."""
BOOT_JITTER = WHOLE_SECOND_JITTER
"""A ``Last reboot`` moving by at most this is the same BIRD (a restart takes longer than that to be seen)."""


def same_time(a: float | None, b: float | None, text: str = "") -> bool:
    """Whether two readings of one BIRD time are the same event, given how BIRD prints it (see module doc).

    ``text`` is one of the printed forms: with a fraction of a second the tolerance is
    :data:`SUBSECOND_JITTER`, otherwise :data:`WHOLE_SECOND_JITTER`.
    """
    if a is None or b is None:
        return a is b
    tolerance = SUBSECOND_JITTER if re.search(r":\d\d\.\d", text) else WHOLE_SECOND_JITTER
    return abs(a - b) <= tolerance + 1e-6


def peer_ip_from_name(name: str) -> str | None:
    """Calico's protocol name -> peer address: ``Node_10_1_255_1`` -> ``10.1.255.1``,
    ``Mesh_fd00__1`` / ``Global_2001_db8__5`` -> ``fd00::1`` / ``2001:db8::5``; None if not Calico-shaped."""
    m = _CALICO_NAME.match(name)
    if not m:
        return None
    body = m.group(1)
    parts = body.split("_")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        candidate = ".".join(parts)
    else:
        candidate = body.replace("_", ":")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def record_state(protocol: ProtocolInfo) -> tuple[str, str]:
    """(state for the record, info) from BIRD's view of a BGP protocol."""
    raw = protocol.bgp_state or protocol.info_state or ""
    error = protocol.last_error or protocol.info_error
    if raw in BGP_STATES:
        return raw, error
    if protocol.state == "down" or raw in ("Down", ""):
        return "Idle", error or "protocol down (disabled or shut down in BIRD)"
    return "Idle", f"BIRD state {raw}" + (f": {error}" if error else "")  # Close, or something newer


@dataclasses.dataclass(frozen=True)
class Counters:
    import_updates: int
    import_withdraws: int
    export_updates: int
    export_withdraws: int

    def minus(self, other: "Counters") -> "Counters":
        return Counters(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def any_negative(self) -> bool:
        return any(v < 0 for v in dataclasses.astuple(self))


ZERO = Counters(0, 0, 0, 0)


def counters_of(protocol: ProtocolInfo) -> Counters | None:
    """The four churn counters we report (see module doc for why received vs accepted); None without stats."""
    if not protocol.has_stats:
        return None
    return Counters(
        protocol.stat("import_updates", "received"),
        protocol.stat("import_withdraws", "received"),
        protocol.stat("export_updates", "accepted"),
        protocol.stat("export_withdraws", "accepted"),
    )


@dataclasses.dataclass
class _Seen:
    state: str
    since: float | None
    counters: Counters | None
    peer_ip: str
    plane: int


@dataclasses.dataclass
class NodeSessions:
    """The last seen state of every BGP protocol of one node's BIRD, and the anomaly counts."""

    node: str
    inventory: Inventory
    sessions: dict[str, _Seen] = dataclasses.field(default_factory=dict)
    boot: float | None = None
    unknown_plane: int = 0
    """Sessions whose peer lies in no plane's subnet (published with plane 0)."""
    unknown_peer: int = 0
    """BGP protocols with neither a neighbor address nor a Calico-shaped name."""
    counter_resets: int = 0
    bird_restarts: int = 0
    imprecise_since: int = 0
    """Session records whose ``ts`` came from a date-only or unreadable ``since``."""

    def observe(self, protocols: list[ProtocolInfo], now: float, boot: float | None = None) -> list[Record]:
        """Records for one successful poll at ``now``; ``boot`` is BIRD's ``Last reboot`` if known."""
        restarted = self.boot is not None and boot is not None and abs(boot - self.boot) > BOOT_JITTER + 1e-6
        if restarted:
            self.bird_restarts += 1
        if boot is not None and (self.boot is None or restarted):
            self.boot = boot  # else keep the first reading: the next one may be a tick off either way
        out: list[Record] = []
        present: set[str] = set()
        for protocol in protocols:
            if not protocol.is_bgp:
                continue
            present.add(protocol.name)
            out.extend(self._observe_one(protocol, now, restarted))
        for name in [n for n in self.sessions if n not in present]:
            gone = self.sessions.pop(name)
            out.append(BgpSession(
                ts=now, plane=gone.plane, node=self.node, protocol=name, peer_ip=gone.peer_ip,
                state="Idle", info="protocol no longer in BIRD's configuration",
            ))
        return out

    def _observe_one(self, protocol: ProtocolInfo, now: float, restarted: bool) -> list[Record]:
        prev = self.sessions.get(protocol.name)
        if prev is not None:
            peer, plane = prev.peer_ip, prev.plane
        else:
            peer = protocol.neighbor_address or peer_ip_from_name(protocol.name) or ""
            if not peer:
                self.unknown_peer += 1
            plane = self.inventory.plane_of_ip(peer) if peer else 0
            if plane == 0:
                self.unknown_plane += 1
        state, info = record_state(protocol)
        since = protocol.since
        current = counters_of(protocol)
        session_restarted = False
        if prev is not None and not restarted:
            if not same_time(prev.since, since, protocol.since_text):
                session_restarted = True
            elif prev.since != since:
                # Within BIRD's print jitter: the same session unless its counters went back
                # (BIRD zeroes them when a session starts), then it really restarted just now.
                session_restarted = (current is not None and prev.counters is not None
                                     and current.minus(prev.counters).any_negative())
                if not session_restarted and prev.state == state:
                    since = prev.since  # keep the first reading, so repeated jitter cannot drift
        out: list[Record] = []
        # After a BIRD restart every session went down and up again unseen: always report it.
        if prev is None or restarted or session_restarted or prev.state != state:
            if since is None or not protocol.since_precise:
                self.imprecise_since += 1
            out.append(BgpSession(ts=since if since is not None else now, plane=plane, node=self.node,
                                  protocol=protocol.name, peer_ip=peer, state=state, info=info))
        if current is None:
            delta = ZERO
        elif prev is None or restarted:
            delta = ZERO
        elif session_restarted or prev.counters is None:
            delta = current
        else:
            delta = current.minus(prev.counters)
            if delta.any_negative():
                self.counter_resets += 1
                delta = ZERO
        self.sessions[protocol.name] = _Seen(state, since, current, peer, plane)
        out.append(BgpRouteCounters(
            ts=now, plane=plane, node=self.node, protocol=protocol.name, peer_ip=peer,
            routes_imported=protocol.routes_imported if current is not None else 0,
            routes_exported=protocol.routes_exported if current is not None else 0,
            import_updates=delta.import_updates, import_withdraws=delta.import_withdraws,
            export_updates=delta.export_updates, export_withdraws=delta.export_withdraws,
        ))
        return out

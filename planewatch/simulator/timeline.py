"""Turn faults into timed primitive events (this port goes down at t, that session comes up at t').

Keeping the expansion apart from the engine means the engine only knows a handful of
primitive state changes, and each scenario's *shape* (who fails, in what order, how
staggered) is readable in one function. Times are absolute event times (epoch seconds).

Primitive events are tuples ``(time, kind, args)``; kinds and their args:

``server_port (plane_index, server_index, up)`` · ``uplink (plane_index, rack_index, uplink_index, up)`` ·
``spine_port (plane_index, spine_index, rack_index, up)`` ·
``session (plane_index, rr_index, server_index, up, state, info)`` · ``alive (server_index, up)`` ·
``plane_failed (plane_index, failed)`` (while failed, no port of the plane comes up) ·
``link_failed (plane_index, server_index, failed)`` (while failed, that server port does not come up) ·
``weight (plane_index, weight)`` · ``storm (plane_index, pps)`` ·
``leak_learn (plane_index, server_index, mac)`` · ``leak_age (plane_index, mac)``

``alive``, ``plane_failed`` and ``link_failed`` are counted by the engine (each ``False``/
``True`` pair is one reason), so overlapping faults compose: a server rebooting during a
plane failure does not bring its link on the failed plane back, and a plane recovering
does not revive a server that is still powered off.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator

from planewatch.simulator.layout import FabricLayout
from planewatch.simulator.scenarios import Fault

Event = tuple[float, str, tuple[Any, ...]]

HOLD_TIMER_EXPIRED = "BGP Error: Hold timer expired"
MAX_LEAKED_MACS = 100_000
"""Upper bound on MACs one mac-leak fault injects (protects memory on long runs)."""


def expand(fault: Fault, layout: FabricLayout, start_ts: float, rng: random.Random) -> list[Event]:
    """Primitive events of one resolved fault (see :meth:`Fault.resolve`)."""
    return list(_EXPANDERS[fault.kind](fault, layout, start_ts + fault.at, start_ts + fault.end, rng))


def _plane(fault: Fault, layout: FabricLayout) -> int:
    assert fault.plane is not None, "resolve() the fault first"
    return layout.plane_index(fault.plane)


def _server(fault: Fault, layout: FabricLayout) -> int:
    assert fault.server is not None, "resolve() the fault first"
    return layout.servers.index(fault.server)


def _plane_down(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """Links drop within a second, sessions follow within ~3 s (hold-timer style, staggered); the reverse on recovery."""
    pi = _plane(fault, layout)
    plane = layout.planes[pi]
    yield t0, "plane_failed", (pi, True)
    yield t1, "plane_failed", (pi, False)
    for i in range(len(layout.servers)):
        yield t0 + rng.uniform(0.05, 1.0), "server_port", (pi, i, False)
        yield t1 + rng.uniform(0.05, 2.0), "server_port", (pi, i, True)
        for k in range(len(plane.rr_addresses)):
            yield t0 + rng.uniform(0.5, 3.0), "session", (pi, k, i, False, "Active", HOLD_TIMER_EXPIRED)
            yield t1 + rng.uniform(2.5, 6.0), "session", (pi, k, i, True, "Established", "")
    for r, uplinks in enumerate(plane.tor_uplinks):
        for u in range(len(uplinks)):
            yield t0 + rng.uniform(0.05, 1.0), "uplink", (pi, r, u, False)
            yield t1 + rng.uniform(0.05, 2.0), "uplink", (pi, r, u, True)
    for s in range(len(plane.spines)):
        for r in range(len(layout.racks)):
            yield t0 + rng.uniform(0.05, 1.0), "spine_port", (pi, s, r, False)
            yield t1 + rng.uniform(0.05, 2.0), "spine_port", (pi, s, r, True)


def _server_down(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """The server powers off: its link on *every* plane drops at once, its sessions expire; it reboots after ``duration``."""
    yield from reboot(layout, _server(fault, layout), t0, t1, rng)


def _plane_degraded(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """A ``magnitude`` fraction of the servers (random, fixed per seed) lose their link to one plane
    (a line card, optics, a mis-pushed VLAN): ports drop within a second, their sessions to that
    plane's RRs follow within ~3 s; they come back as in a plane recovery."""
    pi = _plane(fault, layout)
    plane = layout.planes[pi]
    count = max(1, min(len(layout.servers), round(float(fault.magnitude or 0.0) * len(layout.servers))))
    for i in sorted(rng.sample(range(len(layout.servers)), count)):
        yield t0, "link_failed", (pi, i, True)
        yield t1, "link_failed", (pi, i, False)
        yield t0 + rng.uniform(0.05, 1.0), "server_port", (pi, i, False)
        yield t1 + rng.uniform(0.05, 2.0), "server_port", (pi, i, True)
        for k in range(len(plane.rr_addresses)):
            yield t0 + rng.uniform(0.5, 3.0), "session", (pi, k, i, False, "Active", HOLD_TIMER_EXPIRED)
            yield t1 + rng.uniform(2.5, 6.0), "session", (pi, k, i, True, "Established", "")


REBOOT_SECONDS = (60.0, 120.0)
"""How long a rebooting server is gone (background churn)."""


def reboot(layout: FabricLayout, i: int, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """Server ``i`` is down on every plane from ``t0`` to ``t1``: links drop at once, sessions within ~3 s;
    on the way back links come up within ~1.5 s and BIRD re-establishes every session within ~8 s."""
    yield t0 + 0.01, "alive", (i, False)
    yield t1 + 0.01, "alive", (i, True)
    for pi, plane in enumerate(layout.planes):
        yield t0 + rng.uniform(0.02, 0.2), "server_port", (pi, i, False)
        yield t1 + rng.uniform(0.5, 1.5), "server_port", (pi, i, True)
        for k in range(len(plane.rr_addresses)):
            yield t0 + rng.uniform(0.5, 3.0), "session", (pi, k, i, False, "Idle", HOLD_TIMER_EXPIRED)
            yield t1 + rng.uniform(3.0, 8.0), "session", (pi, k, i, True, "Established", "")


def _background_churn(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """Reboots arrive as a Poisson process of ``magnitude`` per hour over the whole fabric, each hitting a
    random server that is not already rebooting, for 60–120 s. A reboot that starts before the fault ends
    is completed (the server comes back after the fault's end)."""
    rate = float(fault.magnitude or 0.0) / 3600.0
    n = len(layout.servers)
    if rate <= 0 or n == 0:
        return
    busy = [0.0] * n
    t = t0 + rng.expovariate(rate)
    while t < t1:
        for _ in range(8):
            i = rng.randrange(n)
            if busy[i] <= t:
                back = t + rng.uniform(*REBOOT_SECONDS)
                busy[i] = back + 10.0
                yield from reboot(layout, i, t, back, rng)
                break
        t += rng.expovariate(rate)


def _broadcast_storm(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    pi = _plane(fault, layout)
    yield t0, "storm", (pi, float(fault.magnitude or 0.0))
    yield t1, "storm", (pi, 0.0)


def _ecmp_imbalance(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """Weight ``w`` such that ``w / (w + N - 1)`` is the requested share (the others keep weight 1)."""
    pi = _plane(fault, layout)
    share = float(fault.magnitude or 0.0)
    others = len(layout.planes) - 1
    weight = share * others / (1.0 - share) if others else 1.0
    yield t0, "weight", (pi, weight)
    yield t1, "weight", (pi, 1.0)


def leaked_mac(plane: int, n: int, seed: int) -> str:
    """``52:54:00:…`` (a KVM guest's MAC): the kind of workload MAC that must never reach the fabric."""
    value = (plane * 0x10000 + n * 0x9E37 + seed * 0x3B1) & 0xFFFFFF
    return f"52:54:00:{value >> 16:02x}:{value >> 8 & 0xFF:02x}:{value & 0xFF:02x}"


def _mac_leak(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """``magnitude`` new workload MACs per second behind one server, for the whole fault; they age out after it."""
    pi = _plane(fault, layout)
    i = _server(fault, layout)
    rate = float(fault.magnitude or 1.0)
    count = min(MAX_LEAKED_MACS, int(rate * fault.duration))
    seed = rng.randrange(1 << 16)
    used: set[str] = set()
    for n in range(count):
        mac = leaked_mac(layout.planes[pi].id, n, seed)
        if mac in used:
            continue
        used.add(mac)
        yield t0 + (n + 0.5) / rate, "leak_learn", (pi, i, mac)
        yield t1 + rng.uniform(0.5, 5.0), "leak_age", (pi, mac)


def _bgp_flap(fault: Fault, layout: FabricLayout, t0: float, t1: float, rng: random.Random) -> Iterator[Event]:
    """Every ``magnitude`` seconds (±10 %) the server's sessions to the plane drop for a few seconds, then re-establish."""
    pi = _plane(fault, layout)
    i = _server(fault, layout)
    period = float(fault.magnitude or 20.0)
    rrs = range(len(layout.planes[pi].rr_addresses))
    t = t0
    while t < t1:
        down_for = rng.uniform(2.0, max(2.5, period * 0.4))
        for k in rrs:
            jitter = rng.uniform(0.0, 0.5)
            info = rng.choice((HOLD_TIMER_EXPIRED, "Received: Cease", "Socket: Connection reset by peer"))
            yield t + jitter, "session", (pi, k, i, False, "Active", info)
            yield t + down_for + jitter, "session", (pi, k, i, True, "Established", "")
        t += period * rng.uniform(0.9, 1.1)


_EXPANDERS: dict[str, Callable[[Fault, FabricLayout, float, float, random.Random], Iterator[Event]]] = {
    "plane-down": _plane_down,
    "server-down": _server_down,
    "broadcast-storm": _broadcast_storm,
    "ecmp-imbalance": _ecmp_imbalance,
    "mac-leak": _mac_leak,
    "bgp-flap": _bgp_flap,
    "plane-degraded": _plane_degraded,
    "background-churn": _background_churn,
}

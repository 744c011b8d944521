"""The simulation clock: fabric state, fault events and the records each tick produces.

:class:`Simulator` keeps the state of every port, BGP session and counter in flat lists
indexed by (plane, server) — see :mod:`planewatch.simulator.layout` — and advances it one
tick at a time. Everything that happens is an entry of one time-ordered heap: fault
transitions (from :mod:`planewatch.simulator.timeline`) and the periodic polls of each
device (gNMI counters, FDB snapshots, BIRD route counters, sFlow counter samples), each
device on its own phase so load and timestamps spread over the interval as they would
on a real fabric. A step pops everything due in ``(now, now + tick]`` in time order, so
a record always describes the state at its own event time.

Cadence (defaults): ``PortCounters`` for every ToR port, uplink and spine port each
``counter_interval``; ``FdbSnapshot`` per switch each ``fdb_interval``; ``BgpRouteCounters``
per session each tick; ``SflowCounterSample`` per ToR server port each
``sflow_counter_interval``; a handful of ``SflowFlowSample`` per switch per tick;
``InterfaceStatus``/``BgpSession``/``FdbChange`` only on change (and the initial state);
``Watermark(ts=now, plane=0)`` last.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from array import array
from typing import Any, Callable, Iterable

from planewatch.inventory import Inventory
from planewatch.schemas.records import (
    BgpRouteCounters,
    BgpSession,
    FdbChange,
    FdbSnapshot,
    InterfaceStatus,
    PortCounters,
    Record,
    SflowCounterSample,
    Watermark,
)
from planewatch.simulator import sflow, timeline
from planewatch.simulator.layout import FabricLayout, port_index
from planewatch.simulator.scenarios import Fault
from planewatch.simulator.traffic import MULTICAST_PPS, TrafficModel, daily_factor

INITIAL_OFFSET = 0.001
"""The initial state is reported 1 ms after the start (records must lie inside a tick)."""
CHURN_PER_SERVER_PER_DAY = 2000 / 20000
"""Calico note: ~2,000 route events per day for 20,000 servers."""
STORM_FRAME_BYTES = 64
PORT_SPEED = 25_000_000_000
RR_PORT_BYTES_PER_SESSION = 2.0
"""BGP keepalives/updates towards a route reflector, bytes/s per client session."""

COUNTER_FIELDS = (
    "in_octets", "out_octets", "in_unicast_pkts", "out_unicast_pkts",
    "in_broadcast_pkts", "out_broadcast_pkts", "in_multicast_pkts", "out_multicast_pkts",
    "in_discards", "out_discards", "in_errors", "out_errors",
)
(IN_OCT, OUT_OCT, IN_UC, OUT_UC, IN_BC, OUT_BC, IN_MC, OUT_MC, IN_DISC, OUT_DISC, IN_ERR, OUT_ERR) = range(12)


def _counters(size: int) -> list[array]:
    return [array("d", bytes(8 * size)) for _ in COUNTER_FIELDS]


class Simulator:
    """A deterministic, steppable simulated fabric (same inventory, faults, start and seed ⇒ same records).

    ``faults`` are resolved against the inventory up front, so a bad fault fails here with a
    message saying what to fix (:class:`~planewatch.simulator.scenarios.FaultError`).
    ``start_ts`` defaults to the current time rounded down to the tick.
    """

    def __init__(
        self,
        inventory: Inventory,
        faults: Iterable[Fault] = (),
        start_ts: float | None = None,
        seed: int = 0,
        tick: float = 5.0,
        counter_interval: float = 10.0,
        fdb_interval: float = 60.0,
        sflow_counter_interval: float | None = 20.0,
        flow_samples_per_tick: int = 4,
    ):
        for name, value in (("tick", tick), ("counter_interval", counter_interval), ("fdb_interval", fdb_interval)):
            if not value > 0:
                raise ValueError(f"{name}={value} must be > 0 seconds")
        if start_ts is None:
            start_ts = time.time() // tick * tick
        self.inventory = inventory
        self.layout = layout = FabricLayout.from_inventory(inventory)
        self.faults = [fault.resolve(inventory) for fault in faults]
        self.start_ts = float(start_ts)
        self.seed = seed
        self.tick = float(tick)
        self.counter_interval = float(counter_interval)
        self.fdb_interval = float(fdb_interval)
        self.sflow_counter_interval = sflow_counter_interval
        self.flow_samples_per_tick = flow_samples_per_tick
        self._now = self.start_ts
        self._started = False

        def rng(name: str) -> random.Random:
            return random.Random(f"planewatch-sim:{seed}:{name}")

        self._rng_noise = rng("noise")
        self._rng_bgp = rng("bgp")
        S, P, R = len(layout.servers), len(layout.planes), len(layout.racks)
        self._S, self._P, self._R = S, P, R
        self.traffic = TrafficModel.generate(S, rng("traffic"))

        # -- state ----------------------------------------------------------------
        self._alive = bytearray(b"\x01" * S)
        self._port_up = [bytearray(b"\x01" * S) for _ in range(P)]
        self._sess_up = [[bytearray(b"\x01" * S) for _ in plane.rr_addresses] for plane in layout.planes]
        self._conn = [bytearray([len(plane.rr_addresses)] * S) for plane in layout.planes]
        self._uplink_up = [[bytearray(b"\x01" * len(ups)) for ups in plane.tor_uplinks] for plane in layout.planes]
        self._spine_up = [[bytearray(b"\x01" * R) for _ in plane.spines] for plane in layout.planes]
        self._dead = [0] * S  # reasons each server is powered off (overlapping faults)
        self._plane_failed = [0] * P  # reasons each plane is failed
        self._link_failed: dict[tuple[int, int], int] = {}  # (plane, server) -> reasons its link is failed
        self._down_ports = [0] * P
        self._weight = [1.0] * P
        self._reach = [bytearray(b"\x01" * S) for _ in range(P)]
        self._wsum = [float(P)] * S
        self._storm = [0.0] * P
        self._storm_began = [0.0] * P  # a storm's first MAC moves happen after it begins, not earlier in its tick
        self._leaked: list[dict[str, int]] = [{} for _ in range(P)]

        # -- BGP route accounting (see _poll_bgp) --------------------------------------
        brng = rng("prefixes")
        self._prefixes = [1 + (brng.random() < 0.3) for _ in range(S)]
        total = sum(self._prefixes)
        self._announced = [total] * P
        self._updates = [0] * P
        self._withdraws = [0] * P
        self._own_updates = [array("q", bytes(8 * S)) for _ in range(P)]
        self._own_withdraws = [array("q", bytes(8 * S)) for _ in range(P)]
        self._seen = [[[array("q", bytes(8 * S)) for _ in range(4)] for _ in plane.rr_addresses] for plane in layout.planes]
        self._fresh: set[tuple[int, int, int]] = set()

        # -- counters -------------------------------------------------------------
        self._srv = [_counters(S) for _ in range(P)]
        self._uplink_offset = [list(itertools.accumulate((len(u) for u in plane.tor_uplinks), initial=0)) for plane in layout.planes]
        self._upl = [_counters(offsets[-1]) for offsets in self._uplink_offset]
        self._tor_last = [[self.start_ts] * R for _ in range(P)]
        self._init_counters(rng("uptime"))

        # -- FDB tables: one MAC order per plane, shared by all its switches -----------
        order = [i for members in layout.rack_members for i in members]
        self._fdb_order = order
        self._fdb_macs = [[plane.server_macs[i] for i in order] + plane.rr_macs for plane in layout.planes]
        self._fdb_vlans = [[plane.vlan] * len(macs) for plane, macs in zip(layout.planes, self._fdb_macs)]

        self._flows = sflow.FlowSampler(self, rng("sflow"))
        self._sflow_seq: dict[str, int] = {}

        # -- the timeline -----------------------------------------------------------
        self._heap: list[tuple[Any, ...]] = []
        self._seq = itertools.count()
        for n, fault in enumerate(self.faults):
            for t, kind, args in timeline.expand(fault, layout, self.start_ts, rng(f"fault{n}")):
                self._push(max(t, self.start_ts + 2 * INITIAL_OFFSET), kind, args)
        self._schedule_polls(rng("phases"))
        rate = CHURN_PER_SERVER_PER_DAY * S / 86400.0
        self._churn_rate = rate
        if rate > 0:
            self._push(self.start_ts + self._rng_bgp.expovariate(rate), "churn", ())

    # -- public -----------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulated event time reached so far (``start_ts`` before the first step)."""
        return self._now

    def step(self) -> list[Record]:
        """Advance one tick; every record with event time in ``(previous now, now]``, then a Watermark."""
        t0, t1 = self._now, self._now + self.tick
        out: list[Record] = []
        if not self._started:
            self._started = True
            self._emit_initial_state(t0 + INITIAL_OFFSET, out)
        heap, handlers = self._heap, self._handlers
        while heap and heap[0][0] <= t1:
            t, _, kind, args = heapq.heappop(heap)
            handlers[kind](self, t, out, *args)
        self._flows.emit(t0, t1, out)
        self._storm_moves(t0, t1, out)
        self._now = t1
        out.append(Watermark(ts=t1, plane=0))
        return out

    def run(self, seconds: float) -> list[Record]:
        """All records of the next ``seconds`` of simulated time (whole ticks)."""
        out: list[Record] = []
        for _ in range(max(1, round(seconds / self.tick))):
            out.extend(self.step())
        return out

    # -- scheduling ---------------------------------------------------------------------
    def _push(self, t: float, kind: str, args: tuple[Any, ...]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, args))

    def _schedule_polls(self, rng: random.Random) -> None:
        """Every device polls on its own phase; the first FDB snapshot of each switch falls in the first tick,
        later ones are spread over ``fdb_interval`` (20k-entry tables of 1,000 switches in one tick would be a spike)."""
        def phase(interval: float) -> float:
            return interval * (1.0 - rng.random())  # in (0, interval]

        first_fdb = min(self.tick, self.fdb_interval)
        for pi, plane in enumerate(self.layout.planes):
            for r in range(self._R):
                self._push(self.start_ts + phase(self.counter_interval), "tor_counters", (pi, r))
                self._push(self.start_ts + phase(first_fdb), "fdb_snapshot", (pi, r, -1, phase(self.fdb_interval)))
                if self.sflow_counter_interval:
                    self._push(self.start_ts + phase(self.sflow_counter_interval), "sflow_counters", (pi, r))
            for s in range(len(plane.spines)):
                self._push(self.start_ts + phase(self.counter_interval), "spine_counters", (pi, s))
                self._push(self.start_ts + phase(first_fdb), "fdb_snapshot", (pi, -1, s, phase(self.fdb_interval)))
        for r in range(self._R):
            self._push(self.start_ts + phase(self.tick), "bgp_poll", (r,))

    # -- initial state ------------------------------------------------------------------
    def _init_counters(self, rng: random.Random) -> None:
        """Counters start where a switch up for 1–10 days would have them, not at zero."""
        P, R, tr = self._P, self._R, self.traffic
        for pi in range(P):
            c = self._srv[pi]
            for r, members in enumerate(self.layout.rack_members):
                uptime = rng.uniform(1e5, 1e6)
                rack_tx = rack_rx = 0.0
                for i in members:
                    tx, rx = tr.tx[i] / P * uptime, tr.rx[i] / P * uptime
                    rack_tx += tx
                    rack_rx += rx
                    c[IN_OCT][i], c[OUT_OCT][i] = tx, rx
                    c[IN_UC][i], c[OUT_UC][i] = tx / tr.packet_size[i], rx / tr.packet_size[i]
                    c[IN_BC][i] = c[OUT_BC][i] = tr.arp_pps[i] * uptime
                    c[IN_MC][i] = c[OUT_MC][i] = MULTICAST_PPS * uptime
                self._add_uplinks(pi, r, rack_tx, rack_rx, uptime, 0.0)

    def _emit_initial_state(self, ts: float, out: list[Record]) -> None:
        """Every port UP and every session Established, as a fresh subscriber would first see them."""
        layout = self.layout
        for plane in layout.planes:
            pid = plane.id
            for r, tor in enumerate(plane.tors):
                for i in layout.rack_members[r]:
                    out.append(InterfaceStatus(ts=ts, plane=pid, device=tor, port=layout.server_port[i], oper_status="UP"))
                for port in plane.tor_uplinks[r]:
                    out.append(InterfaceStatus(ts=ts, plane=pid, device=tor, port=port, oper_status="UP"))
            for spine in plane.spines:
                for port in layout.spine_rack_ports + layout.spine_rr_ports[: len(plane.rr_addresses)]:
                    out.append(InterfaceStatus(ts=ts, plane=pid, device=spine, port=port, oper_status="UP"))
            for protocol, peer in zip(plane.protocols, plane.rr_addresses):
                for node in layout.servers:
                    out.append(BgpSession(ts=ts, plane=pid, node=node, protocol=protocol, peer_ip=peer, state="Established"))

    # -- reachability and ECMP ------------------------------------------------------------
    def _refresh(self, i: int) -> None:
        """Recompute on which planes server ``i`` is reachable (port up, a session up) and its ECMP weight sum."""
        alive = self._alive[i]
        total = 0.0
        for pi in range(self._P):
            ok = 1 if alive and self._port_up[pi][i] and self._conn[pi][i] else 0
            self._reach[pi][i] = ok
            if ok:
                total += self._weight[pi]
        self._wsum[i] = total

    # -- fault handlers ---------------------------------------------------------------------
    def _on_server_port(self, t: float, out: list[Record], pi: int, i: int, up: bool) -> None:
        if up and (not self._alive[i] or self._plane_failed[pi] or (pi, i) in self._link_failed):
            return
        if bool(self._port_up[pi][i]) == up:
            return
        self._port_up[pi][i] = up
        self._down_ports[pi] += -1 if up else 1
        plane, layout = self.layout.planes[pi], self.layout
        tor, port = plane.tors[layout.server_rack[i]], layout.server_port[i]
        out.append(InterfaceStatus(ts=t, plane=plane.id, device=tor, port=port, oper_status="UP" if up else "DOWN"))
        out.append(FdbChange(ts=t + 0.001, plane=plane.id, device=tor, mac=plane.server_macs[i], vlan=plane.vlan,
                             port=port, change="learned" if up else "aged"))
        self._refresh(i)

    def _on_uplink(self, t: float, out: list[Record], pi: int, r: int, u: int, up: bool) -> None:
        if (up and self._plane_failed[pi]) or bool(self._uplink_up[pi][r][u]) == up:
            return
        self._uplink_up[pi][r][u] = up
        self._down_ports[pi] += -1 if up else 1
        plane = self.layout.planes[pi]
        out.append(InterfaceStatus(ts=t, plane=plane.id, device=plane.tors[r], port=plane.tor_uplinks[r][u],
                                   oper_status="UP" if up else "DOWN"))

    def _on_spine_port(self, t: float, out: list[Record], pi: int, s: int, r: int, up: bool) -> None:
        if (up and self._plane_failed[pi]) or bool(self._spine_up[pi][s][r]) == up:
            return
        self._spine_up[pi][s][r] = up
        self._down_ports[pi] += -1 if up else 1
        plane = self.layout.planes[pi]
        out.append(InterfaceStatus(ts=t, plane=plane.id, device=plane.spines[s], port=self.layout.spine_rack_ports[r],
                                   oper_status="UP" if up else "DOWN"))

    def _on_session(self, t: float, out: list[Record], pi: int, k: int, i: int, up: bool, state: str, info: str) -> None:
        """A session transition; when the server's *first*/*last* session to a plane changes, its routes are announced/withdrawn there."""
        if up and not (self._alive[i] and self._port_up[pi][i]):
            return
        sessions = self._sess_up[pi][k]
        if bool(sessions[i]) == up:
            return
        sessions[i] = up
        plane = self.layout.planes[pi]
        out.append(BgpSession(ts=t, plane=plane.id, node=self.layout.servers[i], protocol=plane.protocols[k],
                              peer_ip=plane.rr_addresses[k], state=state, info=info))
        before = self._conn[pi][i]
        self._conn[pi][i] = before + (1 if up else -1)
        prefixes = self._prefixes[i]
        if up:
            self._fresh.add((pi, k, i))
            if before == 0:
                self._announced[pi] += prefixes
                self._updates[pi] += prefixes
                self._own_updates[pi][i] += prefixes
        elif before == 1:
            self._announced[pi] -= prefixes
            self._withdraws[pi] += prefixes
            self._own_withdraws[pi][i] += prefixes
        self._refresh(i)

    def _on_alive(self, t: float, out: list[Record], i: int, up: bool) -> None:
        self._dead[i] = max(0, self._dead[i] + (-1 if up else 1))
        self._alive[i] = self._dead[i] == 0
        self._refresh(i)

    def _on_plane_failed(self, t: float, out: list[Record], pi: int, failed: bool) -> None:
        self._plane_failed[pi] = max(0, self._plane_failed[pi] + (1 if failed else -1))

    def _on_link_failed(self, t: float, out: list[Record], pi: int, i: int, failed: bool) -> None:
        key = (pi, i)
        count = self._link_failed.get(key, 0) + (1 if failed else -1)
        if count > 0:
            self._link_failed[key] = count
        else:
            self._link_failed.pop(key, None)

    def _on_weight(self, t: float, out: list[Record], pi: int, weight: float) -> None:
        self._weight[pi] = weight
        for i in range(self._S):
            self._refresh(i)

    def _on_storm(self, t: float, out: list[Record], pi: int, pps: float) -> None:
        if pps and not self._storm[pi]:
            self._storm_began[pi] = t
        self._storm[pi] = pps

    def _fdb_port_towards(self, pi: int, device_rack: int, device_spine: int, rack: int, local_port: str) -> str:
        """Port a switch learns a MAC of ``rack`` on: the server port on its own ToR, an uplink on others, the rack port on spines."""
        plane = self.layout.planes[pi]
        if device_rack < 0:
            return self.layout.spine_rack_ports[rack]
        if device_rack == rack:
            return local_port
        uplinks = plane.tor_uplinks[device_rack]
        return uplinks[rack % len(uplinks)]

    def _on_leak(self, t: float, out: list[Record], pi: int, i: int, mac: str, learned: bool) -> None:
        """A workload MAC floods through the plane, so every switch of it learns (later ages) it."""
        leaked = self._leaked[pi]
        if learned == (mac in leaked):
            return
        if learned:
            leaked[mac] = i
        else:
            i = leaked.pop(mac)
        plane, rack, local = self.layout.planes[pi], self.layout.server_rack[i], self.layout.server_port[i]
        change = "learned" if learned else "aged"
        for r, tor in enumerate(plane.tors):
            out.append(FdbChange(ts=t, plane=plane.id, device=tor, mac=mac, vlan=plane.vlan,
                                 port=self._fdb_port_towards(pi, r, -1, rack, local), change=change))
        for s, spine in enumerate(plane.spines):
            out.append(FdbChange(ts=t, plane=plane.id, device=spine, mac=mac, vlan=plane.vlan,
                                 port=self.layout.spine_rack_ports[rack], change=change))

    def _on_leak_learn(self, t: float, out: list[Record], pi: int, i: int, mac: str) -> None:
        self._on_leak(t, out, pi, i, mac, True)

    def _on_leak_age(self, t: float, out: list[Record], pi: int, mac: str) -> None:
        self._on_leak(t, out, pi, -1, mac, False)

    def _on_churn(self, t: float, out: list[Record]) -> None:
        """Background route churn: a server gains or frees a workload block and (re)announces it on every plane."""
        rng = self._rng_bgp
        i = rng.randrange(self._S)
        self._push(t + rng.expovariate(self._churn_rate), "churn", ())
        if not self._alive[i]:
            return
        grow = self._prefixes[i] <= 1 or rng.random() < 0.5
        self._prefixes[i] += 1 if grow else -1
        for pi in range(self._P):
            if self._conn[pi][i]:
                if grow:
                    self._announced[pi] += 1
                    self._updates[pi] += 1
                    self._own_updates[pi][i] += 1
                else:
                    self._announced[pi] -= 1
                    self._withdraws[pi] += 1
                    self._own_withdraws[pi][i] += 1

    def _storm_moves(self, t0: float, t1: float, out: list[Record]) -> None:
        """In a storm frames loop, so switches see server MACs jump to another port and back (``moved`` twice)."""
        rng = self._flows.rng
        layout = self.layout
        for pi, storm in enumerate(self._storm):
            if not storm:
                continue
            plane = layout.planes[pi]
            begin = max(t0, self._storm_began[pi])
            devices = [(r, -1, tor) for r, tor in enumerate(plane.tors)] + [(-1, s, sp) for s, sp in enumerate(plane.spines)]
            for r, s, device in devices:
                for _ in range(2):
                    i = rng.randrange(self._S)
                    rack = layout.server_rack[i]
                    home = self._fdb_port_towards(pi, r, s, rack, layout.server_port[i])
                    if r < 0:
                        away = layout.spine_rack_ports[(rack + 1) % self._R]
                    else:
                        ups = plane.tor_uplinks[r]
                        away = ups[(ups.index(home) + 1) % len(ups)] if home in ups else ups[0]
                    if away == home:
                        continue
                    ta = rng.uniform(begin, t1)
                    tb = min(t1, ta + rng.uniform(0.01, 1.0))
                    mac = plane.server_macs[i]
                    out.append(FdbChange(ts=ta if ta > begin else t1, plane=plane.id, device=device, mac=mac, vlan=plane.vlan,
                                         port=away, change="moved", previous_port=home))
                    out.append(FdbChange(ts=tb if tb > t0 else t1, plane=plane.id, device=device, mac=mac, vlan=plane.vlan,
                                         port=home, change="moved", previous_port=away))

    # -- periodic polls -------------------------------------------------------------------
    def _add_uplinks(self, pi: int, r: int, rack_tx: float, rack_rx: float, dt: float, storm: float) -> None:
        """A rack's traffic to other racks, spread over its working uplinks (one per spine)."""
        ups = self._uplink_up[pi][r]
        working = [u for u in range(len(ups)) if ups[u]]
        if not working:
            return
        remote = (self._R - 1) / self._R if self._R > 1 else 0.0
        share = remote / len(working)
        c, base = self._upl[pi], self._uplink_offset[pi][r]
        arp = sum(self.traffic.arp_pps[i] for i in self.layout.rack_members[r]) * dt
        for u in working:
            x = base + u
            c[OUT_OCT][x] += rack_tx * share + storm * STORM_FRAME_BYTES * dt
            c[IN_OCT][x] += rack_rx * share + storm * STORM_FRAME_BYTES * dt
            c[OUT_UC][x] += rack_tx * share / 900.0
            c[IN_UC][x] += rack_rx * share / 900.0
            c[OUT_BC][x] += arp + storm * dt
            c[IN_BC][x] += arp + storm * dt
            c[OUT_MC][x] += MULTICAST_PPS * dt + storm * 0.2 * dt
            c[IN_MC][x] += MULTICAST_PPS * dt + storm * 0.2 * dt
            c[OUT_DISC][x] += storm * 0.05 * dt

    def _on_tor_counters(self, t: float, out: list[Record], pi: int, r: int) -> None:
        """gNMI SAMPLE of one ToR: every server port, then every uplink."""
        self._push(t + self.counter_interval, "tor_counters", (pi, r))
        plane, layout, tr = self.layout.planes[pi], self.layout, self.traffic
        dt = t - self._tor_last[pi][r]
        self._tor_last[pi][r] = t
        load = daily_factor(t) * dt
        weight, reach, port_up, wsum = self._weight[pi], self._reach[pi], self._port_up[pi], self._wsum
        storm = self._storm[pi]
        rand = self._rng_noise.random
        c = self._srv[pi]
        in_oct, out_oct, in_uc, out_uc, in_bc, out_bc, in_mc, out_mc, in_disc, out_disc, in_err, out_err = c
        rack_tx = rack_rx = 0.0
        pid, tor = plane.id, plane.tors[r]
        for i in layout.rack_members[r]:
            if port_up[i]:
                if reach[i]:
                    share = weight / wsum[i] * load
                    tx = tr.tx[i] * share * (0.9 + 0.2 * rand())
                    rx = tr.rx[i] * share * (0.9 + 0.2 * rand())
                    rack_tx += tx
                    rack_rx += rx
                    size = tr.packet_size[i]
                    in_uc[i] += tx / size
                    out_uc[i] += rx / size
                else:
                    tx = rx = 0.0
                bc = tr.arp_pps[i] * dt + storm * dt
                extra = storm * STORM_FRAME_BYTES * dt
                in_oct[i] += tx + extra
                out_oct[i] += rx + extra
                in_bc[i] += bc
                out_bc[i] += bc
                in_mc[i] += MULTICAST_PPS * dt + storm * 0.2 * dt
                out_mc[i] += MULTICAST_PPS * dt + storm * 0.2 * dt
                in_disc[i] += 0.001 * dt
                out_disc[i] += storm * 0.05 * dt
            out.append(PortCounters(
                ts=t, plane=pid, device=tor, port=layout.server_port[i],
                in_octets=int(in_oct[i]), out_octets=int(out_oct[i]),
                in_unicast_pkts=int(in_uc[i]), out_unicast_pkts=int(out_uc[i]),
                in_broadcast_pkts=int(in_bc[i]), out_broadcast_pkts=int(out_bc[i]),
                in_multicast_pkts=int(in_mc[i]), out_multicast_pkts=int(out_mc[i]),
                in_discards=int(in_disc[i]), out_discards=int(out_disc[i]),
                in_errors=int(in_err[i]), out_errors=int(out_err[i]),
            ))
        self._add_uplinks(pi, r, rack_tx, rack_rx, dt, storm)
        u_c, base = self._upl[pi], self._uplink_offset[pi][r]
        for u, port in enumerate(plane.tor_uplinks[r]):
            out.append(self._port_record(t, pid, tor, port, u_c, base + u, mirror=False))

    @staticmethod
    def _port_record(t: float, pid: int, device: str, port: str, c: list[array], x: int, mirror: bool) -> PortCounters:
        """PortCounters of counter row ``x``; ``mirror`` swaps in/out (a spine port sees a ToR uplink from the other end)."""
        a, b = (1, 0) if mirror else (0, 1)
        return PortCounters(
            ts=t, plane=pid, device=device, port=port,
            in_octets=int(c[IN_OCT + a][x]), out_octets=int(c[IN_OCT + b][x]),
            in_unicast_pkts=int(c[IN_UC + a][x]), out_unicast_pkts=int(c[IN_UC + b][x]),
            in_broadcast_pkts=int(c[IN_BC + a][x]), out_broadcast_pkts=int(c[IN_BC + b][x]),
            in_multicast_pkts=int(c[IN_MC + a][x]), out_multicast_pkts=int(c[IN_MC + b][x]),
            in_discards=int(c[IN_DISC + a][x]), out_discards=int(c[IN_DISC + b][x]),
            in_errors=int(c[IN_ERR + a][x]), out_errors=int(c[IN_ERR + b][x]),
        )

    def _on_spine_counters(self, t: float, out: list[Record], pi: int, s: int) -> None:
        """A spine's rack ports mirror the ToR uplinks facing it (as of the ToR's last sample); RR ports carry BGP only."""
        self._push(t + self.counter_interval, "spine_counters", (pi, s))
        plane = self.layout.planes[pi]
        pid, spine, c = plane.id, plane.spines[s], self._upl[pi]
        for r, port in enumerate(self.layout.spine_rack_ports):
            if s < len(plane.tor_uplinks[r]):
                out.append(self._port_record(t, pid, spine, port, c, self._uplink_offset[pi][r] + s, mirror=True))
        elapsed = t - self.start_ts + 1e6
        bgp_bytes = int(RR_PORT_BYTES_PER_SESSION * self._S * elapsed)
        for k in range(len(plane.rr_addresses)):
            out.append(PortCounters(
                ts=t, plane=pid, device=spine, port=self.layout.spine_rr_ports[k],
                in_octets=bgp_bytes, out_octets=bgp_bytes, in_unicast_pkts=bgp_bytes // 80, out_unicast_pkts=bgp_bytes // 80,
                in_broadcast_pkts=int(elapsed * 0.01), out_broadcast_pkts=int(elapsed * 0.01),
                in_multicast_pkts=0, out_multicast_pkts=0, in_discards=0, out_discards=0, in_errors=0, out_errors=0,
            ))

    def _on_sflow_counters(self, t: float, out: list[Record], pi: int, r: int) -> None:
        """sFlow counter samples of a ToR's server ports (the agent exports what its interface counters say)."""
        assert self.sflow_counter_interval
        self._push(t + self.sflow_counter_interval, "sflow_counters", (pi, r))
        plane, layout = self.layout.planes[pi], self.layout
        tor = plane.tors[r]
        agent = plane.agents[tor]
        c, port_up = self._srv[pi], self._port_up[pi]
        seq = self._sflow_seq.get(tor, 0)
        for i in layout.rack_members[r]:
            seq += 1
            out.append(SflowCounterSample(
                ts=t, plane=plane.id, agent=agent, device=tor, sequence=seq,
                if_index=port_index(layout.server_port[i]), if_speed=PORT_SPEED, if_oper_up=bool(port_up[i]),
                in_octets=int(c[IN_OCT][i]), in_ucast_pkts=_wrap32(c[IN_UC][i]), in_mcast_pkts=_wrap32(c[IN_MC][i]),
                in_bcast_pkts=_wrap32(c[IN_BC][i]), in_discards=_wrap32(c[IN_DISC][i]), in_errors=_wrap32(c[IN_ERR][i]),
                out_octets=int(c[OUT_OCT][i]), out_ucast_pkts=_wrap32(c[OUT_UC][i]), out_mcast_pkts=_wrap32(c[OUT_MC][i]),
                out_bcast_pkts=_wrap32(c[OUT_BC][i]), out_discards=_wrap32(c[OUT_DISC][i]), out_errors=_wrap32(c[OUT_ERR][i]),
            ))
        self._sflow_seq[tor] = seq

    def _on_fdb_snapshot(self, t: float, out: list[Record], pi: int, r: int, s: int, stagger: float | None) -> None:
        """The whole MAC table of one ToR (``r >= 0``) or spine (``s >= 0``)."""
        then = t if stagger is None else self.start_ts + stagger
        self._push(then + self.fdb_interval, "fdb_snapshot", (pi, r, s, None))
        plane = self.layout.planes[pi]
        device = plane.tors[r] if r >= 0 else plane.spines[s]
        if self._down_ports[pi] == 0 and not self._leaked[pi]:
            macs, vlans, ports = self._fdb_macs[pi], self._fdb_vlans[pi], self._healthy_fdb_ports(pi, r)
        else:
            macs, vlans, ports = self._degraded_fdb(pi, r, s)
        out.append(FdbSnapshot(ts=t, plane=plane.id, device=device, macs=macs, vlans=vlans, ports=ports))

    def _healthy_fdb_ports(self, pi: int, r: int) -> list[str]:
        """Ports of the plane's MAC order on a healthy switch, built from per-rack blocks (cheap even at 20k servers).

        The ``macs``/``vlans`` lists of healthy snapshots are shared between the switches of a
        plane; consumers must treat snapshot lists as read-only.
        """
        layout, plane = self.layout, self.layout.planes[pi]
        ports: list[str] = []
        for rack, members in enumerate(layout.rack_members):
            if rack == r:
                ports.extend(layout.server_port[i] for i in members)
            else:
                ports.extend([self._fdb_port_towards(pi, r, -1, rack, "")] * len(members))
        if r >= 0:
            uplinks = plane.tor_uplinks[r]
            ports.extend(uplinks[k % len(uplinks)] for k in range(len(plane.rr_macs)))
        else:
            ports.extend(layout.spine_rr_ports[: len(plane.rr_macs)])
        return ports

    def _degraded_fdb(self, pi: int, r: int, s: int) -> tuple[list[str], list[int], list[str]]:
        """Entry by entry: a MAC is present while its port and the switch's path towards it are up; plus leaked MACs."""
        layout, plane = self.layout, self.layout.planes[pi]
        port_up = self._port_up[pi]
        path_up = self._uplink_up[pi][r] if r >= 0 else self._spine_up[pi][s]
        macs: list[str] = []
        ports: list[str] = []

        def path_ok(rack: int) -> bool:
            if r < 0:
                return bool(path_up[rack])
            return rack == r or bool(path_up[rack % len(path_up)])

        for i in self._fdb_order:
            rack = layout.server_rack[i]
            if port_up[i] and path_ok(rack):
                macs.append(plane.server_macs[i])
                ports.append(self._fdb_port_towards(pi, r, s, rack, layout.server_port[i]))
        for k, mac in enumerate(plane.rr_macs):
            if r < 0:
                macs.append(mac)
                ports.append(layout.spine_rr_ports[k])
            elif path_up[k % len(path_up)]:
                macs.append(mac)
                ports.append(plane.tor_uplinks[r][k % len(path_up)])
        for mac, i in self._leaked[pi].items():
            rack = layout.server_rack[i]
            if path_ok(rack):
                macs.append(mac)
                ports.append(self._fdb_port_towards(pi, r, s, rack, layout.server_port[i]))
        return macs, [plane.vlan] * len(macs), ports

    def _on_bgp_poll(self, t: float, out: list[Record], r: int) -> None:
        """BIRD ``show protocols all`` on every live server of a rack: route counts and deltas since the last poll.

        Imports of a session = routes the plane's RR mesh has from *other* servers; the
        deltas come from plane-wide cumulative update/withdraw totals minus the server's own,
        so one pass is O(sessions) however much churn there was. A session that just came up
        imports (and exports) its whole table once. A dead server's BIRD answers nothing.
        """
        self._push(t + self.tick, "bgp_poll", (r,))
        layout = self.layout
        alive, prefixes, fresh = self._alive, self._prefixes, self._fresh
        for pi, plane in enumerate(layout.planes):
            pid = plane.id
            updates, withdraws, announced = self._updates[pi], self._withdraws[pi], self._announced[pi]
            own_u, own_w, conn = self._own_updates[pi], self._own_withdraws[pi], self._conn[pi]
            for k, (protocol, peer) in enumerate(zip(plane.protocols, plane.rr_addresses)):
                up = self._sess_up[pi][k]
                seen_iu, seen_iw, seen_eu, seen_ew = self._seen[pi][k]
                for i in layout.rack_members[r]:
                    if not alive[i]:
                        continue
                    iu, iw, eu, ew = updates - own_u[i], withdraws - own_w[i], own_u[i], own_w[i]
                    d_iu, d_iw, d_eu, d_ew = iu - seen_iu[i], iw - seen_iw[i], eu - seen_eu[i], ew - seen_ew[i]
                    seen_iu[i], seen_iw[i], seen_eu[i], seen_ew[i] = iu, iw, eu, ew
                    if up[i]:
                        own = prefixes[i] if conn[i] else 0
                        imported, exported = announced - own, prefixes[i]
                        if fresh and (pi, k, i) in fresh:
                            fresh.discard((pi, k, i))
                            d_iu += imported
                            d_eu += exported
                    else:
                        imported = exported = d_iu = d_iw = d_eu = d_ew = 0
                    out.append(BgpRouteCounters(
                        ts=t, plane=pid, node=layout.servers[i], protocol=protocol, peer_ip=peer,
                        routes_imported=imported, routes_exported=exported,
                        import_updates=d_iu, import_withdraws=d_iw, export_updates=d_eu, export_withdraws=d_ew,
                    ))

    _handlers: dict[str, Callable[..., None]] = {
        "server_port": _on_server_port,
        "uplink": _on_uplink,
        "spine_port": _on_spine_port,
        "session": _on_session,
        "alive": _on_alive,
        "plane_failed": _on_plane_failed,
        "link_failed": _on_link_failed,
        "weight": _on_weight,
        "storm": _on_storm,
        "leak_learn": _on_leak_learn,
        "leak_age": _on_leak_age,
        "churn": _on_churn,
        "tor_counters": _on_tor_counters,
        "spine_counters": _on_spine_counters,
        "sflow_counters": _on_sflow_counters,
        "fdb_snapshot": _on_fdb_snapshot,
        "bgp_poll": _on_bgp_poll,
    }


def _wrap32(value: float) -> int:
    """sFlow's generic interface packet counters are 32-bit on the wire: they wrap, as a switch's do.

    All ones is reserved for "unknown", so a wrapped value never lands on it.
    """
    wrapped = int(value) % (1 << 32)
    return wrapped if wrapped != 0xFFFFFFFF else 0

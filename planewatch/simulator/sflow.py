"""sFlow flow samples: a handful of sampled frames per switch per tick.

Real sampling volume scales with packet rate (thousands of samples per second on a busy
ToR); the detectors only need the *mix* — who talks to whom, and how much of it is
broadcast or comes from MACs the fabric should never see — so the simulator draws a fixed
small number of unicast samples per switch per tick between servers reachable on that
plane, plus a rare broadcast ARP. Faults change the mix: a broadcast storm adds
broadcast samples in proportion to its pps (capped), a MAC leak adds frames from the
leaked workload MACs on the leaking server's ToR.

ifIndex is the port number (``Ethernet12`` → 12); a flooded frame's output is sFlow's
"multiple interfaces" encoding ``0x80000000 | count``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from planewatch.schemas.records import Record, SflowFlowSample
from planewatch.simulator.layout import port_index

if TYPE_CHECKING:
    from planewatch.simulator.engine import Simulator

TOR_SAMPLING_RATE = 4096
SPINE_SAMPLING_RATE = 8192
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
ETHERTYPE_IPV4, ETHERTYPE_ARP = 0x0800, 0x0806
STEADY_BROADCAST_FRACTION = 0.002
"""Share of samples that are ARP broadcasts in steady state (i.e. almost never)."""
MAX_STORM_SAMPLES = 64
"""Per switch per tick, however violent the storm."""
LEAK_SAMPLES = 2
FRAME_LENGTHS = (1514, 1514, 1514, 9014, 590, 66, 66)


def multiple_interfaces(count: int) -> int:
    return 0x80000000 | min(count, 0x3FFFFFFF)


class FlowSampler:
    """Draws the flow samples of every switch for one tick, from the simulator's current state."""

    def __init__(self, sim: Simulator, rng: random.Random):
        self.sim = sim
        self.rng = rng
        self._sequence: dict[str, int] = {}

    def emit(self, t0: float, t1: float, out: list[Record]) -> None:
        sim = self.sim
        for pi, plane in enumerate(sim.layout.planes):
            for r, tor in enumerate(plane.tors):
                self._tor(pi, r, tor, t0, t1, out)
            for s, spine in enumerate(plane.spines):
                self._spine(pi, s, spine, t0, t1, out)

    # -- helpers -----------------------------------------------------------------------------
    def _time(self, t0: float, t1: float) -> float:
        t = self.rng.uniform(t0, t1)
        return t if t > t0 else t1

    def _sample(self, pi: int, device: str, rate: int, t: float, in_if: int, out_if: int,
                src: str, dst: str, ethertype: int, length: int, frame_class: str) -> SflowFlowSample:
        plane = self.sim.layout.planes[pi]
        seq = self._sequence.get(device, 0) + 1
        self._sequence[device] = seq
        return SflowFlowSample(
            ts=t, plane=plane.id, agent=plane.agents[device], device=device, sequence=seq, sampling_rate=rate,
            input_if=in_if, output_if=out_if, src_mac=src, dst_mac=dst, vlan=plane.vlan,
            ethertype=ethertype, frame_class=frame_class, frame_length=length,
        )

    def _peer(self, pi: int, exclude: int) -> int | None:
        """A random server reachable on plane ``pi`` (a few tries; None on a dead plane)."""
        reach, n = self.sim._reach[pi], self.sim._S
        for _ in range(8):
            j = self.rng.randrange(n)
            if reach[j] and j != exclude:
                return j
        return None

    def _storm_samples(self, pi: int, ports: int) -> int:
        storm = self.sim._storm[pi]
        if not storm:
            return 0
        return min(MAX_STORM_SAMPLES, round(storm * ports * self.sim.tick / TOR_SAMPLING_RATE))

    # -- per switch ----------------------------------------------------------------------------
    def _tor(self, pi: int, r: int, tor: str, t0: float, t1: float, out: list[Record]) -> None:
        sim, rng = self.sim, self.rng
        layout, plane = sim.layout, sim.layout.planes[pi]
        members = layout.rack_members[r]
        reach = sim._reach[pi]
        uplinks = plane.tor_uplinks[r]
        local = [i for i in members if reach[i]]
        if local:
            for _ in range(sim.flow_samples_per_tick):
                i = rng.choice(local)
                if rng.random() < STEADY_BROADCAST_FRACTION:
                    out.append(self._sample(pi, tor, TOR_SAMPLING_RATE, self._time(t0, t1), port_index(layout.server_port[i]),
                                            multiple_interfaces(len(members) + len(uplinks) - 1), plane.server_macs[i],
                                            BROADCAST_MAC, ETHERTYPE_ARP, 64, "broadcast"))
                    continue
                j = self._peer(pi, i)
                if j is None:
                    continue
                far = uplinks[layout.server_rack[j] % len(uplinks)]
                here = layout.server_port[i]
                there = layout.server_port[j] if layout.server_rack[j] == r else far
                src, dst, in_port, out_port = (i, j, here, there) if rng.random() < 0.5 else (j, i, there, here)
                out.append(self._sample(pi, tor, TOR_SAMPLING_RATE, self._time(t0, t1), port_index(in_port), port_index(out_port),
                                        plane.server_macs[src], plane.server_macs[dst], ETHERTYPE_IPV4,
                                        rng.choice(FRAME_LENGTHS), "unicast"))
        self._storm(pi, tor, members, uplinks, t0, t1, out)
        self._leak(pi, r, tor, t0, t1, out)

    def _storm(self, pi: int, tor: str, members: list[int], uplinks: list[str], t0: float, t1: float, out: list[Record]) -> None:
        """Looping broadcasts: any MAC of the plane, in on any port, flooded out of all the others."""
        sim, rng = self.sim, self.rng
        plane, layout = sim.layout.planes[pi], sim.layout
        ports = [layout.server_port[i] for i in members if sim._port_up[pi][i]] + list(uplinks)
        for _ in range(self._storm_samples(pi, len(ports))):
            src = plane.server_macs[rng.randrange(sim._S)]
            out.append(self._sample(pi, tor, TOR_SAMPLING_RATE, self._time(t0, t1), port_index(rng.choice(ports)),
                                    multiple_interfaces(len(ports) - 1), src, BROADCAST_MAC, ETHERTYPE_ARP, 64, "broadcast"))

    def _leak(self, pi: int, r: int, tor: str, t0: float, t1: float, out: list[Record]) -> None:
        """Frames from leaked workload MACs, seen where they enter: the leaking server's port."""
        sim, rng = self.sim, self.rng
        leaked = sim._leaked[pi]
        if not leaked:
            return
        layout, plane = sim.layout, sim.layout.planes[pi]
        sources = [(mac, i) for mac, i in list(leaked.items())[-64:] if layout.server_rack[i] == r]
        for _ in range(LEAK_SAMPLES if sources else 0):
            mac, i = rng.choice(sources)
            j = self._peer(pi, i)
            dst, length, ethertype, frame_class = (
                (plane.server_macs[j], rng.choice(FRAME_LENGTHS), ETHERTYPE_IPV4, "unicast") if j is not None and rng.random() < 0.7
                else (BROADCAST_MAC, 64, ETHERTYPE_ARP, "broadcast")
            )
            out_if = multiple_interfaces(len(layout.rack_members[r])) if frame_class == "broadcast" else 0x3FFFFFFF
            out.append(self._sample(pi, tor, TOR_SAMPLING_RATE, self._time(t0, t1), port_index(layout.server_port[i]), out_if,
                                    mac, dst, ethertype, length, frame_class))

    def _spine(self, pi: int, s: int, spine: str, t0: float, t1: float, out: list[Record]) -> None:
        """Rack-to-rack unicast crossing this spine."""
        sim, rng = self.sim, self.rng
        layout, plane = sim.layout, sim.layout.planes[pi]
        if sim._R < 2:
            return
        for _ in range(sim.flow_samples_per_tick):
            i = self._peer(pi, -1)
            j = self._peer(pi, -1) if i is not None else None
            if i is None or j is None:
                continue
            ri, rj = layout.server_rack[i], layout.server_rack[j]
            if ri == rj or not (sim._spine_up[pi][s][ri] and sim._spine_up[pi][s][rj]):
                continue
            out.append(self._sample(pi, spine, SPINE_SAMPLING_RATE, self._time(t0, t1),
                                    port_index(layout.spine_rack_ports[ri]), port_index(layout.spine_rack_ports[rj]),
                                    plane.server_macs[i], plane.server_macs[j], ETHERTYPE_IPV4,
                                    rng.choice(FRAME_LENGTHS), "unicast"))
        ports = len(layout.spine_rack_ports)
        for _ in range(self._storm_samples(pi, ports)):
            r = rng.randrange(sim._R)
            out.append(self._sample(pi, spine, SPINE_SAMPLING_RATE, self._time(t0, t1),
                                    port_index(layout.spine_rack_ports[r]), multiple_interfaces(ports - 1),
                                    plane.server_macs[rng.randrange(sim._S)], BROADCAST_MAC, ETHERTYPE_ARP, 64, "broadcast"))

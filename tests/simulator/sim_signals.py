"""Measure what the simulator emits the way a detector would: rates from cumulative counters, per plane."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from planewatch.inventory import Inventory
from planewatch.schemas.records import PortCounters, Record
from planewatch.simulator import Fault, Simulator, build_fabric

START = 1_700_000_000.0


def simulate(seconds: float, faults: Iterable[Fault] = (), *, inventory: Inventory | None = None, seed: int = 0,
             **options: float) -> tuple[Inventory, list[list[Record]]]:
    """Run a fresh simulator for ``seconds``; returns the inventory and the records of every step."""
    inventory = inventory or build_fabric()
    sim = Simulator(inventory, list(faults), start_ts=START, seed=seed, **options)
    steps = []
    while sim.now < START + seconds:
        steps.append(sim.step())
    return inventory, steps


def flatten(steps: list[list[Record]]) -> list[Record]:
    return [record for step in steps for record in step]


def _rates(records: Iterable[Record], inventory: Inventory, lo: float, hi: float, fields: tuple[str, ...],
           server_ports: bool = True) -> dict[tuple[int, str, str], float]:
    """Per (plane, device, port): growth of the summed ``fields`` per second between its first and last sample in [lo, hi]."""
    first: dict[tuple[int, str, str], tuple[float, int]] = {}
    last: dict[tuple[int, str, str], tuple[float, int]] = {}
    for r in records:
        if isinstance(r, PortCounters) and lo <= r.ts - START <= hi:
            if server_ports != inventory.is_server_port(r.device, r.port):
                continue
            key = (r.plane, r.device, r.port)
            value = sum(getattr(r, f) or 0 for f in fields)
            first.setdefault(key, (r.ts, value))
            last[key] = (r.ts, value)
    return {k: (last[k][1] - first[k][1]) / (last[k][0] - first[k][0]) for k in first if last[k][0] > first[k][0]}


def plane_shares(records: Iterable[Record], inventory: Inventory, lo: float, hi: float) -> dict[int, float]:
    """Each plane's share of server-port bytes (in + out) between ``lo`` and ``hi`` seconds after the start."""
    per_plane: dict[int, float] = defaultdict(float)
    for (plane, _, _), rate in _rates(records, inventory, lo, hi, ("in_octets", "out_octets")).items():
        per_plane[plane] += rate
    total = sum(per_plane.values())
    return {p: per_plane.get(p, 0.0) / total for p in inventory.plane_ids}


def broadcast_pps(records: Iterable[Record], inventory: Inventory, lo: float, hi: float) -> dict[int, float]:
    """Highest broadcast+multicast pps (in + out) of any server port, per plane."""
    worst: dict[int, float] = {p: 0.0 for p in inventory.plane_ids}
    fields = ("in_broadcast_pkts", "out_broadcast_pkts", "in_multicast_pkts", "out_multicast_pkts")
    for (plane, _, _), rate in _rates(records, inventory, lo, hi, fields).items():
        worst[plane] = max(worst[plane], rate)
    return worst


def of_type(records: Iterable[Record], kind: type) -> list:
    return [r for r in records if isinstance(r, kind)]

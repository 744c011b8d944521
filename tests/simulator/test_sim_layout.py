"""The simulator also runs a hand-written inventory, and says what is missing when it cannot."""

from __future__ import annotations

import pytest
from sim_signals import START

from planewatch.inventory import parse_inventory
from planewatch.schemas.records import FdbSnapshot, PortCounters
from planewatch.simulator import Simulator
from planewatch.simulator.layout import LayoutError


def small(with_tor_b: bool = True) -> dict:
    switches = [{"name": "a-tor1", "plane": "a", "rack": "r1", "role": "tor", "address": "192.0.2.1"}]
    if with_tor_b:
        switches.append({"name": "b-tor1", "plane": "b", "rack": "r1", "role": "tor", "address": "192.0.2.2"})
    return {
        "planes": [{"id": 1, "name": "a", "subnets": ["10.1.0.0/16"]}, {"id": 2, "name": "b", "subnets": ["10.2.0.0/16"]}],
        "switches": switches,
        "route_reflectors": [{"name": "rr-a", "plane": "a", "address": "10.1.255.1"},
                             {"name": "rr-b", "plane": "b", "address": "10.2.255.1"}],
        "servers": [{"name": f"s{n}", "rack": "r1", "addresses": {"a": f"10.1.0.{n}", "b": f"10.2.0.{n}"}} for n in (1, 2, 3)],
    }


def test_hand_written_inventory_without_macs_or_uplinks_simulates() -> None:
    sim = Simulator(parse_inventory(small()), start_ts=START)
    records = [r for _ in range(4) for r in sim.step()]
    ports = {(r.device, r.port) for r in records if isinstance(r, PortCounters)}
    assert ports == {(d, p) for d in ("a-tor1", "b-tor1") for p in ("Ethernet1", "Ethernet2", "Ethernet3", "Ethernet49")}
    snap = next(r for r in records if isinstance(r, FdbSnapshot) and r.device == "b-tor1")
    assert len(snap.macs) == 3 + 1 and snap.vlans == [102] * 4


def test_missing_tor_is_explained() -> None:
    with pytest.raises(LayoutError, match="plane b has no ToR for rack"):
        Simulator(parse_inventory(small(with_tor_b=False)), start_ts=START)

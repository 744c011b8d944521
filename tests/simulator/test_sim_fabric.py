"""build_fabric: the naming/address plan, a valid inventory, and 20,000 servers in seconds."""

from __future__ import annotations

import time

import pytest

from planewatch.inventory import parse_inventory
from planewatch.simulator import build_fabric


def test_default_fabric_follows_the_plan() -> None:
    inv = build_fabric()
    assert [inv.plane_name(p) for p in inv.plane_ids] == ["blue", "green", "orange", "red"]
    assert [str(n) for n in inv.planes[2].subnets] == ["10.2.0.0/16", "fd00:2::/64"]
    assert inv.planes[3].vlan == 103
    assert len(inv.servers) == 8 * 16
    assert len(inv.switches) == 4 * (8 + 2)
    assert len(inv.route_reflectors) == 4 * 2
    tor = inv.switches["p2-tor-r07"]
    assert (tor.role, tor.rack, tor.uplinks) == ("tor", "r07", ["Ethernet49", "Ethernet50"])
    assert tor.sflow_agent == tor.address
    assert inv.switches["p3-spine2"].role == "spine"
    server = inv.servers["r07-s05"]
    assert {p: str(a) for p, a in server.addresses.items()} == {p: f"10.{p}.7.15" for p in (1, 2, 3, 4)}
    assert inv.owner_of_ip("10.2.255.1") == "p2-rr1"
    assert inv.plane_of_ip("10.4.255.2") == 4
    for p in inv.plane_ids:
        assert len(inv.expected_macs(p)) == 128 + 2
        assert all(int(mac[:2], 16) & 0b10 for mac in inv.expected_macs(p))  # locally administered


def test_fabric_passes_full_inventory_validation() -> None:
    inv = build_fabric(planes=5, racks=3, servers_per_rack=50, route_reflectors_per_plane=3, spines_per_plane=4, seed=7)
    again = parse_inventory(inv.document.model_dump(mode="json"))
    assert again.plane_name(5) == "plane-5"
    assert inv.switches["p1-tor-r01"].uplinks == [f"Ethernet{57 + s}" for s in range(4)]  # after 50 server ports


def test_seed_changes_macs_only() -> None:
    a, b = build_fabric(racks=2, seed=0), build_fabric(racks=2, seed=1)
    assert a.expected_macs(1).isdisjoint(b.expected_macs(1))
    assert list(a.servers) == list(b.servers)


def test_out_of_range_says_what_to_use() -> None:
    with pytest.raises(ValueError, match=r"racks=300 is out of range: use 1\.\.254"):
        build_fabric(racks=300)


def test_twenty_thousand_servers_in_seconds() -> None:
    started = time.perf_counter()
    inv = build_fabric(planes=4, racks=250, servers_per_rack=80)
    assert time.perf_counter() - started < 10
    assert len(inv.servers) == 20_000
    assert len(inv.expected_macs(2)) == 20_002


def test_servers_list_the_tor_port_facing_them_on_every_plane() -> None:
    inv = build_fabric(planes=3, racks=3, servers_per_rack=50, spines_per_plane=2)
    for p in inv.plane_ids:
        assert inv.port_of("r02-s07", p) == (f"p{p}-tor-r02", "Ethernet7")
        assert inv.server_on_port(f"p{p}-tor-r03", "Ethernet50") == "r03-s50"
    assert inv.port_of("r02-s07", "orange") == ("p3-tor-r02", "Ethernet7")
    assert inv.server_on_port("p1-tor-r01", "Ethernet57") is None  # uplink to spine 1 (after 50 server ports)
    assert inv.server_on_port("p1-spine1", "Ethernet1") is None
    mapped = {inv.port_of(s, p) for s in inv.servers for p in inv.plane_ids}
    assert len(mapped) == 3 * 3 * 50 and all(inv.is_server_port(*port) for port in mapped)


def test_the_simulator_reports_each_server_on_the_port_the_inventory_names() -> None:
    from planewatch.schemas.records import PortCounters
    from planewatch.simulator import Simulator

    inv = build_fabric(planes=2, racks=2, servers_per_rack=4)
    sim = Simulator(inv, start_ts=1_700_000_000.0)
    records = [r for _ in range(3) for r in sim.step() if isinstance(r, PortCounters)]
    attributed = {inv.server_on_port(r.device, r.port) for r in records if inv.is_server_port(r.device, r.port)}
    assert attributed == set(inv.servers)
    for i, name in enumerate(sim.layout.servers):  # the simulator's own layout agrees
        rack = sim.layout.server_rack[i]
        for plane in sim.layout.planes:
            assert inv.port_of(name, plane.id) == (plane.tors[rack], sim.layout.server_port[i])

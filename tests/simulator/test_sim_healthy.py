"""A healthy fabric looks like the Calico note says: 1/N per plane, no broadcast, one MAC per server per plane."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest
from sim_signals import START, broadcast_pps, flatten, of_type, plane_shares, simulate

from planewatch.schemas.records import (
    BgpRouteCounters,
    BgpSession,
    FdbSnapshot,
    InterfaceStatus,
    PortCounters,
    SflowCounterSample,
    SflowFlowSample,
    Watermark,
)
from planewatch.simulator import Simulator, build_fabric


@pytest.fixture(scope="module")
def run():
    inventory, steps = simulate(150)
    return inventory, steps, flatten(steps)


def test_every_record_lies_in_its_tick_and_a_watermark_closes_it(run) -> None:
    _, steps, _ = run
    previous = START
    for n, step in enumerate(steps, 1):
        now = START + 5.0 * n
        assert step[-1] == Watermark(ts=now, plane=0)
        assert all(previous < r.ts <= now for r in step), n
        assert not any(isinstance(r, Watermark) for r in step[:-1])
        previous = now


def test_planes_share_traffic_equally(run) -> None:
    inventory, _, records = run
    for share in plane_shares(records, inventory, 10, 150).values():
        assert share == pytest.approx(0.25, abs=0.01)


def test_broadcast_is_near_zero(run) -> None:
    inventory, _, records = run
    assert max(broadcast_pps(records, inventory, 10, 150).values()) < 1.0
    flows = of_type(records, SflowFlowSample)
    assert len(flows) > 500
    assert sum(f.frame_class == "broadcast" for f in flows) / len(flows) < 0.02
    macs = set().union(*(inventory.expected_macs(p) for p in inventory.plane_ids))
    assert all(f.src_mac in macs for f in flows)


def test_first_step_reports_initial_state(run) -> None:
    inventory, steps, _ = run
    first = steps[0]
    status = of_type(first, InterfaceStatus)
    assert status and all(s.oper_status == "UP" for s in status)
    server_ports = {(s.device, s.port) for s in status if inventory.is_server_port(s.device, s.port)}
    assert len(server_ports) == 4 * 128
    sessions = of_type(first, BgpSession)
    assert all(s.established for s in sessions)
    expected = {(name, str(rr.address)) for name in inventory.servers for rr in inventory.route_reflectors}
    assert {(s.node, s.peer_ip) for s in sessions} == expected
    assert all(s.plane == inventory.plane_of_ip(s.peer_ip) for s in sessions)
    assert {s.protocol for s in sessions if s.peer_ip == "10.3.255.2"} == {"Node_10_3_255_2"}
    assert {f.device for f in of_type(first, FdbSnapshot)} == set(inventory.switches)


def test_every_switch_holds_exactly_its_planes_servers_and_rrs(run) -> None:
    inventory, _, records = run
    snapshots = of_type(records, FdbSnapshot)
    assert Counter(s.device for s in snapshots).most_common()[-1][1] >= 2  # every switch snapshotted again
    for snap in snapshots:
        assert snap.plane == inventory.plane_of_switch(snap.device)
        assert len(snap.macs) == len(snap.vlans) == len(snap.ports)
        assert set(snap.macs) == inventory.expected_macs(snap.plane)
        assert set(snap.vlans) == {100 + snap.plane}
        switch = inventory.switches[snap.device]
        if switch.role == "tor":
            local = {m for m, p in zip(snap.macs, snap.ports) if p not in switch.uplinks}
            rack = {inventory.servers[n].macs[snap.plane] for n in inventory.servers if inventory.servers[n].rack == switch.rack}
            assert local == rack


def test_counters_cover_every_port_every_interval(run) -> None:
    inventory, _, records = run
    counters = of_type(records, PortCounters)
    per_port = Counter((c.device, c.port) for c in counters)
    tor_ports = sum(1 for s in inventory.switches.values() if s.role == "tor") * (16 + 2)
    spine_ports = sum(1 for s in inventory.switches.values() if s.role == "spine") * (8 + 2)
    assert len(per_port) == tor_ports + spine_ports
    assert min(per_port.values()) >= 14  # 150 s / 10 s
    for c in counters:  # cumulative, never backwards
        assert c.in_octets > 0 and c.in_unicast_pkts > 0
    sflow = of_type(records, SflowCounterSample)
    assert {(s.device, s.if_index) for s in sflow} == {(d, int(p[8:])) for d, p in per_port if inventory.is_server_port(d, p)}


def test_route_counters_every_tick_with_tiny_churn(run) -> None:
    inventory, steps, records = run
    for step in steps:
        assert len(of_type(step, BgpRouteCounters)) == 128 * 8
    routes = of_type(records, BgpRouteCounters)
    assert all(120 <= r.routes_imported <= 2 * 127 for r in routes)  # other servers' workload blocks
    assert len({r.routes_imported for r in routes if r.peer_ip == "10.1.255.1"}) <= 3
    assert sum(r.import_updates + r.import_withdraws for r in routes) < len(routes) * 0.01


def test_same_seed_same_records_other_seed_other_noise() -> None:
    inventory = build_fabric(racks=2, servers_per_rack=4)

    def encoded(seed: int) -> bytes:
        sim = Simulator(inventory, start_ts=START, seed=seed)
        return msgspec.msgpack.encode([sim.step() for _ in range(15)])

    assert encoded(3) == encoded(3)
    assert encoded(3) != encoded(4)


def test_a_big_fabric_steps_in_linear_time() -> None:
    """Not a benchmark: guards against anything quadratic sneaking into a step."""
    import time

    inventory = build_fabric(planes=4, racks=40, servers_per_rack=50)  # 2,000 servers
    sim = Simulator(inventory, start_ts=START)
    sim.step()
    started = time.perf_counter()
    for _ in range(4):
        sim.step()
    assert (time.perf_counter() - started) / 4 < 0.5

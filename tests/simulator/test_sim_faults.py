"""Each fault changes the signals it should — and nothing else."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_signals import START, broadcast_pps, flatten, of_type, plane_shares, simulate

from planewatch.schemas.records import (
    BgpRouteCounters,
    BgpSession,
    FdbChange,
    FdbSnapshot,
    InterfaceStatus,
    SflowFlowSample,
)
from planewatch.simulator import Fault

AT, FOR, END, RUN = 60.0, 120.0, 180.0, 270.0


def run(fault: Fault):
    inventory, steps = simulate(RUN, [fault])
    return inventory, steps, flatten(steps)


def changes(records, kind):
    """Records of ``kind`` after the first step (the initial state)."""
    return [r for r in records if isinstance(r, kind) and r.ts > START + 5.0]


def assert_tick_bounds(steps) -> None:
    previous = START
    for n, step in enumerate(steps, 1):
        assert all(previous < r.ts <= START + 5.0 * n for r in step)
        previous = START + 5.0 * n


def assert_shares(records, inventory, lo, hi, expected: dict[int, float]) -> None:
    shares = plane_shares(records, inventory, lo, hi)
    for plane, share in shares.items():
        assert share == pytest.approx(expected.get(plane, expected.get(0)), abs=0.015), (lo, hi, shares)


@pytest.fixture(scope="module")
def plane_down():
    return run(Fault("plane-down", at=AT, duration=FOR, plane=2))


def test_plane_down_drops_every_session_of_the_plane_within_seconds(plane_down) -> None:
    inventory, steps, records = plane_down
    assert_tick_bounds(steps)
    sessions = changes(records, BgpSession)
    down = [s for s in sessions if not s.established]
    assert {s.plane for s in sessions} == {2}
    assert len(down) == 128 * 2
    assert {(s.node, s.peer_ip) for s in down} == {(n, f"10.2.255.{k}") for n in inventory.servers for k in (1, 2)}
    assert all(START + AT <= s.ts <= START + AT + 5 for s in down)
    assert all(s.state in {"Active", "Idle"} and "Hold timer" in s.info for s in down)
    up = [s for s in sessions if s.established]
    assert len(up) == 128 * 2 and all(START + END < s.ts <= START + END + 10 for s in up)


def test_plane_down_takes_its_ports_down_and_back(plane_down) -> None:
    inventory, _, records = plane_down
    status = changes(records, InterfaceStatus)
    assert {s.plane for s in status} == {2}
    down = [s for s in status if not s.is_up]
    tor_server_ports = [s for s in down if inventory.is_server_port(s.device, s.port)]
    assert len(tor_server_ports) == 128
    assert any(s.port == "Ethernet49" for s in down) and any(s.device.startswith("p2-spine") for s in down)
    assert all(START + AT < s.ts <= START + AT + 2 for s in down)
    assert len([s for s in status if s.is_up]) == len(down)


def test_plane_down_moves_traffic_to_the_other_planes(plane_down) -> None:
    inventory, _, records = plane_down
    assert_shares(records, inventory, 10, AT, {0: 0.25})
    assert_shares(records, inventory, AT + 15, END - 5, {2: 0.0, 0: 1 / 3})
    assert_shares(records, inventory, END + 20, RUN, {0: 0.25})


def test_plane_down_empties_the_planes_tables_and_bgp_counts(plane_down) -> None:
    inventory, _, records = plane_down
    during = [s for s in of_type(records, FdbSnapshot) if START + AT + 5 < s.ts < START + END]
    rr_macs = {rr.mac for rr in inventory.route_reflectors if rr.plane == 2}
    assert during and all(set(s.macs) <= rr_macs for s in during if s.plane == 2)  # RRs hang off the spines
    assert all(set(s.macs) == inventory.expected_macs(s.plane) for s in during if s.plane != 2)
    counts = [r for r in of_type(records, BgpRouteCounters) if START + AT + 5 < r.ts < START + END]
    assert all(r.routes_imported == 0 for r in counts if r.plane == 2)
    assert all(r.routes_imported > 100 for r in counts if r.plane != 2)
    after = [r for r in of_type(records, BgpRouteCounters) if START + END <= r.ts < START + END + 15 and r.plane == 2]
    assert sum(r.import_updates for r in after) > 128 * 2 * 100  # full tables re-imported


def test_server_down_is_one_server_on_every_plane() -> None:
    inventory, steps, records = run(Fault("server-down", at=AT, duration=FOR, server="r03-s07"))
    assert_tick_bounds(steps)
    down = [s for s in changes(records, BgpSession) if not s.established]
    assert {s.node for s in down} == {"r03-s07"}
    assert {s.peer_ip for s in down} == {str(rr.address) for rr in inventory.route_reflectors}
    ports = [s for s in changes(records, InterfaceStatus) if not s.is_up]
    assert {(s.device, s.port) for s in ports} == {(f"p{p}-tor-r03", "Ethernet7") for p in (1, 2, 3, 4)}
    assert_shares(records, inventory, AT + 15, END - 5, {0: 0.25})
    silent = [r for r in of_type(records, BgpRouteCounters) if r.node == "r03-s07" and START + AT + 1 < r.ts < START + END]
    assert not silent
    aged = [c for c in changes(records, FdbChange) if c.change == "aged"]
    assert {c.mac for c in aged} == {inventory.servers["r03-s07"].macs[p] for p in (1, 2, 3, 4)}
    withdraws = [r for r in of_type(records, BgpRouteCounters) if START + AT < r.ts < START + AT + 10]
    assert sum(r.import_withdraws for r in withdraws) >= 127 * 8  # everyone else loses its routes


def test_broadcast_storm_floods_one_plane_only() -> None:
    inventory, steps, records = run(Fault("broadcast-storm", at=AT, duration=FOR, plane=3, magnitude=4000))
    assert_tick_bounds(steps)
    during = broadcast_pps(records, inventory, AT + 15, END - 5)
    assert during[3] > 4000 and max(during[p] for p in (1, 2, 4)) < 1
    assert max(broadcast_pps(records, inventory, END + 15, RUN).values()) < 1
    flows = of_type(records, SflowFlowSample)
    storm = [f for f in flows if f.frame_class == "broadcast" and START + AT < f.ts <= START + END]
    per_plane = Counter(f.plane for f in storm)
    assert per_plane[3] > 500 and max(per_plane[p] for p in (1, 2, 4)) < 20  # elsewhere: the odd ARP
    moves = changes(records, FdbChange)
    assert moves and {(m.plane, m.change) for m in moves} == {(3, "moved")}
    assert not changes(records, BgpSession) and not changes(records, InterfaceStatus)
    assert_shares(records, inventory, AT + 15, END - 5, {0: 0.25})


def test_mac_leak_grows_one_planes_tables_then_ages_out() -> None:
    inventory, steps, records = run(Fault("mac-leak", at=AT, duration=FOR, plane=2, server="r02-s03", magnitude=1.0))
    assert_tick_bounds(steps)
    learned = [c for c in changes(records, FdbChange) if c.change == "learned"]
    assert learned and {c.plane for c in learned} == {2}
    assert all(c.mac.startswith("52:54:00:") for c in learned)
    assert {c.port for c in learned if c.device == "p2-tor-r02"} == {"Ethernet3"}
    assert len({c.mac for c in learned}) == 120
    extra = {}
    for snap in of_type(records, FdbSnapshot):
        unknown = set(snap.macs) - inventory.expected_macs(snap.plane)
        assert not unknown or (snap.plane == 2 and START + AT < snap.ts < START + END + 10)
        if snap.device == "p2-tor-r05":
            extra[snap.ts] = len(unknown)
    growth = [n for ts, n in sorted(extra.items()) if START + AT < ts < START + END]
    assert growth == sorted(growth) and growth[-1] > growth[0] > 0
    aged = {c.mac for c in changes(records, FdbChange) if c.change == "aged"}
    assert aged == {c.mac for c in learned}
    leaked_sources = {f.src_mac for f in of_type(records, SflowFlowSample)} - set().union(
        *(inventory.expected_macs(p) for p in inventory.plane_ids))
    assert leaked_sources and leaked_sources <= aged
    assert not changes(records, BgpSession) and not changes(records, InterfaceStatus)
    assert_shares(records, inventory, AT + 15, END - 5, {0: 0.25})


def test_ecmp_imbalance_shifts_share_and_nothing_else() -> None:
    inventory, steps, records = run(Fault("ecmp-imbalance", at=AT, duration=FOR, plane=4, magnitude=0.4))
    assert_tick_bounds(steps)
    assert_shares(records, inventory, AT + 15, END - 5, {4: 0.4, 0: 0.2})
    assert_shares(records, inventory, END + 15, RUN, {0: 0.25})
    assert not changes(records, BgpSession) and not changes(records, InterfaceStatus) and not changes(records, FdbChange)
    assert max(broadcast_pps(records, inventory, AT + 15, END - 5).values()) < 1


def test_bgp_flap_is_one_server_to_one_plane_repeatedly() -> None:
    inventory, steps, records = run(Fault("bgp-flap", at=AT, duration=FOR, plane=2, server="r01-s02"))
    assert_tick_bounds(steps)
    sessions = changes(records, BgpSession)
    assert {(s.node, s.plane) for s in sessions} == {("r01-s02", 2)}
    downs = Counter(s.peer_ip for s in sessions if not s.established)
    assert set(downs) == {"10.2.255.1", "10.2.255.2"} and all(4 <= n <= 8 for n in downs.values())
    ups = Counter(s.peer_ip for s in sessions if s.established)
    assert ups == downs
    assert all(START + AT <= s.ts <= START + END + 15 for s in sessions)
    assert not changes(records, InterfaceStatus) and not changes(records, FdbChange)
    others = [r for r in of_type(records, BgpRouteCounters) if r.plane == 2 and r.node != "r01-s02"]
    assert sum(r.import_withdraws for r in others) >= 127 * 2 * 4  # its routes withdrawn on every flap
    assert not any(r.import_withdraws for r in of_type(records, BgpRouteCounters) if r.plane != 2)
    assert_shares(records, inventory, AT + 15, END - 5, {0: 0.25})


def test_plane_degraded_is_a_third_of_the_servers_on_one_plane() -> None:
    inventory, steps, records = run(Fault("plane-degraded", at=AT, duration=FOR, plane=2))
    assert_tick_bounds(steps)
    ports = [s for s in changes(records, InterfaceStatus) if not s.is_up]
    assert {s.plane for s in ports} == {2} and all(inventory.is_server_port(s.device, s.port) for s in ports)
    assert len(ports) == round(0.33 * 128) and all(START + AT < s.ts <= START + AT + 1 for s in ports)
    down = [s for s in changes(records, BgpSession) if not s.established]
    assert {s.plane for s in down} == {2} and len({s.node for s in down}) == len(ports)
    assert all(START + AT < s.ts <= START + AT + 3 for s in down)
    ups = [s for s in changes(records, InterfaceStatus) if s.is_up]
    assert len(ups) == len(ports) and all(START + END < s.ts <= START + END + 2 for s in ups)
    assert len([s for s in changes(records, BgpSession) if s.established]) == len(down)
    shares = plane_shares(records, inventory, AT + 15, END - 5)
    assert shares[2] == pytest.approx(0.67 * 0.25 / (1 - 0.33 * 0.25), abs=0.02)  # its servers' traffic moved away
    assert_shares(records, inventory, END + 20, RUN, {0: 0.25})


def test_background_churn_reboots_random_servers_on_every_plane() -> None:
    fault = Fault("background-churn", at=0, duration=240, magnitude=360)  # ~24 reboots expected
    inventory, steps, records = run(fault)
    assert_tick_bounds(steps)
    status = changes(records, InterfaceStatus)
    downs = [s for s in status if not s.is_up]
    by_port = Counter((s.device.split("-tor-")[1], s.port) for s in downs)
    assert 10 <= len(by_port) <= 45
    assert all(n % 4 == 0 for n in by_port.values())  # a reboot takes the server's port down on all 4 planes
    for (rack, port), n in by_port.items():  # each reboot: the server's port on all 4 planes, back after 60-120 s
        events = sorted((s.ts, s.is_up, s.plane) for s in status if s.device.endswith(rack) and s.port == port)
        assert {p for _, _, p in events} == {1, 2, 3, 4}
        first_down = min(t for t, up, _ in events if not up)
        first_up = min((t for t, up, _ in events if up), default=None)
        if first_up is not None:
            assert 60 <= first_up - first_down <= 122
    sessions = [s for s in changes(records, BgpSession) if not s.established]
    assert len({s.node for s in sessions}) == len(by_port)
    assert_shares(records, inventory, 10, RUN, {0: 0.25})  # servers vanish from every plane alike
    again = flatten(simulate(RUN, [fault])[1])
    assert [r for r in again if isinstance(r, InterfaceStatus)] == [r for r in records if isinstance(r, InterfaceStatus)]
    other = flatten(simulate(RUN, [fault], seed=1)[1])
    assert [r for r in other if isinstance(r, InterfaceStatus)] != [r for r in records if isinstance(r, InterfaceStatus)]


def test_background_churn_defaults_to_the_calico_note_rate() -> None:
    from planewatch.simulator import build_fabric

    inventory = build_fabric()
    fault = Fault("background-churn", at=0, duration=60).resolve(inventory)
    assert fault.magnitude == pytest.approx(128 * 0.05 / 24)  # 5 % of servers a day
    big = build_fabric(racks=200, servers_per_rack=100)
    assert Fault("background-churn", at=0, duration=60).resolve(big).magnitude * 24 == pytest.approx(1000)


def test_overlapping_faults_do_not_revive_what_another_holds_down() -> None:
    """Plane 3 fails while servers reboot: a server coming back during the outage stays off plane 3."""
    faults = [Fault("background-churn", at=0, duration=200, magnitude=720), Fault("plane-down", at=30, duration=150, plane=3)]
    inventory, steps = simulate(340, faults)  # the last reboot (before 200 s) is over by 330 s
    records = flatten(steps)
    status = changes(records, InterfaceStatus)
    revived = [s for s in status if s.plane == 3 and s.is_up and START + 30 < s.ts < START + 180]
    assert not revived
    back_elsewhere = [s for s in status if s.plane != 3 and s.is_up and START + 40 < s.ts < START + 180]
    assert back_elsewhere  # reboots did finish on the other planes meanwhile
    last: dict[tuple[str, str], bool] = {}
    for s in status:
        last[(s.device, s.port)] = s.is_up
    assert all(last.values())  # everything is back at the end


def test_storm_on_one_plane_while_another_is_imbalanced() -> None:
    faults = [Fault("broadcast-storm", at=AT, duration=FOR, plane=1, magnitude=2000),
              Fault("ecmp-imbalance", at=AT, duration=FOR, plane=4, magnitude=0.4)]
    inventory, steps = simulate(RUN, faults)
    records = flatten(steps)
    during = broadcast_pps(records, inventory, AT + 15, END - 5)
    assert during[1] > 2000 and max(during[p] for p in (2, 3, 4)) < 1
    assert_shares(records, inventory, AT + 15, END - 5, {4: 0.4, 0: 0.2})
    assert_shares(records, inventory, END + 15, RUN, {0: 0.25})

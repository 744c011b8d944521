"""Plane failure detector: scenarios on the 4-plane × 8-server test fabric (see conftest)."""

from __future__ import annotations

import pytest

from planewatch.schemas.records import BgpSession, Finding, Record
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.plane_failure import PlaneFailureConfig, PlaneFailureDetector

T0 = 1000.0  # the fault
T1 = 1200.0  # the repair
END = 1400.0
FAILOVER = {1: 4000 / 3, 2: 0.0, 3: 4000 / 3, 4: 4000 / 3}


def warm_up(fabric) -> list[Record]:
    """Collectors connect at 0, a healthy fabric runs until T0 (the baseline learns 1/4 each)."""
    return [*fabric.initial(0.0), *fabric.traffic(0.0, T0, fabric.HEALTHY)]


def plane2_fails(fabric, at: float = T0) -> list[Record]:
    """Plane 2's server ports drop within 0.8 s; BGP notices over the next ~30 s, server by server."""
    return [*fabric.ports(at, "DOWN", planes=[2], step=0.1), *fabric.sessions(at + 3, "Idle", planes=[2], step=4.0)]


def plane2_recovers(fabric, at: float = T1) -> list[Record]:
    """Ports come back first, then sessions re-establish one server per second."""
    return [*fabric.ports(at, "UP", planes=[2], step=0.1),
            *fabric.sessions(at + 1, "Established", planes=[2], step=1.0)]


def failover_traffic(t: float) -> dict[int, float]:
    return FAILOVER if T0 < t <= T1 else {p: 1000.0 for p in FAILOVER}


def full_outage(fabric) -> list[Record]:
    return [*warm_up(fabric), *plane2_fails(fabric), *plane2_recovers(fabric),
            *fabric.traffic(T0, END, failover_traffic)]


def test_satisfies_the_detector_contract(inventory):
    detector = PlaneFailureDetector(inventory)
    assert isinstance(detector, Detector)
    assert detector.name == "plane_failure"


def test_healthy_fabric_raises_nothing(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    assert fabric.run(detector, [*warm_up(fabric), *fabric.traffic(T0, END, fabric.HEALTHY)]) == []
    assert detector.shares() == pytest.approx({1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25})
    health = detector.health(2)
    assert (health.servers_down, health.servers_total, health.server_ports_total) == (0, 8, 8)


def test_plane_outage_fires_once_and_resolves_once(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    findings = fabric.run(detector, full_outage(fabric))

    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    fired, resolved = findings
    assert fired.kind == "plane_failure" and fired.severity == "critical"
    assert fired.fingerprint == resolved.fingerprint == fingerprint("plane_failure", 2)
    # The fault began with the first port going down, not when enough evidence piled up.
    assert fired.started_at == resolved.started_at == T0
    # Half the servers had lost BGP 17 s in (server 4 of 8 at 1003 + 3×4 + 2); within 2 intervals.
    assert fired.ts == pytest.approx(1017.0)
    assert fired.ts - fired.started_at <= 2 * 10.0
    ev = fired.evidence
    assert (ev["servers_down"], ev["servers_total"]) == (4, 8)
    assert (ev["sessions_down"], ev["sessions_total"]) == (8, 16)
    assert (ev["server_ports_down"], ev["server_ports_total"]) == (8, 8)
    assert (ev["uplinks_down"], ev["uplinks_total"]) == (0, 2)
    assert (ev["tors_down"], ev["tors_total"]) == (2, 2)
    assert ev["share_before"] == pytest.approx(0.25)
    assert ev["share_now"] == 0.0
    assert ev["other_planes_share"] == pytest.approx({"1": 1 / 3, "3": 1 / 3, "4": 1 / 3}, abs=1e-3)
    assert [s["switch"] for s in ev["top_switches"]] == ["tor-p2-r1", "tor-p2-r2"]
    assert ev["silent"] is False
    assert fired.summary.startswith(
        "plane 2 (green) failed: 4/8 servers lost BGP, 2/2 ToRs' server ports down, traffic share 0.00 (was 0.25)"
    )
    # Recovery: below the clear level once server 7 of 8 re-established (1207), held 30 s.
    assert resolved.ended_at == pytest.approx(1207.0)
    assert resolved.ts >= resolved.ended_at + 30
    assert resolved.evidence["server_ports_down"] == 0
    assert "recovered" in resolved.summary


def test_ports_down_and_traffic_gone_fire_before_bgp_notices(inventory, fabric):
    """BGP hold timers can take 90 s; ports down + share collapse is enough on its own."""
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.ports(T0, "DOWN", planes=[2]),
               *fabric.sessions(T0 + 90, "Idle", planes=[2]), *fabric.traffic(T0, 1150, failover_traffic)]
    findings = fabric.run(detector, records)
    assert [(f.plane, f.status) for f in findings] == [(2, "firing")]
    assert findings[0].ts <= T0 + 2 * 10.0
    assert findings[0].evidence["servers_down"] == 0
    assert findings[0].evidence["share_collapsed"] is True
    assert findings[0].started_at == T0


def test_server_down_on_every_plane_is_not_a_plane_failure(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    gone = ["s-r1-1"]
    rates = {p: 1000.0 for p in FAILOVER}
    records = [*warm_up(fabric), *fabric.ports(T0, "DOWN", servers=gone),
               *fabric.sessions(T0 + 1, "Idle", servers=gone, step=1.0), *fabric.traffic(T0, END, rates)]
    assert fabric.run(detector, records) == []
    for plane in FAILOVER:
        health = detector.health(plane)
        assert (health.servers_down, health.servers_total) == (0, 7)


def test_one_server_losing_one_plane_is_not_a_plane_failure(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.ports(T0, "DOWN", planes=[2], servers=["s-r1-1"]),
               *fabric.sessions(T0 + 1, "Idle", planes=[2], servers=["s-r1-1"]),
               *fabric.traffic(T0, END, fabric.HEALTHY)]
    assert fabric.run(detector, records) == []
    health = detector.health(2)
    assert (health.servers_down, health.servers_total, health.server_ports_down) == (1, 8, 1)


def test_flapping_around_either_threshold_does_not_refire_or_resolve_early(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    servers = fabric.servers
    records = [*warm_up(fabric), *plane2_fails(fabric), *fabric.traffic(T0, END, failover_traffic)]
    # 1100–1200: ports still down, 4 servers back, a fifth flaps: 3/8 ↔ 4/8 around the raise level.
    records += fabric.sessions(1100, "Established", planes=[2], servers=servers[4:])
    for k, t in enumerate(range(1105, 1200, 5)):
        records += fabric.sessions(t, "Established" if k % 2 == 0 else "Idle", planes=[2], servers=[servers[3]])
    # 1200–1320: ports up, 6 servers back, one flaps every 10 s: 1/8 ↔ 2/8 around the clear level.
    records += fabric.ports(T1, "UP", planes=[2])
    records += fabric.sessions(T1, "Established", planes=[2], servers=[servers[0], servers[3]])
    for k, t in enumerate(range(1210, 1310, 10)):  # ends Idle at 1300
        records += fabric.sessions(t, "Established" if k % 2 == 0 else "Idle", planes=[2], servers=[servers[1]])
    records += fabric.sessions(1320, "Established", planes=[2], servers=servers[1:3])

    findings = fabric.run(detector, records)
    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    assert findings[1].ended_at == pytest.approx(1320.0)
    assert findings[1].ts >= 1350.0


def test_snapshot_restore_mid_fault_continues_and_resolves(inventory, fabric):
    records = sorted(full_outage(fabric), key=lambda r: r.ts)
    before = [r for r in records if r.ts < 1100]
    after = [r for r in records if r.ts >= 1100]

    original = PlaneFailureDetector(inventory)
    fired = fabric.run(original, before)
    assert [f.status for f in fired] == ["firing"]

    state = original.snapshot()
    restored = PlaneFailureDetector.restore(inventory, None, state)
    assert restored.snapshot() == state  # lossless round trip
    assert restored.health(2) == original.health(2)

    resumed = fabric.run(restored, after)
    assert [(f.plane, f.status) for f in resumed] == [(2, "resolved")]
    assert resumed[0].fingerprint == fired[0].fingerprint
    assert resumed[0].started_at == fired[0].started_at == T0
    assert resumed == fabric.run(original, after)  # deterministic: same as never stopping


def test_restore_refuses_foreign_or_corrupt_state(inventory):
    with pytest.raises(StateError, match="not a planewatch detector snapshot"):
        PlaneFailureDetector.restore(inventory, None, b"\x00garbage")


def test_counter_reset_is_not_a_share_collapse(inventory, fabric):
    """Half of plane 2's servers lose BGP (an RR problem); then its switches reset their counters.

    If the reset looked like a traffic collapse it would corroborate the BGP evidence.
    """
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.sessions(T0, "Idle", planes=[2], servers=fabric.servers[:4])]
    records += fabric.traffic(T0, 1050, fabric.HEALTHY)
    records += fabric.counters(1050, fabric.HEALTHY, reset=[2])
    records += fabric.traffic(1055, END, fabric.HEALTHY)
    assert fabric.run(detector, records) == []
    assert detector.shares()[2] == pytest.approx(0.25)
    assert detector.health(2).session_fraction == 0.5
    assert not detector.health(2).collapsed


def test_silent_plane_corroborates_lost_sessions(inventory, fabric):
    """Plane 2's switches stop answering gNMI (no counters, no port status) and BGP drops."""
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.traffic(T0, T0 + 1, fabric.HEALTHY),
               *fabric.traffic(T0 + 5, END, fabric.HEALTHY, silent=[2]),
               *fabric.sessions(T0 + 30, "Idle", planes=[2], step=2.0)]
    findings = fabric.run(detector, records)
    assert [(f.plane, f.status) for f in findings] == [(2, "firing")]
    ev = findings[0].evidence
    assert ev["silent"] is True and ev["server_ports_down"] == 0
    assert ev["servers_down"] >= 4
    assert findings[0].started_at == T0  # last time plane 2 was heard from
    assert "counters silent" in findings[0].summary


def test_lost_sessions_without_corroboration_do_not_fire(inventory, fabric):
    """Every server's plane-2 BGP down but ports up and traffic flowing: an RR problem, not a plane failure."""
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.traffic(T0, END, fabric.HEALTHY),
               *fabric.sessions(T0 + 30, "Idle", planes=[2], step=2.0)]
    assert fabric.run(detector, records) == []
    assert detector.health(2).session_fraction == 1.0


def test_late_record_does_not_overwrite_newer_state(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    fabric.run(detector, fabric.initial(0.0))
    down = fabric.sessions(100.0, "Idle", planes=[2], servers=["s-r1-1"])
    late = fabric.sessions(99.0, "Established", planes=[2], servers=["s-r1-1"])
    for record in [*down, *late]:
        detector.feed(record)
    assert detector.health(2).servers_down == 1


def test_unmapped_peer_is_ignored(inventory):
    detector = PlaneFailureDetector(inventory)
    record = BgpSession(ts=1.0, plane=0, node="x", protocol="Node_192_0_2_1", peer_ip="192.0.2.1", state="Idle")
    assert detector.feed(record) == []
    assert all(detector.health(p).servers_total == 0 for p in (1, 2, 3, 4))


def test_findings_are_ignored_as_input(inventory):
    detector = PlaneFailureDetector(inventory)
    finding = Finding(ts=5.0, plane=2, fingerprint="x", kind="plane_failure", severity="critical",
                      status="firing", started_at=1.0)
    assert detector.feed(finding) == []


def test_config_rejects_inverted_thresholds():
    with pytest.raises(ValueError, match="session_fraction_clear"):
        PlaneFailureConfig(session_fraction_raise=0.2, session_fraction_clear=0.5)

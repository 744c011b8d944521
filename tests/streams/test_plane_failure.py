"""Plane failure detector: scenarios on the 4-plane × 8-server test fabric (see conftest)."""

from __future__ import annotations

import pytest

from planewatch.schemas.records import BgpSession, Finding, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.plane_failure import PlaneFailureConfig, PlaneFailureDetector
from planewatch.streams.server_failure import ServerFailureDetector

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


# -- partial (degraded) failure -------------------------------------------------------------

THIRD = ["s-r1-1", "s-r1-3", "s-r2-2"]  # 3 of 8 servers: 37.5 %


def part_of_plane2_fails(fabric, servers=THIRD, at: float = T0) -> list[Record]:
    return [*fabric.ports(at, "DOWN", planes=[2], servers=servers, step=0.2),
            *fabric.sessions(at + 2, "Idle", planes=[2], servers=servers, step=1.0)]


def part_of_plane2_recovers(fabric, servers=THIRD, at: float = T1) -> list[Record]:
    return [*fabric.ports(at, "UP", planes=[2], servers=servers),
            *fabric.sessions(at + 3, "Established", planes=[2], servers=servers)]


def degraded_traffic(t: float) -> dict[int, float]:
    return {1: 1100.0, 2: 700.0, 3: 1100.0, 4: 1100.0} if T0 < t <= T1 else fabric_healthy()


def fabric_healthy() -> dict[int, float]:
    return {p: 1000.0 for p in FAILOVER}


def test_part_of_a_plane_failing_is_one_degraded_finding(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *part_of_plane2_fails(fabric), *part_of_plane2_recovers(fabric),
               *fabric.traffic(T0, END, degraded_traffic)]
    findings = fabric.run(detector, records)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("plane_degraded", 2, "firing"), ("plane_degraded", 2, "resolved")]
    fired, resolved = findings
    assert fired.severity == "warning" and fired.fingerprint == fingerprint("plane_degraded", 2)
    assert fired.started_at == T0
    hold = PlaneFailureConfig().degraded_min_duration
    assert T0 + hold <= fired.ts <= T0 + hold + 10  # the minimum duration, then the next evaluation
    ev = fired.evidence
    assert (ev["servers_down"], ev["servers_total"], ev["server_fraction"]) == (3, 8, 0.375)
    assert (ev["server_ports_down"], ev["port_fraction"], ev["port_fraction_excess"]) == (3, 0.375, 0.375)
    assert fired.summary.startswith("plane 2 (green) degraded: 3/8 servers (38%) lost the plane")
    assert resolved.ended_at == pytest.approx(T1 + 3) and resolved.ts >= T1 + 33
    assert "no longer degraded" in resolved.summary


def test_a_short_partial_outage_does_not_fire(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *part_of_plane2_fails(fabric), *part_of_plane2_recovers(fabric, at=T0 + PlaneFailureConfig().degraded_min_duration - 15),
               *fabric.traffic(T0, END, fabric.HEALTHY)]
    assert fabric.run(detector, records) == []


def test_a_degraded_plane_that_fails_outright_is_superseded_cleanly(inventory, fabric):
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *part_of_plane2_fails(fabric, at=T0 - 200),
               *plane2_fails(fabric), *plane2_recovers(fabric),
               *fabric.traffic(T0, END, failover_traffic)]
    findings = fabric.run(detector, records)
    assert [(f.kind, f.status) for f in findings] == [
        ("plane_degraded", "firing"), ("plane_failure", "firing"), ("plane_degraded", "resolved"), ("plane_failure", "resolved")]
    degraded, failure, superseded, _ = findings
    assert degraded.started_at == T0 - 200
    assert failure.ts == superseded.ts == superseded.ended_at
    assert superseded.evidence["superseded_by"] == "plane_failure"
    assert "failed outright" in superseded.summary


def test_a_whole_plane_failure_raises_no_degraded_finding(inventory, fabric):
    """The documented choice: the degraded hold (40 s) outlasts how long a full failure takes to show."""
    detector = PlaneFailureDetector(inventory)
    findings = fabric.run(detector, full_outage(fabric))
    assert {f.kind for f in findings} == {"plane_failure"}
    assert all(not life.firing for life in detector._lives["plane_degraded"])


def test_lost_sessions_alone_are_not_a_degraded_plane(inventory, fabric):
    """A third of plane 2's BGP sessions down, ports up and traffic flowing: a route-reflector matter."""
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.sessions(T0, "Idle", planes=[2], servers=THIRD),
               *fabric.traffic(T0, END, fabric.HEALTHY)]
    assert fabric.run(detector, records) == []


def test_ports_lost_on_every_plane_are_not_evidence_against_any(inventory, fabric):
    """Half the servers' links down on every plane (dead servers, BGP not yet noticed): no excess anywhere."""
    detector = PlaneFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.ports(T0, "DOWN", servers=fabric.servers[:4]),
               *fabric.traffic(T0, END, fabric.HEALTHY)]
    assert fabric.run(detector, records) == []
    health = detector.health(2)
    assert (health.port_fraction, health.port_fraction_everywhere, health.port_excess) == (0.5, 0.5, 0.0)


def test_config_rejects_inverted_degraded_band():
    with pytest.raises(ValueError, match="degraded_fraction_clear"):
        PlaneFailureConfig(degraded_fraction_raise=0.1, degraded_fraction_clear=0.3)


# -- the real simulator, plane and server detectors in one ensemble ------------------------

START = 1_700_000_000.0


def simulate(faults: list[Fault], seconds: float, seed: int = 0) -> list[Finding]:
    inventory = build_fabric()
    sim = Simulator(inventory, faults, start_ts=START, seed=seed)
    ensemble = DetectorSet([PlaneFailureDetector(inventory), ServerFailureDetector(inventory)])
    findings: list[Finding] = []
    while sim.now < START + seconds:
        findings += ensemble.feed_all(sim.step())
    return findings


def plane_findings(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return [(f.kind, f.plane, f.status) for f in findings if f.kind.startswith("plane_")]


def test_simulated_plane_degraded_is_one_degraded_finding():
    findings = simulate([Fault("plane-degraded", at=60, duration=400, plane=2)], 600)
    assert [(f.kind, f.plane, f.status) for f in findings] == [
        ("plane_degraded", 2, "firing"), ("plane_degraded", 2, "resolved")]
    fired = findings[0]
    assert fired.started_at == pytest.approx(START + 60, abs=1.5)
    assert fired.evidence["server_fraction"] == pytest.approx(0.33, abs=0.01)
    assert fired.evidence["port_fraction_excess"] == pytest.approx(0.33, abs=0.01)


def test_simulated_plane_down_is_one_failure_and_no_degraded():
    findings = simulate([Fault("plane-down", at=60, duration=300, plane=2)], 480)
    assert [(f.kind, f.plane, f.status) for f in findings] == [
        ("plane_failure", 2, "firing"), ("plane_failure", 2, "resolved")]
    assert findings[0].ts - findings[0].started_at <= 20.0


def test_simulated_plane_down_during_background_churn():
    """60 reboots an hour over 128 servers; plane 3 fails in the middle. Server failures are expected."""
    findings = simulate([Fault("background-churn", at=0, duration=900, magnitude=60),
                         Fault("plane-down", at=300, duration=300, plane=3)], 900)
    assert plane_findings(findings) == [("plane_failure", 3, "firing"), ("plane_failure", 3, "resolved")]
    failure = next(f for f in findings if f.kind == "plane_failure")
    assert failure.started_at == pytest.approx(START + 300, abs=1.5)
    servers = [f for f in findings if f.kind == "server_failure"]
    assert len([f for f in servers if f.status == "firing"]) >= 5
    assert all(f.plane == 0 and f.subject.startswith("r") for f in servers)


def test_simulated_healthy_hour_raises_nothing():
    assert simulate([], 3600) == []

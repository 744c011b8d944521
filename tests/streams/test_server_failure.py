"""Server failure detector: unit scenarios on the test fabric (see conftest), then the real simulator."""

from __future__ import annotations

import pytest

from planewatch.schemas.records import Finding, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.plane_failure import PlaneFailureDetector
from planewatch.streams.server_failure import ServerFailureConfig, ServerFailureDetector, servers_of

T0 = 1000.0
PLANES = (1, 2, 3, 4)


def warm_up(fabric, until: float = T0) -> list[Record]:
    return [*fabric.initial(0.0), *fabric.traffic(0.0, until, fabric.HEALTHY)]


def dies(fabric, server: str, at: float = T0, stagger: float = 30.0) -> list[Record]:
    """Power off: its sessions expire plane by plane (``stagger`` s apart: BGP hold timers differ)."""
    out: list[Record] = []
    for k, plane in enumerate(PLANES):
        out += fabric.sessions(at + k * stagger, "Idle", planes=[plane], servers=[server])
    return out


def comes_back(fabric, server: str, at: float) -> list[Record]:
    return fabric.sessions(at, "Established", servers=[server], step=0.0)


def test_satisfies_the_detector_contract(inventory):
    detector = ServerFailureDetector(inventory)
    assert isinstance(detector, Detector) and detector.name == "server_failure"


def test_healthy_fabric_raises_nothing(inventory, fabric):
    assert fabric.run(ServerFailureDetector(inventory), warm_up(fabric, 2000.0)) == []


def test_waits_for_the_last_plane_but_dates_the_failure_from_the_first_drop(inventory, fabric):
    detector = ServerFailureDetector(inventory)
    records = [*warm_up(fabric, 1400.0), *dies(fabric, "s-r1-2"), *comes_back(fabric, "s-r1-2", 1200.0)]
    findings = fabric.run(detector, records)
    assert [(f.subject, f.status) for f in findings] == [("s-r1-2", "firing"), ("s-r1-2", "resolved")]
    fired, resolved = findings
    assert fired.kind == "server_failure" and fired.severity == "warning" and fired.plane == 0
    assert fired.fingerprint == resolved.fingerprint == fingerprint("server_failure", 0, "s-r1-2")
    assert fired.ts == pytest.approx(T0 + 90.0)  # the 4th plane's hold timer
    assert fired.started_at == resolved.started_at == T0
    assert fired.evidence["planes_down"] == [1, 2, 3, 4] and fired.evidence["rack"] == "r1"
    assert resolved.ended_at == 1200.0 and resolved.ts >= 1230.0


def test_down_on_three_planes_is_not_a_server_failure(inventory, fabric):
    detector = ServerFailureDetector(inventory)
    records = [*warm_up(fabric), *fabric.sessions(T0, "Idle", planes=[1, 2, 3], servers=["s-r2-1"])]
    assert fabric.run(detector, records) == []
    assert detector.gone() == []


def test_back_briefly_on_one_plane_does_not_resolve(inventory, fabric):
    detector = ServerFailureDetector(inventory)
    records = [*warm_up(fabric, 1300.0), *dies(fabric, "s-r1-1", stagger=1.0),
               *fabric.sessions(1100.0, "Established", planes=[1], servers=["s-r1-1"]),
               *fabric.sessions(1110.0, "Idle", planes=[1], servers=["s-r1-1"])]
    findings = fabric.run(detector, records)
    assert [f.status for f in findings] == ["firing"]


def test_a_burst_beyond_the_cap_is_one_aggregated_finding(inventory, fabric):
    """Rack 1 loses power (4 servers), then rack 2 (4 more); cap 3: 3 individual findings + one for the rest.

    The aggregated finding is named when it fires (after rack 1's servers); rack 2's join it."""
    config = ServerFailureConfig(burst_cap=3)
    detector = ServerFailureDetector(inventory, config)
    racks = [s for s in fabric.servers if s.startswith("s-r1")], [s for s in fabric.servers if s.startswith("s-r2")]
    records = warm_up(fabric, 1500.0)
    for n, server in enumerate(racks[0] + racks[1]):
        records += dies(fabric, server, at=T0 + n, stagger=2.0)
        records += comes_back(fabric, server, 1300.0 + n)
    findings = fabric.run(detector, records)
    firing = [f for f in findings if f.status == "firing"]
    assert [f.subject for f in firing] == [*racks[0][:3], "r1"]
    group = firing[-1]
    assert group.evidence["aggregated"] is True
    assert group.evidence["servers"] == sorted(racks[0])  # the burst so far, including those already named
    assert group.started_at == T0
    resolved = [f for f in findings if f.status == "resolved"]
    assert [f.subject for f in resolved][-1] == "r1" and len(resolved) == 4
    assert resolved[-1].evidence["count"] == 8  # later servers joined the aggregated finding
    assert resolved[-1].evidence["racks"] == {"r1": 4, "r2": 4}
    assert resolved[-1].ended_at == 1307.0


def test_a_rack_burst_is_named_after_the_rack(inventory, fabric):
    detector = ServerFailureDetector(inventory, ServerFailureConfig(burst_cap=2))
    rack = [s for s in fabric.servers if s.startswith("s-r2")]
    records = warm_up(fabric, 1200.0)
    for server in rack:
        records += dies(fabric, server, stagger=0.5)
    firing = [f for f in fabric.run(detector, records) if f.status == "firing"]
    assert [f.subject for f in firing] == [*rack[:2], "r2"]
    assert servers_of(firing[-1]) == sorted(rack[:3])


def test_snapshot_restore_mid_failure_resolves_the_same_way(inventory, fabric):
    records = sorted([*warm_up(fabric, 1400.0), *dies(fabric, "s-r2-4"), *comes_back(fabric, "s-r2-4", 1200.0)],
                     key=lambda r: r.ts)
    before = [r for r in records if r.ts < 1150]
    after = [r for r in records if r.ts >= 1150]
    original = ServerFailureDetector(inventory)
    assert [f.status for f in fabric.run(original, before)] == ["firing"]
    state = original.snapshot()
    restored = ServerFailureDetector.restore(inventory, None, state)
    assert restored.snapshot() == state
    assert restored.gone() == ["s-r2-4"]
    resumed = fabric.run(restored, after)
    assert resumed == fabric.run(original, after)
    assert [(f.subject, f.status, f.started_at) for f in resumed] == [("s-r2-4", "resolved", T0)]


def test_restore_refuses_other_detectors_state(inventory):
    with pytest.raises(StateError, match="belongs to detector 'plane_failure'"):
        ServerFailureDetector.restore(inventory, None, PlaneFailureDetector(inventory).snapshot())


def test_config_says_what_is_wrong():
    with pytest.raises(ValueError, match="burst_cap must be >= 1"):
        ServerFailureConfig(burst_cap=0)


def test_plane_failure_leaves_out_servers_a_server_failure_names(inventory, fabric):
    """Fed back through the ensemble: a named server counts on no plane, until the finding resolves."""
    plane = PlaneFailureDetector(inventory)
    fabric.run(plane, [*fabric.initial(0.0), *fabric.sessions(10.0, "Idle", planes=[2], servers=["s-r1-1"])])
    assert (plane.health(2).servers_down, plane.health(2).servers_total) == (1, 8)
    firing = Finding(ts=20.0, plane=0, fingerprint="f", kind="server_failure", subject="s-r1-1",
                     severity="warning", status="firing", started_at=10.0)
    plane.feed(firing)
    assert (plane.health(2).servers_down, plane.health(2).servers_total) == (0, 7)
    assert plane.excluded_servers() == ["s-r1-1"]
    restored = PlaneFailureDetector.restore(inventory, None, plane.snapshot())
    assert restored.health(2) == plane.health(2)
    plane.feed(Finding(ts=30.0, plane=0, fingerprint="f", kind="server_failure", subject="s-r1-1",
                       severity="warning", status="resolved", started_at=10.0, ended_at=25.0))
    assert (plane.health(2).servers_down, plane.health(2).servers_total) == (1, 8)


def test_a_rack_losing_power_is_server_failures_not_plane_failures(inventory, fabric):
    """Half the servers die: their ports drop on every plane at once, their sessions expire over 90 s
    with a different hold timer on each plane. Only server findings may result."""
    ensemble = DetectorSet([PlaneFailureDetector(inventory), ServerFailureDetector(inventory)])
    rack = [s for s in fabric.servers if s.startswith("s-r1")]
    records = [*warm_up(fabric), *fabric.ports(T0, "DOWN", servers=rack), *fabric.traffic(T0, 1400.0, fabric.HEALTHY)]
    for n, server in enumerate(rack):
        for k, plane in enumerate((3, 1, 4, 2)):
            records += fabric.sessions(T0 + 1 + n * 5 + k * 25, "Idle", planes=[plane], servers=[server])
    findings = fabric.run(ensemble, records)
    assert {f.kind for f in findings} == {"server_failure"}
    assert sorted(f.subject for f in findings if f.status == "firing") == rack
    assert all(f.started_at == T0 + 1 + n * 5 for n, f in enumerate(sorted(findings, key=lambda f: f.subject)))


# -- the real simulator, detectors in an ensemble -------------------------------------------

START = 1_700_000_000.0


def simulate(faults: list[Fault], seconds: float, seed: int = 0) -> list[Finding]:
    inventory = build_fabric()
    sim = Simulator(inventory, faults, start_ts=START, seed=seed)
    ensemble = DetectorSet([PlaneFailureDetector(inventory), ServerFailureDetector(inventory)])
    findings: list[Finding] = []
    while sim.now < START + seconds:
        findings += ensemble.feed_all(sim.step())
    return findings


def test_simulated_server_down_is_one_server_failure_and_no_plane_finding():
    findings = simulate([Fault("server-down", at=60, duration=300, server="r03-s07")], 480)
    assert [(f.kind, f.subject, f.status) for f in findings] == [
        ("server_failure", "r03-s07", "firing"), ("server_failure", "r03-s07", "resolved")]
    fired = findings[0]
    assert START + 60 <= fired.started_at <= fired.ts <= START + 60 + 120


def test_a_burst_over_several_racks_is_named_many(inventory, fabric):
    detector = ServerFailureDetector(inventory, ServerFailureConfig(burst_cap=1))
    records = [*warm_up(fabric, 1200.0), *dies(fabric, "s-r1-1", stagger=1.0), *dies(fabric, "s-r2-1", at=T0 + 10, stagger=1.0)]
    firing = fabric.run(detector, records)
    assert [(f.subject, f.evidence.get("servers")) for f in firing] == [("s-r1-1", None), ("many", ["s-r1-1", "s-r2-1"])]

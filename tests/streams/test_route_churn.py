"""Route churn detector: plane churn vs one flapping server, route-count divergence, plane failures,
on hand-built BGP records (the conftest fabric) and on the simulator."""

from __future__ import annotations

import pytest
from conftest import PLANES

from planewatch.inventory import Inventory
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Finding, Record, Watermark
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, fingerprint
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.plane_failure import PlaneFailureDetector
from planewatch.streams.route_churn import RouteChurnConfig, RouteChurnDetector

START = 1_700_000_000.0


def run(detector, records: list[Record]) -> list[Finding]:
    findings: list[Finding] = []
    for record in sorted(records, key=lambda r: r.ts):
        findings += detector.feed(record)
    return findings


def watermarks(start: float, end: float, step: float = 5.0) -> list[Record]:
    return [Watermark(ts=start + k * step, plane=0) for k in range(int((end - start) / step))]


def session(node: str, plane: int, state: str, ts: float, rr: int = 1) -> BgpSession:
    peer = f"10.{plane}.255.{rr}"
    return BgpSession(ts=ts, plane=plane, node=node, protocol=f"Node_{peer.replace('.', '_')}", peer_ip=peer, state=state)


def routes(fabric, start: float, end: float, imported, step: float = 10.0) -> list[Record]:
    """Route counters of every session every ``step``; ``imported(t, plane)`` routes, no churn."""
    out: list[Record] = []
    t = start
    while t < end:
        for server in fabric.servers:
            for p in PLANES:
                for rr in (1, 2):
                    peer = f"10.{p}.255.{rr}"
                    out.append(BgpRouteCounters(ts=t, plane=p, node=server, protocol="Node", peer_ip=peer,
                                                routes_imported=imported(t, p), routes_exported=2, import_updates=0,
                                                import_withdraws=0, export_updates=0, export_withdraws=0))
        t += step
    return out


def flaps(node: str, plane: int, start: float, count: int, period: float = 20.0) -> list[Record]:
    """``count`` down/up cycles of both of ``node``'s sessions on ``plane``."""
    out: list[Record] = []
    for k in range(count):
        t = start + k * period
        for rr in (1, 2):
            out += [session(node, plane, "Active", t + rr * 0.2, rr), session(node, plane, "Established", t + 4 + rr * 0.2, rr)]
    return out


def kinds(findings: list[Finding]) -> list[tuple[str, int, str, str]]:
    return [(f.kind, f.plane, f.subject, f.status) for f in findings]


# -- contract and config ---------------------------------------------------------------


def test_satisfies_the_detector_contract(inventory):
    detector = RouteChurnDetector(inventory)
    assert isinstance(detector, Detector)
    assert detector.name == "route_churn"
    assert detector.kinds == ("route_churn", "session_flap", "route_divergence")


def test_thresholds_scale_with_the_fabric():
    cfg = RouteChurnConfig()
    # Calico note: 2,000 events/day for 20k servers = 6.9 churning servers per 5 min; 10x that.
    assert cfg.baseline(20_000) == pytest.approx(6.944, abs=1e-3)
    assert cfg.thresholds(20_000) == pytest.approx((69.44, 69.44), abs=0.01)
    assert cfg.thresholds(100) == (5.0, 20.0)  # the floors
    with pytest.raises(ValueError, match="min_servers"):
        RouteChurnConfig(min_servers=1)
    with pytest.raises(ValueError, match="flap_transitions"):
        RouteChurnConfig(flap_transitions=1)


# -- hand-built scenarios -----------------------------------------------------------------


def test_quiet_bgp_raises_nothing(inventory, fabric):
    records = [*fabric.sessions(START, "Established"), *routes(fabric, START, START + 900, lambda t, p: 100),
               *watermarks(START, START + 900)]
    detector = RouteChurnDetector(inventory)
    assert run(detector, records) == []
    assert detector.window(2) == {"transitions": 0, "imports_per_session": 0.0, "events": 0.0, "servers": 0}


def test_one_flapping_server_is_a_session_flap_not_plane_churn(inventory, fabric):
    records = [*fabric.sessions(START, "Established"), *flaps("s-r1-2", 2, START + 100, 12),
               *watermarks(START, START + 900)]
    findings = run(RouteChurnDetector(inventory), records)
    assert kinds(findings) == [("session_flap", 2, "s-r1-2", "firing"), ("session_flap", 2, "s-r1-2", "resolved")]
    fired = findings[0]
    assert fired.fingerprint == fingerprint("session_flap", 2, "s-r1-2")
    assert fired.started_at == START + 100.2  # the first transition
    assert START + 120.2 <= fired.ts <= START + 125  # 3 transitions of one session: down, up, down (+120.2)
    assert fired.evidence["peers"] == ["10.2.255.1", "10.2.255.2"]
    assert "s-r1-2" in fired.summary


def test_a_single_down_up_is_not_a_flap(inventory, fabric):
    """A reboot: every session down once and up once (2 transitions each)."""
    records = [*fabric.sessions(START, "Established"), *fabric.sessions(START + 100, "Idle", servers=["s-r1-1"]),
               *fabric.sessions(START + 160, "Established", servers=["s-r1-1"]), *watermarks(START, START + 600)]
    assert run(RouteChurnDetector(inventory), records) == []


def test_many_servers_flapping_on_one_plane_is_route_churn(inventory, fabric):
    records = [*fabric.sessions(START, "Established"), *watermarks(START, START + 1200)]
    for k, server in enumerate(fabric.servers[:6]):
        records += flaps(server, 3, START + 100 + k, 10)
    findings = run(RouteChurnDetector(inventory), records)
    assert kinds(findings) == [("route_churn", 3, "", "firing"), ("route_churn", 3, "", "resolved")]
    fired = findings[0]
    assert fired.started_at == START + 100.2
    assert fired.ts - fired.started_at <= 60
    ev = fired.evidence
    assert ev["servers"] >= 5 and ev["threshold_servers"] == 5.0
    assert set(ev["other_planes_events"]) == {"1", "2", "4"}
    assert {row["server"] for row in ev["top_servers"]} == set(fabric.servers[:6])


def test_import_updates_count_per_session_and_table_loads_do_not(inventory, fabric):
    detector = RouteChurnDetector(inventory)
    records: list[Record] = [*fabric.sessions(START, "Established")]
    for server in fabric.servers:  # every session of plane 1 imports 40 updates + 10 withdraws
        for rr in (1, 2):
            records.append(BgpRouteCounters(ts=START + 10, plane=1, node=server, protocol="Node", peer_ip=f"10.1.255.{rr}",
                                            routes_imported=100, routes_exported=2, import_updates=40,
                                            import_withdraws=10, export_updates=0, export_withdraws=0))
    # a session that just came up loads its whole table: not churn
    records += [session("s-r1-1", 4, "Idle", START + 11), session("s-r1-1", 4, "Established", START + 12)]
    records.append(BgpRouteCounters(ts=START + 15, plane=4, node="s-r1-1", protocol="Node", peer_ip="10.4.255.1",
                                    routes_imported=5000, routes_exported=2, import_updates=5000, import_withdraws=0,
                                    export_updates=2, export_withdraws=0))
    run(detector, records + [Watermark(ts=START + 20, plane=0)])
    assert detector.window(1)["imports_per_session"] == 50.0
    assert detector.window(4) == {"transitions": 2, "imports_per_session": 0.0, "events": 2.0, "servers": 1}


def test_late_session_records_are_not_transitions(inventory, fabric):
    detector = RouteChurnDetector(inventory)
    records = [session("s-r1-1", 2, "Established", START), session("s-r1-1", 2, "Idle", START + 50)]
    run(detector, records)
    detector.feed(session("s-r1-1", 2, "Established", START + 40))  # older than what is held
    assert detector.window(2)["transitions"] == 1


def test_a_plane_failure_is_not_churn_and_its_down_up_not_flaps(inventory, fabric):
    """Plane 2 fails twice within 5 minutes (every session down and up twice), with failover traffic."""
    outages = ((START + 1000, START + 1060), (START + 1150, START + 1210))

    def traffic(t: float) -> dict[int, float]:
        out = any(a < t <= b for a, b in outages)
        return {1: 4000 / 3, 2: 0.0, 3: 4000 / 3, 4: 4000 / 3} if out else dict(fabric.HEALTHY)

    records = [*fabric.initial(START), *fabric.traffic(START, START + 1600, traffic)]
    for down, up in outages:
        records += [*fabric.ports(down, "DOWN", planes=[2]), *fabric.sessions(down + 1, "Idle", planes=[2], step=0.5)]
        records += [*fabric.ports(up, "UP", planes=[2]), *fabric.sessions(up + 2, "Established", planes=[2], step=0.5)]
    findings = run(DetectorSet([PlaneFailureDetector(inventory), RouteChurnDetector(inventory)]), records)
    assert {f.kind for f in findings} == {"plane_failure"}  # (it fires and resolves for each outage)
    assert [f.status for f in findings][:2] == ["firing", "resolved"]


def test_route_counts_diverging_on_one_plane(inventory, fabric):
    def imported(t: float, plane: int) -> int:
        if plane == 2 and START + 300 <= t < START + 600:
            return 60  # plane 2's reflectors lost 40 % of the routes
        return 100 + (plane % 2)  # tiny differences between planes are normal

    records = [*fabric.sessions(START, "Established"), *routes(fabric, START, START + 900, imported),
               *watermarks(START, START + 900)]
    findings = run(RouteChurnDetector(inventory), records)
    assert kinds(findings) == [("route_divergence", 2, "", "firing"), ("route_divergence", 2, "", "resolved")]
    fired, resolved = findings
    # Medians are taken every 10 s: the onset is known to within that, and it holds 60 s.
    assert START + 300 <= fired.started_at <= START + 310 and fired.ts == fired.started_at + 60
    ev = fired.evidence
    assert ev["median_routes"] == 60 and ev["other_planes_median"] == 101
    assert ev["medians"] == {"1": 101, "2": 60, "3": 101, "4": 100}
    assert ev["fewest_routes"][0]["routes_imported"] == 60
    assert START + 600 <= resolved.ended_at <= START + 610


def test_route_counts_hovering_between_the_levels_do_not_flap(inventory, fabric):
    def imported(t: float, plane: int) -> int:
        if plane == 2 and START + 300 <= t < START + 700:
            return 90 if t < START + 400 or int((t - START) // 10) % 2 else 96  # -10 % / -4 %: between 2.5 % and 5 %
        return 100

    records = [*fabric.sessions(START, "Established"), *routes(fabric, START, START + 1000, imported),
               *watermarks(START, START + 1000)]
    findings = run(RouteChurnDetector(inventory), records)
    assert kinds(findings) == [("route_divergence", 2, "", "firing"), ("route_divergence", 2, "", "resolved")]
    assert START + 700 <= findings[1].ended_at <= START + 710


def test_snapshot_restore_mid_fault_gives_the_same_findings(inventory, fabric):
    records = [*fabric.sessions(START, "Established"), *watermarks(START, START + 900),
               *flaps("s-r1-2", 2, START + 100, 12)]
    for k, server in enumerate(fabric.servers[2:8]):
        records += flaps(server, 4, START + 100 + k, 10)
    records += routes(fabric, START, START + 900, lambda t, p: 50 if p == 1 and t > START + 200 else 100)
    records.sort(key=lambda r: r.ts)
    whole = run(RouteChurnDetector(inventory), records)
    assert {f.kind for f in whole} == {"session_flap", "route_churn", "route_divergence"}
    cut = next(k for k, r in enumerate(records) if r.ts >= START + 280)
    first = RouteChurnDetector(inventory)
    before = run(first, records[:cut])
    restored = RouteChurnDetector.restore(inventory, None, first.snapshot())
    assert before + run(restored, records[cut:]) == whole


# -- the simulator ------------------------------------------------------------------------


SIM = dict(racks=4, servers_per_rack=8)


def simulate(faults: list[Fault], seconds: float, inventory: Inventory | None = None) -> list[Finding]:
    inventory = inventory or build_fabric(**SIM)
    ensemble = DetectorSet([PlaneFailureDetector(inventory), RouteChurnDetector(inventory)])
    sim = Simulator(inventory, faults, start_ts=START)
    findings: list[Finding] = []
    while sim.now < START + seconds:
        findings += ensemble.feed_all(sim.step())
    return findings


def test_simulated_healthy_hour_raises_nothing():
    assert simulate([], 3600) == []


def test_simulated_bgp_flap_names_the_server_within_a_minute():
    findings = simulate([Fault("bgp-flap", at=120, duration=240, plane=2, server="r02-s03")], 600)
    assert kinds(findings) == [("session_flap", 2, "r02-s03", "firing"), ("session_flap", 2, "r02-s03", "resolved")]
    assert findings[0].ts - (START + 120) <= 60
    assert START + 120 <= findings[0].started_at <= START + 121


def test_simulated_many_servers_flapping_on_a_plane_churn_it():
    inventory = build_fabric(**SIM)
    servers = list(inventory.servers)[:8]
    faults = [Fault("bgp-flap", at=120, duration=240, plane=3, server=s) for s in servers]
    findings = simulate(faults, 600, inventory)
    assert [(f.kind, f.plane, f.status) for f in findings if f.kind == "route_churn"] == [("route_churn", 3, "firing")]
    assert len([f for f in findings if f.kind == "session_flap" and f.status == "firing"]) <= 2


def test_simulated_plane_down_is_neither_churn_nor_flaps():
    findings = simulate([Fault("plane-down", at=120, duration=180, plane=2)], 600)
    assert [(f.kind, f.status) for f in findings] == [("plane_failure", "firing"), ("plane_failure", "resolved")]

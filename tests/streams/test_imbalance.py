"""Link imbalance detector: plane shares, ToR uplink spread and servers not spreading, on hand-built
records (the conftest fabric, with server ports and two uplinks per ToR) and on the simulator."""

from __future__ import annotations

from typing import Callable

import pytest
from conftest import PLANES, RACKS, PER_RACK, inventory_document

from planewatch.inventory import Inventory, parse_inventory
from planewatch.schemas.records import Finding, PortCounters, Record, Watermark
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.imbalance import UPLINKS_SUBJECT, ImbalanceConfig, ImbalanceDetector
from planewatch.streams.plane_failure import PlaneFailureDetector

START = 1_700_000_000.0
SERVERS = [f"s-r{r}-{n}" for r in RACKS for n in range(1, PER_RACK + 1)]
UPLINKS = ("eth49", "eth50")
RATE = 1e7  # bytes/s per server port and plane when healthy


def ported_inventory() -> Inventory:
    """The conftest fabric, with every server's ToR port listed and two uplinks per ToR."""
    doc = inventory_document()
    for switch in doc["switches"]:
        if switch["role"] == "tor":
            switch["uplinks"] = list(UPLINKS)
    for server in doc["servers"]:
        _, rack, n = server["name"].split("-")
        server["ports"] = {p: f"tor-p{p}-{rack}:eth{n}" for p in PLANES}
    return parse_inventory(doc, "ported-test-fabric")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return ported_inventory()


ServerRate = Callable[[float, str, int], float]
UplinkRate = Callable[[float, int, int, str], float]


def healthy(t: float, server: str, plane: int) -> float:
    return RATE


def even_uplinks(t: float, plane: int, rack: int, uplink: str) -> float:
    return 2e7


class Traffic:
    """Cumulative counters of every server port and ToR uplink, sampled every 10 s."""

    def __init__(self) -> None:
        self.octets: dict[tuple[str, str], float] = {}

    def sample(self, device: str, port: str, plane: int, t: float, rate: float) -> PortCounters:
        total = self.octets.get((device, port), 0.0) + rate * 10.0
        self.octets[(device, port)] = total
        value = int(total)
        return PortCounters(ts=t, plane=plane, device=device, port=port, in_octets=value // 2,
                            out_octets=value - value // 2, in_unicast_pkts=0, out_unicast_pkts=0)

    def run(self, start: float, end: float, servers: ServerRate = healthy,
            uplinks: UplinkRate = even_uplinks) -> list[Record]:
        out: list[Record] = []
        t = start
        while t < end:
            for p in PLANES:
                for server in SERVERS:
                    _, rack, n = server.split("-")
                    out.append(self.sample(f"tor-p{p}-{rack}", f"eth{n}", p, t, servers(t, server, p)))
                for r in RACKS:
                    for uplink in UPLINKS:
                        out.append(self.sample(f"tor-p{p}-r{r}", uplink, p, t, uplinks(t, p, r, uplink)))
            out.append(Watermark(ts=t + 5.0, plane=0))
            t += 10.0
        return out


def run(detector, records: list[Record]) -> list[Finding]:
    findings: list[Finding] = []
    for record in records:
        findings += detector.feed(record)
    return findings


def ours(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind == "link_imbalance"]


def plane_failure(plane: int, status: str, ts: float) -> Finding:
    return Finding(ts=ts, plane=plane, fingerprint=fingerprint("plane_failure", plane), kind="plane_failure",
                   severity="critical", status=status, started_at=ts)


# -- contract and config ---------------------------------------------------------------


def test_satisfies_the_detector_contract(inv):
    detector = ImbalanceDetector(inv)
    assert isinstance(detector, Detector)
    assert (detector.name, detector.kinds) == ("imbalance", ("link_imbalance",))


def test_config_refuses_inverted_bands():
    with pytest.raises(ValueError, match="share_clear"):
        ImbalanceConfig(share_tolerance=0.2, share_clear=0.3)


# -- hand-built scenarios -----------------------------------------------------------------


def test_healthy_traffic_raises_nothing(inv):
    detector = ImbalanceDetector(inv)
    assert run(detector, Traffic().run(START, START + 600)) == []
    assert detector.shares() == pytest.approx({p: 0.25 for p in PLANES})
    assert detector.unbalanced_servers() == {}


def skew_plane_2(t: float, server: str, plane: int) -> float:
    """Every server sends 40 % on plane 2 between +300 and +500 (the others get 20 % each)."""
    if START + 300 <= t < START + 500:
        return RATE * (1.6 if plane == 2 else 0.8)
    return RATE


def test_plane_carrying_too_much_fires_once_with_evidence_and_resolves(inv):
    findings = run(ImbalanceDetector(inv), Traffic().run(START, START + 800, skew_plane_2))
    assert [(f.plane, f.subject, f.status) for f in findings] == [(2, "", "firing"), (2, "", "resolved")]
    fired, resolved = findings
    assert fired.fingerprint == resolved.fingerprint == fingerprint("link_imbalance", 2)
    # The first skewed samples are those of +300; held 20 s (judged on the watermark at +325).
    assert fired.started_at == START + 300 and fired.ts == START + 325
    ev = fired.evidence
    assert ev["share"] == pytest.approx(0.4) and ev["expected_share"] == 0.25
    assert ev["shares"] == pytest.approx({"1": 0.2, "2": 0.4, "3": 0.2, "4": 0.2})
    assert ev["deviation"] == pytest.approx(0.6)
    assert len(ev["top_servers"]) == 8 and ev["top_servers"][0]["share"] == pytest.approx(0.4)
    assert fired.severity == "warning"
    assert "plane 2 (green) carries more than its share" in fired.summary
    # Every server skews like the fabric: none is "not spreading" relative to it.
    assert resolved.ended_at == START + 505 and resolved.ts >= resolved.ended_at + 30


def test_a_share_hovering_between_the_levels_does_not_flap(inv):
    # Deviation 0.40 (above raise 0.35) for a minute, then alternating 0.40 and 0.25 (between
    # clear 0.2 and raise) every sample until +700: one firing, resolved only once really back.
    def hover(t: float, server: str, plane: int) -> float:
        if not START + 300 <= t < START + 700:
            return RATE
        share = 0.35 if t < START + 360 or int((t - START) // 10) % 2 else 0.3125
        return RATE * 4 * (share if plane == 2 else (1 - share) / 3)

    findings = run(ImbalanceDetector(inv), Traffic().run(START, START + 900, hover))
    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    assert findings[1].ended_at == START + 705


def test_short_blips_do_not_fire(inv):
    def blip(t: float, server: str, plane: int) -> float:
        return RATE * (3 if plane == 1 and START + 300 <= t < START + 310 else 1)

    assert run(ImbalanceDetector(inv), Traffic().run(START, START + 600, blip)) == []


def test_a_known_plane_failure_is_not_an_imbalance(inv):
    """Plane 2 fails: its share goes to 0, the others rise to 1/3 each: nothing from this detector."""
    def failover(t: float, server: str, plane: int) -> float:
        if START + 300 <= t < START + 500:
            return 0.0 if plane == 2 else RATE * 4 / 3
        return RATE

    detector = ImbalanceDetector(inv)
    records = Traffic().run(START, START + 800, failover)
    records += [plane_failure(2, "firing", START + 302), plane_failure(2, "resolved", START + 540)]
    records.sort(key=lambda r: r.ts)
    assert run(detector, records) == []


def test_a_collapse_waits_for_the_plane_failure_and_is_then_explained(inv):
    """The share collapses; plane_failure only fires 100 s later (BGP hold timer): still nothing."""
    def collapse(t: float, server: str, plane: int) -> float:
        if t >= START + 300:
            return 0.0 if plane == 2 else RATE * 4 / 3
        return RATE

    records = Traffic().run(START, START + 700, collapse) + [plane_failure(2, "firing", START + 400)]
    records.sort(key=lambda r: r.ts)
    assert run(ImbalanceDetector(inv), records) == []


def test_a_firing_imbalance_is_resolved_as_explained_by_a_later_plane_failure(inv):
    def low(t: float, server: str, plane: int) -> float:
        return RATE * (0.5 if plane == 2 and t >= START + 300 else 1)

    records = Traffic().run(START, START + 600, low) + [plane_failure(2, "firing", START + 450)]
    records.sort(key=lambda r: r.ts)
    findings = run(ImbalanceDetector(inv), records)
    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    assert findings[1].ts == START + 450
    assert findings[1].evidence["explained_by"]["kind"] == "plane_failure"
    assert findings[1].evidence["excluded_planes"] == {"2": ["plane_failure"]}


def test_uneven_uplinks_raise_one_warning_for_the_plane(inv):
    def skewed(t: float, plane: int, rack: int, uplink: str) -> float:
        if plane == 3 and rack == 2 and START + 300 <= t < START + 500:
            return 3e7 if uplink == "eth49" else 0.5e7  # CV 0.71
        return 2e7

    findings = run(ImbalanceDetector(inv), Traffic().run(START, START + 800, uplinks=skewed))
    assert [(f.plane, f.subject, f.status) for f in findings] == [(3, UPLINKS_SUBJECT, "firing"),
                                                                   (3, UPLINKS_SUBJECT, "resolved")]
    fired = findings[0]
    assert fired.severity == "warning" and fired.started_at == START + 300
    assert fired.ts == START + 365  # held 60 s from the first judgement (the watermark at +305)
    worst = fired.evidence["worst_tors"][0]
    assert worst["switch"] == "tor-p3-r2" and worst["cv"] == pytest.approx(5 / 7, abs=1e-3)
    assert worst["uplinks"] == {"eth49": 30_000_000, "eth50": 5_000_000}
    assert fired.evidence["skewed_tors"] == 1 and fired.evidence["tors"] == 2


def avoiding_plane_4(servers: list[str]) -> ServerRate:
    def rate(t: float, server: str, plane: int) -> float:
        if server in servers and t >= START + 300:
            return 0.0 if plane == 4 else RATE * 4 / 3
        return RATE

    return rate


def test_one_server_not_spreading_is_named(inv):
    findings = run(ImbalanceDetector(inv), Traffic().run(START, START + 500, avoiding_plane_4(["s-r1-3"])))
    assert [(f.plane, f.subject, f.status) for f in findings] == [(4, "s-r1-3", "firing")]
    ev = findings[0].evidence
    assert (ev["direction"], ev["planes"], ev["servers"]) == ("avoiding", [4], 1)
    assert ev["top_servers"][0]["server"] == "s-r1-3"
    assert ev["top_servers"][0]["shares"]["4"] == 0.0


def test_many_servers_not_spreading_are_one_finding_per_plane_set(inv):
    servers = SERVERS[:2]  # more than few_servers=1: one finding for the plane-set, not one per server
    detector = ImbalanceDetector(inv, ImbalanceConfig(few_servers=1))
    findings = run(detector, Traffic().run(START, START + 500, avoiding_plane_4(servers)))
    grouped = [f for f in findings if f.subject]
    assert [(f.plane, f.subject) for f in grouped] == [(4, "servers avoiding plane 4")]
    assert {row["server"] for row in grouped[0].evidence["top_servers"]} == set(servers)
    assert set(detector.unbalanced_servers()) == set(servers)


def test_counter_resets_and_late_samples_do_not_disturb(inv):
    records = Traffic().run(START, START + 400)
    late = [PortCounters(ts=START + 95, plane=2, device="tor-p2-r1", port="eth1", in_octets=0, out_octets=0,
                         in_unicast_pkts=0, out_unicast_pkts=0)]  # older than what is held: ignored
    reset = Traffic().run(START + 400, START + 600)  # every counter restarts from zero
    detector = ImbalanceDetector(inv)
    records = records[:600] + late + records[600:] + reset
    assert run(detector, records) == []
    assert detector.shares() == pytest.approx({p: 0.25 for p in PLANES})


def test_snapshot_restore_mid_fault_gives_the_same_findings(inv):
    records = Traffic().run(START, START + 800, skew_plane_2)
    whole = run(ImbalanceDetector(inv), records)
    cut = next(k for k, r in enumerate(records) if r.ts >= START + 400)
    first = ImbalanceDetector(inv)
    before = run(first, records[:cut])
    restored = ImbalanceDetector.restore(inv, None, first.snapshot())
    assert before + run(restored, records[cut:]) == whole
    with pytest.raises(StateError):
        PlaneFailureDetector.restore(inv, None, first.snapshot())


# -- the simulator ------------------------------------------------------------------------


SIM = dict(racks=4, servers_per_rack=8)


def simulate(faults: list[Fault], seconds: float, *, with_failure: bool = False) -> list[Finding]:
    inventory = build_fabric(**SIM)
    detectors = [PlaneFailureDetector(inventory), ImbalanceDetector(inventory)] if with_failure else [ImbalanceDetector(inventory)]
    ensemble = DetectorSet(detectors)
    sim = Simulator(inventory, faults, start_ts=START)
    findings: list[Finding] = []
    while sim.now < START + seconds:
        findings += ensemble.feed_all(sim.step())
    return findings


def test_simulated_healthy_hour_raises_nothing():
    assert simulate([], 3600) == []


def test_simulated_ecmp_imbalance_on_plane_2_fires_once_within_a_minute_and_resolves():
    findings = simulate([Fault("ecmp-imbalance", at=120, duration=240, plane=2)], 480)
    assert [(f.plane, f.subject, f.status) for f in findings] == [(2, "", "firing"), (2, "", "resolved")]
    fired, resolved = findings
    assert fired.ts - (START + 120) <= 60
    assert START + 120 <= fired.started_at <= START + 135
    assert fired.evidence["share"] == pytest.approx(0.4, abs=0.03)
    assert resolved.ts > START + 360


def test_simulated_plane_down_is_a_plane_failure_not_an_imbalance():
    findings = simulate([Fault("plane-down", at=120, duration=180, plane=2)], 600, with_failure=True)
    assert [f.kind for f in findings if f.status == "firing"] == ["plane_failure"]
    assert ours(findings) == []

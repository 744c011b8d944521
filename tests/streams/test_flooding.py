"""Flooding detector: hand-built scenarios on the 4-plane × 8-server test fabric (see conftest), then the simulator.

Per plane the fabric has 8 servers, so the default floor is 8 × 2 = 16 pps of broadcast+multicast;
a healthy port receives 0.2 pps (ARP + ND), a plane 1.6 pps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import pytest
from conftest import PER_RACK, PLANES, RACKS, UPLINK, inventory_document

from planewatch.inventory import Inventory, parse_inventory
from planewatch.schemas.records import (
    FdbSnapshot,
    Finding,
    PortCounters,
    Record,
    SflowCounterSample,
    SflowFlowSample,
    Watermark,
)
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.flooding import FloodingConfig, FloodingDetector

HEALTHY = 0.2
T0, T1, END = 600.0, 900.0, 1200.0
SERVERS = [f"s-r{r}-{n}" for r in RACKS for n in range(1, PER_RACK + 1)]


def mac(plane: int, server: str) -> str:
    _, rack, n = server.split("-")
    return f"02:00:{plane:02x}:{int(rack[1:]):02x}:00:{int(n):02x}"


@pytest.fixture
def inv() -> Inventory:
    """The conftest fabric, with one MAC per server per plane (what unknown-unicast checks against)."""
    doc = inventory_document()
    for server in doc["servers"]:
        server["macs"] = {p: mac(p, server["name"]) for p in PLANES}
    return parse_inventory(doc, "test-fabric-with-macs")


def port_of(server: str, plane: int) -> tuple[str, str]:
    _, rack, n = server.split("-")
    return f"tor-p{plane}-{rack}", f"eth{n}"


class Counters:
    """Cumulative gNMI counters of every server port; ``pps(t)`` gives each plane's per-port flood rate."""

    def __init__(self, start: int = 10**9):
        self.value: dict[tuple[str, str, str], float] = defaultdict(lambda: float(start))

    def sample(self, ts: float, pps: dict[int, float], interval: float, *, reset: Iterable[int] = (),
               set_to: dict[int, int] | None = None) -> list[PortCounters]:
        out = []
        for p in PLANES:
            for server in SERVERS:
                device, port = port_of(server, p)
                for field, share in (("bc", 0.5), ("mc", 0.5), ("uc", None)):
                    key = (device, port, field)
                    if p in reset:
                        self.value[key] = 0.0
                    if set_to and p in set_to:
                        self.value[key] = float(set_to[p])
                    self.value[key] += (1000.0 if share is None else pps.get(p, HEALTHY) * share) * interval
                out.append(PortCounters(
                    ts=ts, plane=p, device=device, port=port, in_octets=0, out_octets=0,
                    in_unicast_pkts=int(self.value[(device, port, "uc")]), out_unicast_pkts=0,
                    in_broadcast_pkts=int(self.value[(device, port, "bc")]),
                    in_multicast_pkts=int(self.value[(device, port, "mc")]),
                ))
            for r in RACKS:  # uplinks carry the whole plane's flood: never counted
                out.append(PortCounters(ts=ts, plane=p, device=f"tor-p{p}-r{r}", port=UPLINK, in_octets=0,
                                        out_octets=0, in_unicast_pkts=0, out_unicast_pkts=0,
                                        in_broadcast_pkts=int(ts * 1e6), in_multicast_pkts=0))
        return out

    def run(self, start: float, end: float, pps: Callable[[float], dict[int, float]] | dict[int, float],
            interval: float = 10.0) -> list[Record]:
        out: list[Record] = []
        t = start
        while t < end:
            if round(t / interval, 6).is_integer():
                out += self.sample(t, pps(t) if callable(pps) else pps, interval)
            out.append(Watermark(ts=t + 0.001, plane=0))
            t += 5.0
        return out


def run(detector, records: Iterable[Record]) -> list[Finding]:
    findings: list[Finding] = []
    for record in sorted(records, key=lambda r: r.ts):
        findings += detector.feed(record)
    return findings


def storm(t: float) -> dict[int, float]:
    """Plane 2 floods 500 pps per port from T0 to T1 (a sample at t covers the interval (t - 10, t])."""
    return {2: 500.0} if T0 < t <= T1 else {}


# -- contract and configuration ---------------------------------------------------------


def test_satisfies_the_detector_contract(inv):
    detector = FloodingDetector(inv)
    assert isinstance(detector, Detector)
    assert detector.name == "flooding"


@pytest.mark.parametrize("options, words", [
    ({"clear_ratio": 1.0}, "clear_ratio"),
    ({"floor_per_server_pps": 0}, "floor_per_server_pps must be > 0"),
    ({"window": 2.0}, "window (2.0) must be >= interval"),
    ({"unknown_unicast_min_samples": 0}, "unknown_unicast_min_samples must be >= 1"),
])
def test_bad_config_says_what_is_wrong(options, words):
    with pytest.raises(ValueError, match="invalid FloodingConfig") as error:
        FloodingConfig(**options)
    assert words in str(error.value)


def test_restore_refuses_another_detectors_state(inv):
    from planewatch.streams.plane_failure import PlaneFailureDetector
    with pytest.raises(StateError, match="plane_failure"):
        FloodingDetector.restore(inv, None, PlaneFailureDetector(inv).snapshot())


# -- broadcast/multicast flooding ----------------------------------------------------------


def test_healthy_fabric_raises_nothing_and_learns_a_baseline(inv):
    detector = FloodingDetector(inv)
    assert run(detector, Counters().run(0.0, END, {})) == []
    rates = detector.rates(2)
    assert rates["flood_pps"] == pytest.approx(8 * HEALTHY, rel=0.05)  # uplinks are not counted
    assert rates["baseline_pps"] == pytest.approx(8 * HEALTHY, rel=0.05)
    assert rates["threshold_pps"] == 16.0  # the floor: 8 servers × 2 pps


def test_storm_on_one_plane_fires_once_with_evidence_and_resolves(inv):
    detector = FloodingDetector(inv)
    findings = run(detector, Counters().run(0.0, END, storm))

    assert [(f.kind, f.plane, f.status) for f in findings] == [("flooding", 2, "firing"), ("flooding", 2, "resolved")]
    fired, resolved = findings
    assert fired.fingerprint == resolved.fingerprint == fingerprint("flooding", 2)
    assert fired.severity == "critical"
    # The samples at 610 are the first interval over the threshold: it began at 600.
    assert fired.started_at == resolved.started_at == T0
    assert fired.ts == pytest.approx(T0 + 25.001)  # first seen at the 615 assessment, held 10 s
    ev = fired.evidence
    assert ev["flood_pps"] == pytest.approx(8 * 500.0)
    assert ev["threshold_pps"] == 16.0 and ev["floor_pps"] == 16.0
    assert ev["baseline_pps"] == pytest.approx(8 * HEALTHY, rel=0.05)
    assert ev["other_planes_median_pps"] == pytest.approx(8 * HEALTHY, rel=0.05)
    assert set(ev["other_planes_pps"]) == {"1", "3", "4"}
    assert ev["flood_share"] == pytest.approx(500 / 1500, rel=0.01)
    assert len(ev["top_ports"]) == 5
    assert {p["switch"] for p in ev["top_ports"]} <= {"tor-p2-r1", "tor-p2-r2"}
    assert all(p["pps"] == pytest.approx(500.0) and p["source"] == "gnmi" for p in ev["top_ports"])
    assert [r["rack"] for r in ev["top_racks"]] == ["r1", "r2"]
    assert "plane 2 (green) floods" in fired.summary
    # The storm's last interval ends at 900; the 910 samples are clean, then a 30 s hold.
    assert resolved.ended_at == pytest.approx(915.001)
    assert resolved.ts == pytest.approx(945.001)


def test_a_value_hovering_at_the_threshold_does_not_flap(inv):
    """Plane 2 alternates between 90 % and 110 % of the raise level for 10 minutes: one finding, no flapping."""
    def hover(t: float) -> dict[int, float]:
        if T0 <= t < T0 + 600:
            return {2: 2.0 * (1.1 if int(t // 20) % 2 else 0.9)}  # per port: 8 ports × 2 pps = the 16 pps floor
        return {}

    findings = run(FloodingDetector(inv), Counters().run(0.0, T0 + 900, hover))
    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    assert findings[1].ts > T0 + 600


def test_raise_hold_ignores_a_single_spike(inv):
    def spike(t: float) -> dict[int, float]:
        return {2: 500.0} if t == T0 + 10 else {}  # one 10 s interval

    detector = FloodingDetector(inv, FloodingConfig(raise_hold=15.0))
    assert run(detector, Counters().run(0.0, END, spike)) == []


def test_every_plane_flooding_alike_is_not_a_plane_fault(inv):
    """Something broadcasting on all planes (a server, an application) is not one plane's fault."""
    everywhere = {p: 50.0 for p in PLANES}
    detector = FloodingDetector(inv)
    assert run(detector, Counters().run(0.0, END, lambda t: everywhere if t >= T0 else {})) == []


def test_counter_resets_and_wraps_never_flood(inv):
    counters = Counters(start=(1 << 32) - 1000)  # right below 2^32: a reset to 0 looks like a 32-bit wrap
    records: list[Record] = []
    for k, t in enumerate(range(0, int(END), 10)):
        if k == 30:
            records += counters.sample(float(t), {}, 10.0, reset=[2])  # gNMI counters cleared on plane 2
        elif k == 60:
            records += counters.sample(float(t), {}, 10.0, set_to={3: 5})  # a reboot on plane 3
        else:
            records += counters.sample(float(t), {}, 10.0)
        records.append(Watermark(ts=t + 5.0, plane=0))
    detector = FloodingDetector(inv)
    assert run(detector, records) == []
    assert detector.rates(2)["flood_pps"] == pytest.approx(8 * HEALTHY, rel=0.05)


def sflow(ts: float, device: str, if_index: int, bc: int, mc: int, uc: int = 0, *, plane: int = 2) -> SflowCounterSample:
    return SflowCounterSample(ts=ts, plane=plane, agent="192.0.2.1", device=device, sequence=int(ts), if_index=if_index,
                              if_speed=25_000_000_000, in_ucast_pkts=uc, in_bcast_pkts=bc, in_mcast_pkts=mc)


def test_sflow_counters_flood_and_their_32_bit_wraps_are_rates(inv):
    """A switch without gNMI counters is measured from sFlow; its 32-bit counters wrap (rated, not reset)."""
    records: list[Record] = []
    wrap = 1 << 32
    for t in range(0, 600, 20):
        for n in range(1, PER_RACK + 1):
            # 100 pps of broadcast per port, starting 1,000 below the wrap: it wraps in the first interval.
            bc = (wrap - 1000 + 100 * t) % wrap
            records.append(sflow(float(t), "tor-p2-r1", n, bc, 0, uc=(wrap - 5 + 10 * t) % wrap))
        records.append(sflow(float(t), "tor-p2-r1", 49, 10**6 * t % wrap, 0))  # the uplink (ifIndex 49): ignored
        records.append(Watermark(ts=t + 10.0, plane=0))
    detector = FloodingDetector(inv)
    findings = run(detector, records)
    assert detector.rates(2)["flood_pps"] == pytest.approx(4 * 100.0)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("flooding", 2, "firing")]
    ports = findings[0].evidence["top_ports"]
    assert {(p["port"], p["source"]) for p in ports} <= {(n, "sflow") for n in range(1, PER_RACK + 1)}


def test_unknown_broadcast_counters_are_ignored(inv):
    records = [PortCounters(ts=float(t), plane=2, device="tor-p2-r1", port="eth1", in_octets=0, out_octets=0,
                            in_unicast_pkts=t * 1000, out_unicast_pkts=0) for t in range(0, 300, 10)]
    detector = FloodingDetector(inv)
    assert run(detector, records) == []
    assert detector.rates(2)["flood_pps"] == 0.0


def test_snapshot_and_restore_mid_storm_continue_exactly(inv):
    records = sorted(Counters().run(0.0, END, storm), key=lambda r: r.ts)
    whole = run(FloodingDetector(inv), records)
    cut = next(k for k, r in enumerate(records) if r.ts > T0 + 100)
    first = FloodingDetector(inv)
    before = run(first, records[:cut])
    second = FloodingDetector.restore(inv, None, first.snapshot())
    after = run(second, records[cut:])
    assert [f.status for f in before] == ["firing"]
    assert before + after == whole


# -- unknown unicast ------------------------------------------------------------------------------


def fdb(ts: float, plane: int, device: str, macs: list[str]) -> FdbSnapshot:
    return FdbSnapshot(ts=ts, plane=plane, device=device, macs=macs, vlans=[0] * len(macs), ports=["eth1"] * len(macs))


def flow(ts: float, device: str, dst: str, *, plane: int = 2, src: str = "02:00:02:01:00:01", rate: int = 1024,
         in_if: int = 1, frame_class: str = "unicast") -> SflowFlowSample:
    return SflowFlowSample(ts=ts, plane=plane, agent="192.0.2.1", device=device, sequence=0, sampling_rate=rate,
                           input_if=in_if, output_if=2, src_mac=src, dst_mac=dst, vlan=None, ethertype=0x0800,
                           frame_class=frame_class, frame_length=1514)


def uu_scenario(inv: Inventory, unknown_dst: str = "52:54:00:00:00:99") -> list[Record]:
    """Every switch of plane 2 holds every server MAC (snapshots every 60 s). From T0 to T1 server s-r1-1
    sends to a MAC no table holds: each of the 3 switches samples ~1 in 1024 of ~1,000 pps → 1 sample/s."""
    records: list[Record] = []
    macs = sorted(inv.expected_macs(2))
    switches = ["tor-p2-r1", "tor-p2-r2", "spine-p2"]
    for t in range(0, int(END), 60):
        records += [fdb(float(t), 2, sw, macs) for sw in switches]
    for t in range(0, int(END)):
        for k, sw in enumerate(switches):
            dst = unknown_dst if T0 <= t < T1 else macs[(t + k) % len(macs)]
            records.append(flow(t + 0.1 * k + 0.05, sw, dst, in_if=1 if sw == "tor-p2-r1" else 49))
        if t % 5 == 0:
            records.append(Watermark(ts=float(t), plane=0))
    return records


def test_unknown_unicast_fires_with_sampled_sources_and_resolves(inv):
    detector = FloodingDetector(inv)
    findings = run(detector, uu_scenario(inv))
    assert [(f.kind, f.plane, f.status) for f in findings] == [("unknown_unicast", 2, "firing"),
                                                               ("unknown_unicast", 2, "resolved")]
    fired, resolved = findings
    assert fired.fingerprint == fingerprint("unknown_unicast", 2) and fired.severity == "warning"
    assert fired.started_at == T0
    assert T0 < fired.ts <= T0 + 30
    ev = fired.evidence
    # Per switch 1 sample/s × 1024 over the 30 s window, averaged over the 3 sampling switches.
    assert ev["sampling_switches"] == 3
    assert ev["threshold_pps"] == 100.0
    assert ev["unknown_unicast_pps"] >= 100.0
    assert ev["sampled_source_macs"][0] == {"mac": "02:00:02:01:00:01", "samples": ev["sampled_source_macs"][0]["samples"],
                                            "owner": "s-r1-1"}
    assert {p["switch"] for p in ev["top_ports"]} == {"tor-p2-r1", "tor-p2-r2", "spine-p2"}
    assert {p["rack"] for p in ev["top_ports"]} == {"r1", "r2", None}
    assert T1 < resolved.ts <= T1 + 70


def test_unicast_to_macs_in_the_fdb_is_not_unknown(inv):
    records = [r for r in uu_scenario(inv, unknown_dst="02:00:02:02:00:04") if r.ts < END]  # a server's MAC
    assert run(FloodingDetector(inv), records) == []


def test_unknown_unicast_needs_an_fdb_to_judge_against(inv):
    records = [r for r in uu_scenario(inv) if not isinstance(r, FdbSnapshot)]
    assert run(FloodingDetector(inv), records) == []


def test_snapshot_and_restore_keep_the_fdb_and_the_window(inv):
    records = sorted(uu_scenario(inv), key=lambda r: r.ts)
    whole = run(FloodingDetector(inv), records)
    cut = next(k for k, r in enumerate(records) if r.ts > T0 + 10)  # mid-window, before it fires
    first = FloodingDetector(inv)
    before = run(first, records[:cut])
    after = run(FloodingDetector.restore(inv, None, first.snapshot()), records[cut:])
    assert before == [] and after == whole


# -- the simulator ------------------------------------------------------------------------------

START = 1_700_000_000.0


def simulate(inventory: Inventory, faults: list[Fault], seconds: float) -> list[Finding]:
    sim = Simulator(inventory, faults, start_ts=START)
    detector = FloodingDetector(inventory)
    findings: list[Finding] = []
    while sim.now < START + seconds:
        for record in sim.step():
            findings += detector.feed(record)
    return findings


def test_simulated_healthy_hour_floods_nowhere():
    assert simulate(build_fabric(racks=4, servers_per_rack=8), [], 3600.0) == []


def test_simulated_broadcast_storm_is_one_finding_on_its_plane():
    inventory = build_fabric()
    fault = Fault("broadcast-storm", at=120.0, duration=120.0, plane=2)
    findings = simulate(inventory, [fault], 400.0)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("flooding", 2, "firing"), ("flooding", 2, "resolved")]
    fired, resolved = findings
    begin, end = START + fault.at, START + fault.end
    assert fired.ts - begin <= 60.0
    assert begin - 10.0 <= fired.started_at <= begin  # the counter interval in which it began
    assert fired.evidence["flood_pps"] > 100 * fired.evidence["threshold_pps"]
    assert resolved.ts > end and resolved.ended_at > end


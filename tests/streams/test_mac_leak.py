"""MAC leak / MAC move detector: hand-built FDB records on the test fabric (see conftest), then the simulator.

Each plane's tables should hold its 8 server MACs: on a server's own ToR behind its port
``eth{n}``, on the other ToR behind the uplink, on the spine behind ``eth{rack}``. With 8
expected MACs the leak bound is max(2, 0.5 % × 8) = 2.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from conftest import PER_RACK, PLANES, RACKS, UPLINK, inventory_document

from planewatch.inventory import Inventory, parse_inventory
from planewatch.schemas.records import FdbChange, FdbSnapshot, Finding, Record, Watermark
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.detector import Detector, StateError, fingerprint
from planewatch.streams.mac_leak import MacLeakConfig, MacLeakDetector

T0, T1, END = 600.0, 720.0, 1000.0
SERVERS = [f"s-r{r}-{n}" for r in RACKS for n in range(1, PER_RACK + 1)]
SWITCHES = ("tor-p{p}-r1", "tor-p{p}-r2", "spine-p{p}")


def mac(plane: int, server: str) -> str:
    _, rack, n = server.split("-")
    return f"02:00:{plane:02x}:{int(rack[1:]):02x}:00:{int(n):02x}"


def leaked(k: int) -> str:
    return f"52:54:00:00:{k >> 8:02x}:{k & 0xFF:02x}"


@pytest.fixture
def inv() -> Inventory:
    doc = inventory_document()
    for server in doc["servers"]:
        server["macs"] = {p: mac(p, server["name"]) for p in PLANES}
    return parse_inventory(doc, "test-fabric-with-macs")


def port_on(device: str, server: str) -> str:
    """Port ``device`` learns ``server``'s MAC on (its port on its own ToR, the uplink elsewhere, the rack port on spines)."""
    _, rack, n = server.split("-")
    if device.startswith("spine"):
        return f"eth{rack[1:]}"
    return f"eth{n}" if device.endswith(rack) else UPLINK


def table(ts: float, plane: int, device: str, extra: Iterable[tuple[str, str]] = (),
          moved: dict[str, str] | None = None) -> FdbSnapshot:
    entries = [(mac(plane, s), (moved or {}).get(mac(plane, s), port_on(device, s))) for s in SERVERS]
    entries += list(extra)
    return FdbSnapshot(ts=ts, plane=plane, device=device, macs=[m for m, _ in entries],
                       vlans=[100 + plane] * len(entries), ports=[p for _, p in entries])


def healthy(start: float, end: float, *, every: float = 60.0) -> list[Record]:
    """Snapshots of every switch every ``every`` seconds (staggered by switch) and watermarks every 5 s."""
    out: list[Record] = []
    t = start
    while t < end:
        for p in PLANES:
            for k, name in enumerate(SWITCHES):
                if (t - start) % every == 0:
                    out.append(table(t + 0.5 * k + 0.1 * p, p, name.format(p=p)))
        out.append(Watermark(ts=t, plane=0))
        t += 5.0
    return out


def leak(plane: int = 3, server: str = "s-r1-2", *, rate: float = 0.5, start: float = T0, stop: float = T1,
         changes: bool = True) -> list[Record]:
    """``server`` leaks ``rate`` workload MACs per second on ``plane`` (learned on every switch), aged 5 s after ``stop``;
    snapshots every 60 s show them too (replacing the healthy ones)."""
    out: list[Record] = []
    count = int((stop - start) * rate)
    born = {leaked(k): start + k / rate for k in range(count)}
    if changes:
        for m, t in born.items():
            for name in SWITCHES:
                device = name.format(p=plane)
                out.append(FdbChange(ts=t, plane=plane, device=device, mac=m, vlan=100 + plane,
                                     port=port_on(device, server), change="learned"))
                out.append(FdbChange(ts=stop + 5.0, plane=plane, device=device, mac=m, vlan=100 + plane,
                                     port=port_on(device, server), change="aged"))
    for t in range(int(start), int(END), 60):
        for k, name in enumerate(SWITCHES):
            device = name.format(p=plane)
            ts = t + 0.5 * k + 0.1 * plane
            present = [(m, port_on(device, server)) for m, b in born.items() if b <= ts and ts < stop + 5.0]
            out.append(table(ts + 0.01, plane, device, present))  # just after the healthy one: replaces it
    return out


def run(detector, records: Iterable[Record]) -> list[Finding]:
    findings: list[Finding] = []
    for record in sorted(records, key=lambda r: r.ts):
        findings += detector.feed(record)
    return findings


# -- contract and configuration ---------------------------------------------------------


def test_satisfies_the_detector_contract(inv):
    detector = MacLeakDetector(inv)
    assert isinstance(detector, Detector)
    assert detector.name == "mac_leak"
    assert detector.bound(1) == 2.0


def test_bound_scales_with_the_fabric():
    detector = MacLeakDetector(build_fabric(planes=2, racks=100, servers_per_rack=80))
    assert detector.bound(1) == pytest.approx(0.005 * (8000 + 2))


@pytest.mark.parametrize("options, words", [
    ({"clear_fraction": 1.0}, "clear_fraction"),
    ({"min_unknown": 0}, "min_unknown must be >= 1"),
    ({"move_window": 1.0}, "move_window (1.0) must be >= interval"),
])
def test_bad_config_says_what_is_wrong(options, words):
    with pytest.raises(ValueError, match="invalid MacLeakConfig") as error:
        MacLeakConfig(**options)
    assert words in str(error.value)


def test_restore_refuses_another_detectors_state(inv):
    from planewatch.streams.flooding import FloodingDetector
    with pytest.raises(StateError, match="flooding"):
        MacLeakDetector.restore(inv, None, FloodingDetector(inv).snapshot())


# -- leaks ------------------------------------------------------------------------------------


def test_healthy_tables_raise_nothing(inv):
    detector = MacLeakDetector(inv)
    assert run(detector, healthy(0.0, END)) == []
    assert all(detector.unknown_macs(p) == {} for p in PLANES)


def test_slow_leak_fires_once_naming_the_server_and_resolves(inv):
    detector = MacLeakDetector(inv)
    findings = run(detector, [*healthy(0.0, END), *leak()])

    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_leak", 3, "firing"), ("mac_leak", 3, "resolved")]
    fired, resolved = findings
    assert fired.fingerprint == resolved.fingerprint == fingerprint("mac_leak", 3)
    assert fired.severity == "warning"
    assert fired.started_at == resolved.started_at == T0  # the first leaked MAC
    assert fired.ts - T0 <= 20.0  # 3rd MAC at +4 s, seen at the +5 s assessment, held 10 s
    ev = fired.evidence
    assert ev["unknown_macs"] > ev["bound"] == 2
    assert ev["expected_macs"] == 8
    assert ev["top_ports"] == [{"switch": "tor-p3-r1", "port": "eth2", "unknown_macs": ev["unknown_macs"],
                                "server": "s-r1-2"}]
    assert {s["switch"] for s in ev["top_switches"]} == {"tor-p3-r1", "tor-p3-r2", "spine-p3"}
    assert set(ev["example_macs"]) <= {leaked(k) for k in range(60)} and len(ev["example_macs"]) <= 10
    assert ev["growth_per_minute"] == pytest.approx(30.0, rel=0.35)
    assert "s-r1-2" in fired.summary and "tor-p3-r1:eth2" in fired.summary
    # Aged at T1 + 5 on every switch, then a 60 s hold.
    assert resolved.ended_at == pytest.approx(T1 + 5.0, abs=5.0)
    assert resolved.ts == pytest.approx(resolved.ended_at + 60.0, abs=5.0)


def test_a_leak_seen_only_in_snapshots_fires(inv):
    findings = run(MacLeakDetector(inv), [*healthy(0.0, END), *leak(changes=False)])
    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_leak", 3, "firing"), ("mac_leak", 3, "resolved")]
    assert findings[0].evidence["top_ports"][0]["server"] == "s-r1-2"
    assert findings[0].ts - T0 <= 60.0 + 20.0  # the next snapshot round


def test_a_count_hovering_at_the_bound_does_not_flap(inv):
    """Three unknown MACs (bound 2) on three different ports; one of them ages and comes back every 20 s."""
    records: list[Record] = [*healthy(0.0, END)]
    for k, server in enumerate(("s-r1-1", "s-r1-2", "s-r1-3")):
        records.append(FdbChange(ts=T0, plane=2, device="tor-p2-r1", mac=leaked(k), vlan=102,
                                 port=port_on("tor-p2-r1", server), change="learned"))
        records.append(FdbChange(ts=T1 + 60, plane=2, device="tor-p2-r1", mac=leaked(k), vlan=102,
                                 port=port_on("tor-p2-r1", server), change="aged"))
    for t in range(int(T0) + 30, int(T1) + 60, 20):
        records.append(FdbChange(ts=float(t), plane=2, device="tor-p2-r1", mac=leaked(2), vlan=102, port="eth3",
                                 change="aged" if t % 40 else "learned"))
    findings = run(MacLeakDetector(inv), [r for r in records if not isinstance(r, FdbSnapshot) or r.plane != 2])
    assert [(f.plane, f.status) for f in findings] == [(2, "firing"), (2, "resolved")]
    assert findings[1].ended_at >= T1 + 60


def test_many_unknown_macs_behind_one_port_fire_even_below_the_plane_bound(inv):
    """On a big plane the bound is high; four MACs behind one server port are a leak on their own."""
    config = MacLeakConfig(min_unknown=50)
    findings = run(MacLeakDetector(inv, config), [*healthy(0.0, END), *leak(rate=0.5, stop=T0 + 30)])
    assert [(f.kind, f.status) for f in findings] == [("mac_leak", "firing"), ("mac_leak", "resolved")]
    assert findings[0].evidence["unknown_macs"] < 50


def test_unknown_macs_are_capped(inv):
    config = MacLeakConfig(max_unknown_macs=8)
    detector = MacLeakDetector(inv, config)
    findings = run(detector, [*healthy(0.0, T0 + 60), *[r for r in leak(rate=2.0) if r.ts < T0 + 60]])
    assert [(f.kind, f.status) for f in findings] == [("mac_leak", "firing")]
    assert len(detector.unknown_macs(3)) == 8
    assert findings[0].evidence["unknown_macs_capped"] is True


def test_late_snapshot_does_not_undo_newer_state(inv):
    detector = MacLeakDetector(inv)
    newer = table(100.0, 1, "tor-p1-r1")
    older = table(50.0, 1, "tor-p1-r1", [(leaked(k), "eth1") for k in range(10)])
    assert run(detector, [newer]) == [] and detector.feed(older) == []
    assert detector.unknown_macs(1) == {}


def test_an_inventory_without_macs_cannot_judge_leaks(inventory):
    """The conftest fabric lists no MACs: every MAC would be unknown, so no plane raises mac_leak."""
    findings = run(MacLeakDetector(inventory), [*healthy(0.0, END), *leak()])
    assert [f for f in findings if f.kind == "mac_leak"] == []


def test_snapshot_and_restore_mid_leak_continue_exactly(inv):
    records = sorted([*healthy(0.0, END), *leak()], key=lambda r: r.ts)
    whole = run(MacLeakDetector(inv), records)
    cut = next(k for k, r in enumerate(records) if r.ts > T0 + 60)
    first = MacLeakDetector(inv)
    before = run(first, records[:cut])
    after = run(MacLeakDetector.restore(inv, None, first.snapshot()), records[cut:])
    assert [f.status for f in before] == ["firing"]
    assert before + after == whole


# -- moves ------------------------------------------------------------------------------------


def flapping(plane: int = 4, start: float = T0, stop: float = T0 + 60) -> list[Record]:
    """Two server MACs flap between their port and the uplink on their ToR, twice a second (a loop)."""
    out: list[Record] = []
    t = start
    while t < stop:
        for server in ("s-r1-1", "s-r1-3"):
            m, home = mac(plane, server), port_on(f"tor-p{plane}-r1", server)
            out.append(FdbChange(ts=t, plane=plane, device=f"tor-p{plane}-r1", mac=m, vlan=100 + plane, port=UPLINK,
                                 change="moved", previous_port=home))
            out.append(FdbChange(ts=t + 0.25, plane=plane, device=f"tor-p{plane}-r1", mac=m, vlan=100 + plane,
                                 port=home, change="moved", previous_port=UPLINK))
        t += 1.0
    return out


def test_flapping_macs_are_one_move_finding_per_plane(inv):
    detector = MacLeakDetector(inv)
    findings = run(detector, [*healthy(0.0, END), *flapping()])
    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_move", 4, "firing"), ("mac_move", 4, "resolved")]
    fired, resolved = findings
    assert fired.fingerprint == fingerprint("mac_move", 4) and fired.subject == ""
    assert fired.started_at == T0
    assert fired.ts - T0 <= 20.0
    ev = fired.evidence
    assert ev["moving_macs"] == 2
    assert {m["mac"] for m in ev["top_macs"]} == {mac(4, "s-r1-1"), mac(4, "s-r1-3")}
    assert {m["owner"] for m in ev["top_macs"]} == {"s-r1-1", "s-r1-3"}
    assert {tuple(p["ports"]) for p in ev["top_port_pairs"]} == {("eth1", UPLINK), ("eth3", UPLINK)}
    assert resolved.ts > T0 + 60


def test_a_single_move_is_not_a_loop(inv):
    records = [*healthy(0.0, END), *flapping(start=T0, stop=T0 + 1)[:1]]
    assert run(MacLeakDetector(inv), records) == []


def test_a_mac_on_another_server_port_across_snapshots_is_a_move(inv):
    config = MacLeakConfig(move_floor_per_s=0.01)  # one move in 30 s raises
    detector = MacLeakDetector(inv, config)
    m = mac(2, "s-r2-1")
    records = [*healthy(0.0, T0), table(T0 + 1, 2, "tor-p2-r2", moved={m: "eth4"}), Watermark(ts=T0 + 20, plane=0)]
    findings = run(detector, records)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_move", 2, "firing")]
    assert findings[0].evidence["top_macs"] == [{"mac": m, "moves": 1, "owner": "s-r2-1", "switch": "tor-p2-r2",
                                                 "from": "eth1", "to": "eth4"}]


# -- the simulator ------------------------------------------------------------------------------

START = 1_700_000_000.0


def simulate(inventory: Inventory, faults: list[Fault], seconds: float) -> list[Finding]:
    sim = Simulator(inventory, faults, start_ts=START)
    detector = MacLeakDetector(inventory)
    findings: list[Finding] = []
    while sim.now < START + seconds:
        for record in sim.step():
            findings += detector.feed(record)
    return findings


def test_simulated_healthy_hour_leaks_and_moves_nothing():
    assert simulate(build_fabric(racks=4, servers_per_rack=8), [], 3600.0) == []


@pytest.mark.parametrize("magnitude", [None, 0.5])
def test_simulated_mac_leak_is_one_finding_naming_the_server(magnitude):
    inventory = build_fabric()
    fault = Fault("mac-leak", at=120.0, duration=120.0, plane=3, server="r05-s07", magnitude=magnitude)
    findings = simulate(inventory, [fault], 420.0)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_leak", 3, "firing"), ("mac_leak", 3, "resolved")]
    fired, resolved = findings
    begin = START + fault.at
    assert fired.ts - begin <= 60.0
    assert begin <= fired.started_at <= begin + 2.0 / (magnitude or 2.0)  # the first leaked MAC
    assert fired.evidence["top_ports"][0] == {"switch": "p3-tor-r05", "port": "Ethernet7",
                                              "unknown_macs": fired.evidence["top_ports"][0]["unknown_macs"],
                                              "server": "r05-s07"}
    assert resolved.ts > START + fault.end


def test_simulated_storm_moves_macs_on_its_plane_only():
    """The simulator's storm makes server MACs jump to another port and back: one mac_move finding, no leak."""
    fault = Fault("broadcast-storm", at=120.0, duration=120.0, plane=2)
    findings = simulate(build_fabric(), [fault], 400.0)
    assert [(f.kind, f.plane, f.status) for f in findings] == [("mac_move", 2, "firing"), ("mac_move", 2, "resolved")]
    fired = findings[0]
    assert fired.ts - (START + fault.at) <= 60.0
    # The first moves come after the storm begins (never earlier in its tick), within one tick of it.
    assert START + fault.at <= fired.started_at <= START + fault.at + 5.0
    assert len(fired.evidence["top_macs"]) == 5 and fired.evidence["moving_macs"] > 10

"""The simulated fabric watched through gNMI, sFlow and BIRD: the foundation's promises still hold.

The simulator runs in its own process (``planewatch simulate``) and the production
collectors read it over loopback; only what crosses those protocols reaches the detector.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from planewatch.clock import ScaledClock
from planewatch.schemas import Finding
from planewatch.simulator import build_fabric
from planewatch.simulator.protocols import ProtocolFabric, SimulatorError
from planewatch.streams.inprocess import EmbeddedPipeline
from planewatch.streams.registry import default_detectors

FABRIC = ["--planes", "4", "--racks", "2", "--servers-per-rack", "4", "--seed", "0"]
SPEED = 20.0
SAMPLING_INTERVAL = 10.0


def watch(store, scenario: list[str], duration: float = 200.0):
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    start = float(int(time.time()))
    fabric = ProtocolFabric(inventory, ScaledClock(start, SPEED), FABRIC + scenario, duration=duration)
    findings: list[Finding] = []
    kinds: Counter[str] = Counter()
    pipeline = EmbeddedPipeline([fabric.run], default_detectors(inventory).detectors, store,
                                on_finding=findings.append,
                                on_records=lambda batch: kinds.update(type(r).__name__ for r in batch))
    asyncio.run(pipeline.run(asyncio.Event()))
    return start, findings, kinds, fabric


def test_plane_down_through_the_protocols_is_one_finding_within_two_intervals(chdb_store):
    start, findings, kinds, fabric = watch(chdb_store, ["--scenario", "plane-down", "--plane", "3", "--at", "40", "--for", "80"])

    # Every detector runs; through the protocols nothing but the plane failure may fire (a lagging
    # FDB view after recovery once read as unknown-unicast flooding).
    assert [(f.kind, f.plane, f.status) for f in findings] == [("plane_failure", 3, "firing"), ("plane_failure", 3, "resolved")]
    firing, resolved = findings
    assert start + 40 <= firing.started_at <= start + 46
    assert firing.ts - firing.started_at <= 2 * SAMPLING_INTERVAL
    assert resolved.ended_at is not None and resolved.ended_at >= start + 120
    # Every kind of record came through a protocol collector, none straight from the simulator.
    for kind in ("PortCounters", "InterfaceStatus", "FdbSnapshot", "SflowFlowSample", "SflowCounterSample",
                 "BgpSession", "BgpRouteCounters"):
        assert kinds[kind] > 0, kind
    by_collector = Counter(row["collector"] for row in fabric.status())
    inventory = fabric.inventory
    agents = sum(1 for s in inventory.switches.values() if s.sflow_agent)
    assert by_collector == {"gnmi": len(inventory.switches), "sflow": agents + 1, "bird": len(inventory.servers)}
    healthy = Counter(row["collector"] for row in fabric.status() if row["state"] in ("connected", "receiving", "up"))
    assert healthy["gnmi"] == len(inventory.switches), "every switch was still connected at the end"


def test_server_down_through_the_protocols_is_not_a_plane_failure(chdb_store):
    _, findings, _, _ = watch(chdb_store, ["--scenario", "server-down", "--at", "40", "--for", "80"])
    assert [(f.kind, f.subject, f.status) for f in findings] == [
        ("server_failure", "r01-s01", "firing"), ("server_failure", "r01-s01", "resolved")]


def test_a_simulator_that_cannot_start_is_reported_with_its_own_words(chdb_store):
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    fabric = ProtocolFabric(inventory, ScaledClock(time.time(), SPEED), FABRIC + ["--scenario", "no-such-fault"], duration=30)
    pipeline = EmbeddedPipeline([fabric.run], [], chdb_store)
    with pytest.raises(SimulatorError, match="no-such-fault"):
        asyncio.run(pipeline.run(asyncio.Event()))


def test_the_demo_fabric_through_the_protocols_pages_for_the_failed_plane_only(chdb_store):
    """`make demo`'s fabric (128 servers): after plane 2 recovers, the FDB view that gNMI snapshots
    give lags the switches' relearning; that must not read as unknown-unicast flooding. Run at 5x,
    half the demo's speed, so a busy CI machine still keeps up with the simulated clock."""
    inventory = build_fabric(planes=4, racks=8, servers_per_rack=16)
    start = float(int(time.time()))
    fabric = ProtocolFabric(inventory, ScaledClock(start, 5.0),
                            ["--seed", "0", "--scenario", "plane-down", "--plane", "2", "--at", "60", "--for", "120"],
                            duration=300)
    findings: list[Finding] = []
    pipeline = EmbeddedPipeline([fabric.run], default_detectors(inventory).detectors, chdb_store,
                                on_finding=findings.append)
    asyncio.run(pipeline.run(asyncio.Event()))
    assert [(f.kind, f.plane, f.status) for f in findings] == [("plane_failure", 2, "firing"), ("plane_failure", 2, "resolved")]

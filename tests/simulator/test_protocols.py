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
from planewatch.streams.plane_failure import PlaneFailureDetector

FABRIC = ["--planes", "4", "--racks", "2", "--servers-per-rack", "4", "--seed", "0"]
SPEED = 20.0
SAMPLING_INTERVAL = 10.0


def watch(store, scenario: list[str], duration: float = 200.0):
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    start = float(int(time.time()))
    fabric = ProtocolFabric(inventory, ScaledClock(start, SPEED), FABRIC + scenario, duration=duration)
    findings: list[Finding] = []
    kinds: Counter[str] = Counter()
    pipeline = EmbeddedPipeline([fabric.run], [PlaneFailureDetector(inventory)], store,
                                on_finding=findings.append,
                                on_records=lambda batch: kinds.update(type(r).__name__ for r in batch))
    asyncio.run(pipeline.run(asyncio.Event()))
    return start, findings, kinds, fabric


def test_plane_down_through_the_protocols_is_one_finding_within_two_intervals(chdb_store):
    start, findings, kinds, fabric = watch(chdb_store, ["--scenario", "plane-down", "--plane", "3", "--at", "40", "--for", "80"])

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
    assert [f for f in findings if f.kind == "plane_failure"] == []


def test_a_simulator_that_cannot_start_is_reported_with_its_own_words(chdb_store):
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    fabric = ProtocolFabric(inventory, ScaledClock(time.time(), SPEED), FABRIC + ["--scenario", "no-such-fault"], duration=30)
    pipeline = EmbeddedPipeline([fabric.run], [], chdb_store)
    with pytest.raises(SimulatorError, match="no-such-fault"):
        asyncio.run(pipeline.run(asyncio.Event()))

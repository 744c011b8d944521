"""The embedded pipeline end to end: simulator -> bus -> plane-failure detector -> chdb store.

These are the foundation's promises to an operator: a failed plane is reported once,
quickly, with the time it began, and resolved once; a dead server is not a plane
failure; and everything seen ends up in the store.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from planewatch.forensics import Window, alerts, timeline
from planewatch.schemas import Finding, Watermark
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.sources import simulated_source
from planewatch.streams.inprocess import EmbeddedPipeline, from_source
from planewatch.streams.plane_failure import PlaneFailureDetector

SAMPLING_INTERVAL = 10.0  # the simulator's counter interval (BGP is polled every 5 s)


def run_scenario(store, fault: Fault | None, duration: float = 300.0):
    inventory = build_fabric(planes=4, racks=4, servers_per_rack=8)
    start = float(int(time.time()))
    faults = [fault.resolve(inventory)] if fault else []
    simulator = Simulator(inventory, faults=faults, start_ts=start)
    findings: list[Finding] = []
    published = []
    pipeline = EmbeddedPipeline(
        [from_source(lambda stop: simulated_source(simulator, stop, duration=duration, speed=None))],
        [PlaneFailureDetector(inventory)],
        store,
        on_finding=findings.append,
        on_records=published.extend,
        batch_rows=5_000,
    )
    stats = asyncio.run(pipeline.run(asyncio.Event()))
    return start, findings, stats, published


def test_plane_down_is_one_finding_detected_within_two_intervals_and_resolved(chdb_store):
    start, findings, _, _ = run_scenario(chdb_store, Fault("plane-down", at=60, duration=120, plane=2))

    assert [(f.kind, f.plane, f.status) for f in findings] == [
        ("plane_failure", 2, "firing"),
        ("plane_failure", 2, "resolved"),
    ]
    firing, resolved = findings
    assert firing.fingerprint == resolved.fingerprint
    assert start + 60 <= firing.started_at <= start + 66, "began at the fault, not at detection"
    assert firing.ts - firing.started_at <= 2 * SAMPLING_INTERVAL
    assert resolved.started_at == firing.started_at
    assert resolved.ended_at is not None and start + 180 <= resolved.ended_at <= start + 200
    assert firing.evidence, "a finding carries its evidence"


def test_server_down_raises_no_plane_failure(chdb_store):
    _, findings, _, _ = run_scenario(chdb_store, Fault("server-down", at=60, duration=120))
    assert [f for f in findings if f.kind == "plane_failure"] == []


def test_healthy_fabric_raises_nothing(chdb_store):
    _, findings, _, _ = run_scenario(chdb_store, None, duration=600)
    assert findings == []


def test_everything_published_reaches_the_store_and_tells_the_story(chdb_store):
    start, findings, stats, published = run_scenario(chdb_store, Fault("plane-down", at=60, duration=120, plane=2))
    stored_records = [r for r in published if not isinstance(r, Watermark)]
    assert stats.rows_written == len(stored_records) + len(findings)

    counts = {
        row["t"]: row["n"]
        for row in chdb_store.query(
            "SELECT 'bgp' AS t, count() AS n FROM bgp_sessions UNION ALL "
            "SELECT 'counters', count() FROM port_counters UNION ALL SELECT 'findings', count() FROM findings"
        ).to_pylist()
    }
    assert counts["findings"] == 2
    assert counts["counters"] == sum(type(r).__name__ == "PortCounters" for r in published)

    story = timeline(chdb_store, Window(plane=2)).to_pylist()
    bgp_down = [row for row in story if row["source"] == "bgp" and row["change"] == "Established -> Active"]
    assert bgp_down and sum(r["count"] for r in bgp_down) == 4 * 8 * 2  # every server x 2 RRs of plane 2
    assert all(row["plane"] == 2 for row in story)
    kinds = [row["source"] for row in story]
    assert kinds.index("finding") > kinds.index("bgp"), "the finding follows the evidence in time"

    other_plane = timeline(chdb_store, Window(plane=1)).to_pylist()
    assert other_plane == [], "nothing changed on plane 1"

    (alert,) = alerts(chdb_store, Window()).to_pylist()
    assert (alert["kind"], alert["plane"], alert["state"]) == ("plane_failure", 2, "resolved")
    assert alert["began"].timestamp() == pytest.approx(findings[0].started_at, abs=0.001)


class BrokenStore:
    """A store whose disk is gone: every write fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, records):
        self.attempts += 1
        raise OSError("No space left on device")


def test_a_store_that_keeps_failing_stops_the_pipeline_with_its_error_instead_of_hanging():
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    simulator = Simulator(inventory, start_ts=float(int(time.time())))
    store = BrokenStore()
    pipeline = EmbeddedPipeline(
        [from_source(lambda stop: simulated_source(simulator, stop, duration=None, speed=None))],
        [PlaneFailureDetector(inventory)],
        store,
        batch_rows=100,
        write_retries=2,
    )
    with pytest.raises(OSError, match="No space left"):
        asyncio.run(asyncio.wait_for(pipeline.run(asyncio.Event()), timeout=60))
    assert store.attempts >= 3  # first try + 2 retries, then it gave up loudly
    assert pipeline.stats.write_retries >= 2

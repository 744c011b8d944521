"""Record a simulated scenario into a store on the simulated clock, flat out.

Dashboards, forensic queries and incident reports all read the store; this fills one with
exactly what ``planewatch up --speed max --scenario …`` would leave behind (raw records
plus every detector's findings) without pacing or protocols, so tests, examples and
benchmarks start from the data an operator would have.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from planewatch.inventory import Inventory
from planewatch.schemas import Finding, inventory_records
from planewatch.simulator.engine import Simulator
from planewatch.simulator.scenarios import Fault
from planewatch.sources import simulated_source
from planewatch.streams.inprocess import EmbeddedPipeline, RecordStore, from_source
from planewatch.streams.registry import default_detectors



def recent_start(duration: float, now: float | None = None) -> float:
    """A start on a whole hour such that the recording ends before ``now``.

    Tables keep raw counters for days, not months (their TTL), so a recording dated long
    ago would be dropped on insert; a whole hour keeps timestamps readable.
    """
    now = time.time() if now is None else now
    return float(int((now - duration) // 3600) * 3600)


@dataclasses.dataclass(frozen=True)
class Recording:
    """What was recorded: the time span covered and the findings raised (also in the store)."""

    start: float
    end: float
    findings: list[Finding]
    records: int


def record_scenario(
    store: RecordStore,
    inventory: Inventory,
    faults: list[Fault],
    *,
    duration: float,
    start_ts: float | None = None,
    seed: int = 0,
) -> Recording:
    """Run ``inventory`` with ``faults`` for ``duration`` simulated seconds into ``store``.

    ``start_ts`` defaults to :func:`recent_start`, so the rows outlive the tables' TTL.
    """
    start_ts = recent_start(duration) if start_ts is None else start_ts
    store.write(inventory_records(inventory, start_ts))
    resolved = [fault.resolve(inventory) for fault in faults]
    simulator = Simulator(inventory, faults=resolved, start_ts=start_ts, seed=seed)
    findings: list[Finding] = []
    pipeline = EmbeddedPipeline(
        [from_source(lambda stop: simulated_source(simulator, stop, duration=duration, speed=None))],
        default_detectors(inventory).detectors,
        store,
        on_finding=findings.append,
        fabric=inventory.fabric,
    )
    stats = asyncio.run(pipeline.run(asyncio.Event()))
    return Recording(start=start_ts, end=start_ts + duration, findings=findings, records=stats.records_in)

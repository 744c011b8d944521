"""Detector throughput at pod scale, next to a do-nothing consumer of the same records.

The fabric is the Calico note's pod: 20,000 servers on 4 planes (250 racks × 80). The
simulator first generates a few minutes of records (untimed: generating is not
detecting), including a full failure of one plane — the storm that matters at this scale:
every server's sessions to that plane drop within ~3 s (40,000 session-down records), its
20,000 ports go down, and then all of it comes back. Then, on one core and in CPU time:

* the **reference**: a loop calling a no-op ``feed`` on every record — the floor any
  Python consumer pays, so the ratio stays meaningful on a noisy shared machine;
* each available detector alone on the same records;
* the whole :class:`~planewatch.streams.ensemble.DetectorSet` as ``planewatch up`` runs it,
  which must raise exactly **one** ``plane_failure`` for the failed plane (not one per session);
* (untimed) the memory its state holds: peak and retained Python allocations while feeding
  (``tracemalloc``) and each detector's ``snapshot()`` size — bounded by the fabric, not by
  how long it runs.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import time
import tracemalloc
from typing import Callable, Sequence

from planewatch.schemas.records import BgpSession, Finding, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams import registry
from planewatch.streams.config import DetectorsConfig

__all__ = ["DetectorsBenchResult", "Run", "run_detectors_bench"]

START_TS = 1_767_225_600.0
FAILED_PLANE = 2
TARGET_RATE = 100_000
"""Records/s on one core the whole detector set should sustain (a 20k-server pod makes ~50k/s)."""


@dataclasses.dataclass(slots=True)
class Run:
    name: str
    records: int
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


@dataclasses.dataclass
class DetectorsBenchResult:
    servers: int
    planes: int
    records: int
    simulated_seconds: float
    generation_seconds: float
    storm_records: int
    storm_seconds: float
    reference: Run
    detectors: list[Run]
    combined: Run
    findings: collections.Counter
    plane_findings: int
    """Firing ``plane_failure`` findings for the failed plane (the target is exactly 1)."""
    other_plane_findings: int
    """Firing ``plane_failure`` findings for any other plane (the target is 0)."""
    peak_bytes: int | None = None
    retained_bytes: int | None = None
    snapshot_bytes: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Combined detector rate over the no-op reference rate (1.0 = as cheap as doing nothing)."""
        return self.combined.rate / self.reference.rate if self.reference.rate > 0 else 0.0


def _timed(name: str, feed: Callable[[Record], object], records: Sequence[Record]) -> Run:
    gc.collect()
    start = time.process_time()
    for record in records:
        feed(record)
    return Run(name, len(records), time.process_time() - start)


def _noop(record: Record) -> list[Finding]:
    return []


def _generate(racks: int, servers_per_rack: int, planes: int, seconds: float, fault_at: float,
              fault_for: float, seed: int) -> tuple[object, list[Record]]:
    inventory = build_fabric(planes=planes, racks=racks, servers_per_rack=servers_per_rack, seed=seed)
    plane = FAILED_PLANE if FAILED_PLANE <= planes else planes
    simulator = Simulator(inventory, [Fault("plane-down", at=fault_at, duration=fault_for, plane=plane)],
                          start_ts=START_TS, seed=seed)
    records: list[Record] = []
    for _ in range(max(1, round(seconds / simulator.tick))):
        records.extend(simulator.step())
    return inventory, records


def _mib(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value} B"


def run_detectors_bench(
    racks: int = 250,
    servers_per_rack: int = 80,
    planes: int = 4,
    seconds: float = 180.0,
    fault_at: float = 60.0,
    fault_for: float = 60.0,
    *,
    seed: int = 0,
    memory: bool = True,
    config: DetectorsConfig | None = None,
    out: Callable[[str], None] = print,
) -> DetectorsBenchResult:
    """Generate, then time the reference, each detector alone and the whole set; print every figure."""
    wall = time.perf_counter()
    inventory, records = _generate(racks, servers_per_rack, planes, seconds, fault_at, fault_for, seed)
    generation = time.perf_counter() - wall
    servers = racks * servers_per_rack
    plane = FAILED_PLANE if FAILED_PLANE <= planes else planes
    fault_start = START_TS + fault_at
    storm = [r.ts for r in records if type(r) is BgpSession and r.state != "Established"
             and fault_start <= r.ts < fault_start + fault_for]
    storm_span = (max(storm) - min(storm)) if storm else 0.0
    out(f"fabric: {servers:,} servers x {planes} planes; {seconds:g}s simulated with plane {plane} down "
        f"from +{fault_at:g}s for {fault_for:g}s")
    out(f"records: {len(records):,} (generated in {generation:.1f}s, untimed); plane-failure storm: "
        f"{len(storm):,} session-down records within {storm_span:.1f}s")

    names = registry.available_detectors()
    missing = registry.missing_detectors()
    reference = _timed("no-op consumer (reference)", _noop, records)
    out(f"{reference.name}: {reference.rate:,.0f} records/s ({reference.cpu_seconds:.2f} s CPU, one core)")
    alone: list[Run] = []
    for name in names:
        detector = registry.build_detector(name, inventory, config)
        run = _timed(name, detector.feed, records)
        alone.append(run)
        out(f"  {name} alone: {run.rate:,.0f} records/s ({run.cpu_seconds:.2f} s CPU)")
        del detector

    detectors = registry.default_detectors(inventory, config, only=names)
    findings: list[Finding] = []

    def feed(record: Record) -> None:
        got = detectors.feed(record)
        if got:
            findings.extend(got)

    combined = _timed("all detectors (DetectorSet)", feed, records)
    out(f"{combined.name}: {combined.rate:,.0f} records/s ({combined.cpu_seconds:.2f} s CPU, one core); "
        f"{combined.rate / reference.rate:.3f}x the no-op reference")
    target = "met" if combined.rate >= TARGET_RATE else "NOT met"
    out(f"  target {TARGET_RATE:,} records/s per core for all detectors together: {target}")
    if missing:
        out(f"  not measured (not in this build): {', '.join(missing)}")
    firing = [f for f in findings if f.status == "firing"]
    kinds = collections.Counter(f"{f.kind}@{f.plane}" for f in firing)
    plane_findings = sum(1 for f in firing if f.kind == "plane_failure" and f.plane == plane)
    others = sum(1 for f in firing if f.kind == "plane_failure" and f.plane != plane)
    verdict = "OK" if plane_findings == 1 and others == 0 else "WRONG: expected exactly one"
    out(f"plane findings for the failed plane {plane}: {plane_findings} plane_failure firing "
        f"(+{others} on other planes) - {verdict}")
    out(f"all findings raised: {sum(kinds.values())} firing"
        + (f" ({', '.join(f'{k} x{n}' for k, n in sorted(kinds.items()))})" if kinds else ""))

    result = DetectorsBenchResult(
        servers=servers, planes=planes, records=len(records), simulated_seconds=seconds,
        generation_seconds=generation, storm_records=len(storm), storm_seconds=storm_span,
        reference=reference, detectors=alone, combined=combined, findings=kinds,
        plane_findings=plane_findings, other_plane_findings=others,
    )
    if memory:
        del detectors, findings
        gc.collect()
        tracemalloc.start()
        try:
            measured = registry.default_detectors(inventory, config, only=names)
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for record in records:
                measured.feed(record)
            gc.collect()
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        result.peak_bytes, result.retained_bytes = peak - base, current - base
        result.snapshot_bytes = {getattr(d, "name", type(d).__name__): len(d.snapshot()) for d in measured.detectors}
        per_server = result.retained_bytes / servers if servers else 0
        out(f"detector memory (tracemalloc): peak {_mib(result.peak_bytes)}, retained state "
            f"{_mib(result.retained_bytes)} ({per_server:,.0f} B per server)")
        out("  snapshot sizes: " + ", ".join(f"{k} {_mib(v)}" for k, v in result.snapshot_bytes.items()))
    return result

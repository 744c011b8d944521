"""Run scenarios: simulator (direct mode) → every available detector → findings → score.

Nothing here paces or serialises: the simulator's records go straight into a
:class:`~planewatch.streams.ensemble.DetectorSet` built by
:func:`~planewatch.streams.registry.default_detectors`, the same set ``planewatch up`` runs,
so what the suite measures is what production would raise.

A scenario that needs a detector (or a finding kind, or a simulator fault) this build does
not have is not run: it is reported ``skipped`` with what it needs. ``strict`` (the
default of the CLI and the tests) makes such a scenario count as failed, so the suite
cannot pass by skipping; ``strict=False`` runs what it can while detectors are being added.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Callable, Iterable, Sequence

from planewatch.evaluation.score import Score, score
from planewatch.evaluation.suite import SUITE, EvalScenario, FabricSize, simulator_for
from planewatch.inventory import Inventory
from planewatch.schemas.records import Finding
from planewatch.simulator import SCENARIOS, build_fabric
from planewatch.streams import registry
from planewatch.streams.config import DetectorsConfig

__all__ = ["START_TS", "ScenarioResult", "SuiteResult", "needs", "run_scenario", "run_suite"]

START_TS = 1_767_225_600.0
"""2026-01-01 00:00 UTC: every run starts here, so runs (and their findings) are reproducible."""

Progress = Callable[[float], None]
"""Called with the fraction (0..1) of the scenario's simulated time done."""


def needs(scenario: EvalScenario) -> list[str]:
    """What this build lacks to run ``scenario``: detectors, finding kinds, simulator faults."""
    missing: list[str] = []
    kinds = registry.available_kinds()
    for kind in scenario.expected_kinds:
        if kind in kinds:
            continue
        owner = registry.detector_for_kind(kind)
        if owner is None:
            missing.append(f"a detector raising {kind}")
        elif owner in registry.available_detectors():
            missing.append(f"{owner} to raise {kind}")
        else:
            missing.append(owner)
    missing += [f"fault {kind}" for kind in scenario.fault_kinds if kind not in SCENARIOS]
    return list(dict.fromkeys(missing))


@dataclasses.dataclass
class ScenarioResult:
    scenario: EvalScenario
    status: str
    """``passed``, ``failed``, ``skipped`` (see :attr:`needs`) or ``error`` (see :attr:`error`)."""
    score: Score | None = None
    needs: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    findings: list[Finding] = dataclasses.field(default_factory=list)
    records: int = 0
    seconds: float = 0.0
    """Wall-clock seconds the run took."""
    detectors: list[str] = dataclasses.field(default_factory=list)

    def ok(self, strict: bool = True) -> bool:
        return self.status == "passed" or (self.status == "skipped" and not strict)

    @property
    def problems(self) -> list[str]:
        if self.status == "skipped":
            return [f"needs {', '.join(self.needs)}"]
        if self.status == "error":
            return [self.error or "error"]
        return self.score.problems if self.score else []

    def as_dict(self) -> dict[str, Any]:
        s = self.score
        return {
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            "status": self.status,
            "fabric": str(self.scenario.fabric),
            "simulated_seconds": self.scenario.seconds,
            "expected": s.expected if s else len(self.scenario.expected),
            "detected": s.detected if s else None,
            "missed": s.missed if s else None,
            "false_positives": s.false_positive_count if s else None,
            "time_to_detect": s.time_to_detect if s else None,
            "time_to_resolve": s.time_to_resolve if s else None,
            "expectations": [r.as_dict() for r in s.results] if s else [],
            "false_positive_findings": [fp.as_dict() for fp in s.false_positives] if s else [],
            "needs": self.needs,
            "error": self.error,
            "problems": self.problems,
            "records": self.records,
            "wall_seconds": round(self.seconds, 3),
            "detectors": self.detectors,
        }


@dataclasses.dataclass
class SuiteResult:
    results: list[ScenarioResult]
    strict: bool
    detectors: list[str]
    missing: dict[str, str]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.ok(self.strict) for r in self.results)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def summary(self) -> str:
        parts = [f"{len(self.results)} scenario(s): {self.count('passed')} passed, {self.count('failed')} failed"]
        if self.count("error"):
            parts.append(f"{self.count('error')} errors")
        if self.count("skipped"):
            parts.append(f"{self.count('skipped')} skipped ({'failing: strict' if self.strict else 'not failing: lenient'})")
        line = ", ".join(parts)
        line += f"; detectors: {', '.join(self.detectors) or 'none'}"
        if self.missing:
            line += f" (missing: {', '.join(self.missing)})"
        line += f"; {self.seconds:.1f}s; {'OK' if self.ok else 'FAILED'}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "strict": self.strict, "detectors": self.detectors, "missing_detectors": self.missing,
                "wall_seconds": round(self.seconds, 3), "summary": self.summary(),
                "scenarios": [r.as_dict() for r in self.results]}


_FABRICS: dict[tuple[FabricSize, int], Inventory] = {}


def _fabric(size: FabricSize, seed: int) -> Inventory:
    key = (size, seed)
    if key not in _FABRICS:
        _FABRICS[key] = build_fabric(planes=size.planes, racks=size.racks, servers_per_rack=size.servers_per_rack, seed=seed)
    return _FABRICS[key]


def run_scenario(
    scenario: EvalScenario,
    config: DetectorsConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run one scenario with every available detector and score it (skipped if it :func:`needs` something)."""
    missing = needs(scenario)
    if missing:
        return ScenarioResult(scenario, "skipped", needs=missing)
    wall = time.perf_counter()
    try:
        inventory = _fabric(scenario.fabric, seed)
        detectors = registry.default_detectors(inventory, config)
        names = [getattr(d, "name", type(d).__name__) for d in detectors.detectors]
        simulator = simulator_for(scenario, inventory, START_TS, seed)
        steps = max(1, round(scenario.seconds / simulator.tick))
        findings: list[Finding] = []
        records = 0
        feed = detectors.feed
        every = max(1, steps // 50)
        for n in range(steps):
            batch = simulator.step()
            records += len(batch)
            for record in batch:
                out = feed(record)
                if out:
                    findings += out
            if progress is not None and (n % every == 0 or n == steps - 1):
                progress((n + 1) / steps)
        result = score(scenario.expected, scenario.faults, findings, start_ts=START_TS, allowed=scenario.allowed)
    except Exception as error:  # one broken detector must not hide the other scenarios' results
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        where = traceback.extract_tb(error.__traceback__)[-1]
        return ScenarioResult(scenario, "error", error=f"{detail} (at {where.filename}:{where.lineno})",
                              seconds=time.perf_counter() - wall)
    return ScenarioResult(scenario, "passed" if result.passed else "failed", result, findings=findings,
                          records=records, seconds=time.perf_counter() - wall, detectors=names)


def run_suite(
    scenarios: Iterable[EvalScenario] | None = None,
    config: DetectorsConfig | None = None,
    *,
    seed: int = 0,
    strict: bool = True,
    on_start: Callable[[EvalScenario], Progress | None] | None = None,
    on_done: Callable[[ScenarioResult], None] | None = None,
) -> SuiteResult:
    """Run ``scenarios`` (default: the whole :data:`SUITE`) in order.

    ``on_start(scenario)`` may return a progress callback for that scenario; ``on_done`` sees
    each result as it is ready (a live display).
    """
    chosen: Sequence[EvalScenario] = list(SUITE if scenarios is None else scenarios)
    wall = time.perf_counter()
    results = []
    for scenario in chosen:
        progress = on_start(scenario) if on_start is not None else None
        result = run_scenario(scenario, config, seed=seed, progress=progress)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return SuiteResult(results, strict, registry.available_detectors(), registry.missing_detectors(),
                       time.perf_counter() - wall)

"""Scoring a scenario: which expected findings were raised, in time, and what fired that should not have.

A scenario states what it expects as :class:`ExpectedFinding` patterns (kind, plane,
subject) tied to one of its faults, with a detection deadline from the fault's start and
optionally a resolution deadline from its end. Findings are judged as *alerts*: all the
transitions sharing one fingerprint. An alert matching an expectation (first firing at or
after that fault began) counts for it; one matching an :class:`FindingPattern` in the
scenario's ``allowed`` list (a legitimate side effect, e.g. MAC moves during a broadcast
storm) is ignored; every other alert is a false positive, counted once per firing.

So a finding on the wrong plane is a miss *and* a false positive, a detection after its
deadline is detected but fails, and an expectation allowing one alert (``max_alerts=1``,
"one finding per plane, not one per session") turns the second and later matching alerts
into false positives.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from planewatch.schemas.records import Finding
from planewatch.simulator.scenarios import Fault

__all__ = ["Alert", "ExpectationResult", "ExpectedFinding", "FalsePositive", "FindingPattern", "Score", "score"]

_SUBJECT_SEPARATORS = "/:@ ,;|"


@dataclasses.dataclass(frozen=True)
class FindingPattern:
    """Which findings a rule is about: ``plane``/``subject`` ``None`` match any.

    A subject matches when equal, or when the finding's subject starts with it followed by a
    separator (``r01-s02/10.2.255.1`` is about server ``r01-s02``).
    """

    kind: str
    plane: int | None = None
    subject: str | None = None

    def matches(self, finding: Finding) -> bool:
        if finding.kind != self.kind or (self.plane is not None and finding.plane != self.plane):
            return False
        if self.subject is None or finding.subject == self.subject:
            return True
        rest = finding.subject[len(self.subject):] if finding.subject.startswith(self.subject) else ""
        return bool(rest) and rest[0] in _SUBJECT_SEPARATORS

    def __str__(self) -> str:
        where = f" on plane {self.plane}" if self.plane is not None else ""
        return f"{self.kind}{where}" + (f" [{self.subject}]" if self.subject else "")


@dataclasses.dataclass(frozen=True)
class ExpectedFinding(FindingPattern):
    """A finding the scenario must raise, timed against ``faults[fault]``.

    ``detect_within``: seconds from the fault's start to the first firing. ``resolve_within``:
    seconds from the fault's end to the final resolution (``None``: it need not resolve).
    ``max_alerts``: distinct alerts (fingerprints) allowed to match (``None``: any number).
    """

    fault: int = 0
    detect_within: float = 60.0
    resolve_within: float | None = 120.0
    max_alerts: int | None = 1


@dataclasses.dataclass
class Alert:
    """Every transition of one fingerprint, in event-time order."""

    fingerprint: str
    first: Finding
    fired: list[float] = dataclasses.field(default_factory=list)
    resolved: list[float] = dataclasses.field(default_factory=list)
    last_status: str = ""

    @property
    def open(self) -> bool:
        return self.last_status == "firing"

    @property
    def fired_at(self) -> float:
        return self.fired[0] if self.fired else self.first.ts


@dataclasses.dataclass
class FalsePositive:
    finding: Finding
    firings: int
    reason: str
    at: float
    """First firing, seconds after the scenario start."""

    def __str__(self) -> str:
        f = self.finding
        subject = f" [{f.subject}]" if f.subject else ""
        return f"{f.kind} on plane {f.plane}{subject} at +{self.at:.0f}s: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {"kind": f.kind, "plane": f.plane, "subject": f.subject, "at": self.at, "firings": self.firings,
                "reason": self.reason, "summary": f.summary}


@dataclasses.dataclass
class ExpectationResult:
    expected: ExpectedFinding
    alerts: list[Alert]
    time_to_detect: float | None
    time_to_resolve: float | None
    """Seconds from the fault's end to the last resolution; ``None`` if never (all) resolved."""
    problems: list[str]

    @property
    def detected(self) -> bool:
        return bool(self.alerts)

    @property
    def passed(self) -> bool:
        return self.detected and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": str(self.expected), "kind": self.expected.kind, "plane": self.expected.plane,
            "subject": self.expected.subject, "detected": self.detected, "alerts": len(self.alerts),
            "time_to_detect": self.time_to_detect, "detect_within": self.expected.detect_within,
            "time_to_resolve": self.time_to_resolve, "resolve_within": self.expected.resolve_within,
            "problems": self.problems,
        }


@dataclasses.dataclass
class Score:
    results: list[ExpectationResult]
    false_positives: list[FalsePositive]
    allowed: int
    """Alerts ignored because an ``allowed`` pattern covers them."""

    @property
    def expected(self) -> int:
        return len(self.results)

    @property
    def detected(self) -> int:
        return sum(r.detected for r in self.results)

    @property
    def missed(self) -> int:
        return self.expected - self.detected

    @property
    def false_positive_count(self) -> int:
        return sum(fp.firings for fp in self.false_positives)

    @property
    def time_to_detect(self) -> float | None:
        """The slowest detection (the figure a deadline is about)."""
        times = [r.time_to_detect for r in self.results if r.time_to_detect is not None]
        return max(times) if times else None

    @property
    def time_to_resolve(self) -> float | None:
        times = [r.time_to_resolve for r in self.results if r.time_to_resolve is not None]
        return max(times) if times else None

    @property
    def problems(self) -> list[str]:
        out = []
        for r in self.results:
            if not r.detected:
                out.append(f"missed {r.expected}")
            out += [f"{r.expected}: {p}" for p in r.problems]
        out += [f"false positive: {fp}" for fp in self.false_positives]
        return out

    @property
    def passed(self) -> bool:
        return not self.problems


def _alerts(findings: Iterable[Finding]) -> list[Alert]:
    alerts: dict[str, Alert] = {}
    for f in sorted(findings, key=lambda f: f.ts):
        alert = alerts.get(f.fingerprint)
        if alert is None:
            alert = alerts[f.fingerprint] = Alert(f.fingerprint, f)
        (alert.fired if f.status == "firing" else alert.resolved).append(f.ts)
        alert.last_status = f.status
    return sorted(alerts.values(), key=lambda a: a.fired_at)


def score(
    expected: Sequence[ExpectedFinding],
    faults: Sequence[Fault],
    findings: Iterable[Finding],
    *,
    start_ts: float = 0.0,
    allowed: Sequence[FindingPattern] = (),
) -> Score:
    """Judge ``findings`` against ``expected``; fault times are relative to ``start_ts``.

    Times in the result are relative too: ``time_to_detect`` = first firing − fault start,
    ``time_to_resolve`` = last resolution − fault end.
    """
    matched: dict[int, list[Alert]] = {i: [] for i in range(len(expected))}
    false_positives: list[FalsePositive] = []
    ignored = 0
    for alert in _alerts(findings):
        first = alert.first
        firings, at = max(1, len(alert.fired)), alert.fired_at - start_ts
        candidates = [i for i, e in enumerate(expected) if e.matches(first)]
        early = [i for i in candidates if alert.fired_at < start_ts + faults[expected[i].fault].at]
        timely = [i for i in candidates if i not in early]
        taken = next((i for i in timely if expected[i].max_alerts is None or len(matched[i]) < expected[i].max_alerts), None)
        if taken is not None:
            matched[taken].append(alert)
        elif any(p.matches(first) for p in allowed):
            ignored += 1
        elif timely:
            false_positives.append(FalsePositive(first, firings, f"one more alert than the {expected[timely[0]].max_alerts} expected", at))
        elif early:
            false_positives.append(FalsePositive(first, firings, "fired before its fault began", at))
        else:
            false_positives.append(FalsePositive(first, firings, "not expected", at))
    results = [_judge(e, matched[i], faults[e.fault], start_ts) for i, e in enumerate(expected)]
    return Score(results, false_positives, ignored)


def _judge(e: ExpectedFinding, alerts: list[Alert], fault: Fault, start_ts: float) -> ExpectationResult:
    if not alerts:
        return ExpectationResult(e, alerts, None, None, [])
    problems: list[str] = []
    begin, end = start_ts + fault.at, start_ts + fault.end
    ttd = min(a.fired_at for a in alerts) - begin
    if ttd > e.detect_within:
        problems.append(f"detected after {ttd:.1f}s (deadline {e.detect_within:g}s)")
    ttr: float | None = None
    if not any(a.open for a in alerts):
        ttr = max(a.resolved[-1] for a in alerts if a.resolved) - end if any(a.resolved for a in alerts) else None
    if e.resolve_within is not None:
        if ttr is None:
            problems.append(f"still firing at the end (should resolve within {e.resolve_within:g}s of the fault's end)")
        elif ttr < 0:
            problems.append(f"resolved {-ttr:.1f}s before the fault ended")
        elif ttr > e.resolve_within:
            problems.append(f"resolved {ttr:.1f}s after the fault ended (deadline {e.resolve_within:g}s)")
    return ExpectationResult(e, alerts, ttd, ttr, problems)

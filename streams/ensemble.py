"""Several detectors fed as one: every record to each, and every finding back to all of them.

Detectors correlate across findings (link imbalance stays quiet while a plane failure
explains it; a plane failure ignores servers that a server-failure finding accounts
for), so each finding is fed to every detector as a record of its own, once: findings
raised *in reaction to* a finding are returned but not fed back again, which keeps the
loop finite. The in-process pipeline, ``planewatch eval`` and the Faust driver all use
this one class, so the three cannot disagree about what a record leads to.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from planewatch.schemas import Finding, Record
from planewatch.streams.detector import Detector


class DetectorSet:
    """A fixed list of detectors behaving as one ``feed(record) -> findings``."""

    def __init__(self, detectors: Iterable[Detector], names: Sequence[str] | None = None):
        self.detectors: list[Detector] = list(detectors)
        self.names: list[str] | None = list(names) if names is not None else None
        """Registry names of the detectors, when built from the registry (needed to snapshot)."""

    def snapshot(self) -> dict[str, bytes]:
        """``{detector name: state}`` of every detector, for :func:`~planewatch.streams.registry.restore_detectors`."""
        if self.names is None:
            raise ValueError("a DetectorSet needs its detectors' registry names to be snapshot")
        return {name: detector.snapshot() for name, detector in zip(self.names, self.detectors)}

    def feed(self, record: Record) -> list[Finding]:
        findings: list[Finding] = []
        for detector in self.detectors:
            findings.extend(detector.feed(record))
        if not findings:
            return findings
        reactions: list[Finding] = []
        for finding in findings:
            for detector in self.detectors:
                reactions.extend(detector.feed(finding))
        return findings + reactions

    def feed_all(self, records: Sequence[Record]) -> list[Finding]:
        out: list[Finding] = []
        for record in records:
            out.extend(self.feed(record))
        return out

"""Findings are fed back to every detector once, so detectors can react to each other without looping."""

from planewatch.schemas import Finding, Record, Watermark
from planewatch.streams.ensemble import DetectorSet


def finding(kind: str, ts: float) -> Finding:
    return Finding(ts=ts, plane=2, fingerprint=kind, kind=kind, severity="warning", status="firing", started_at=ts)


class Raiser:
    """Raises 'cause' on a watermark at ts 10."""

    name = "raiser"

    def feed(self, record: Record) -> list[Finding]:
        return [finding("cause", record.ts)] if isinstance(record, Watermark) and record.ts == 10 else []


class Reactor:
    """Raises 'reaction' whenever it sees any finding (an endless loop if findings were fed back forever)."""

    name = "reactor"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def feed(self, record: Record) -> list[Finding]:
        if isinstance(record, Finding):
            self.seen.append(record.kind)
            return [finding("reaction", record.ts)]
        return []


def test_a_finding_reaches_every_detector_once_and_reactions_are_returned_not_refed():
    reactor = Reactor()
    detectors = DetectorSet([Raiser(), reactor])
    out = detectors.feed_all([Watermark(ts=5, plane=0), Watermark(ts=10, plane=0)])
    assert [f.kind for f in out] == ["cause", "reaction"]
    assert reactor.seen == ["cause"]

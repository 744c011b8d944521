"""One fabric's detectors plus the Kafka offsets their state already reflects.

Why offsets live *with* the state: a worker checkpoints detector state into a Faust
table and only then lets Faust commit the input offsets, so after a crash the committed
offsets are never past the checkpoint, but they may be behind it (the checkpoint was
written, the commit had not happened yet). Records replayed from that gap are already
inside the restored state; feeding them again would double-count them. So each
checkpoint carries, per input partition, the last offset it covers, and
:meth:`FabricDetection.feed` skips what is covered. Storage is idempotent on its own
(ReplacingMergeTree on record identity), so replayed records are still written.
"""

from __future__ import annotations

import heapq
from typing import Collection, Sequence, Union

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas import Finding, Record
from planewatch.schemas.records import ALL_RECORDS, with_fabric
from planewatch.streams.config import DetectorsConfig
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.registry import default_detectors, restore_detectors

STATE_VERSION = 1


MAX_PENDING = 1_000_000
"""Records held back for the merge at most; beyond it the oldest are fed anyway (a huge backlog
must not exhaust memory; detection then sees topics slightly out of step, as before the merge)."""


class _State(msgspec.Struct):
    version: int
    fabric: str
    covered: dict[str, int]
    detectors: dict[str, bytes]
    topic_ts: dict[str, float] = {}
    pending: list[Union[tuple(ALL_RECORDS)]] = []  # type: ignore[valid-type]


class CheckpointError(ValueError):
    """A saved checkpoint cannot be used (other version, other fabric, corrupt)."""


class FabricDetection:
    """Detectors for one fabric, fed from (topic, partition, offset)-addressed records."""

    def __init__(self, fabric: str, inventory: Inventory, config: DetectorsConfig | None = None, *,
                 detectors: DetectorSet | None = None, covered: dict[str, int] | None = None,
                 topic_ts: dict[str, float] | None = None, pending: Sequence[Record] = ()):
        self.fabric = fabric
        self.inventory = inventory
        self.config = config
        self.detectors = detectors if detectors is not None else default_detectors(inventory, config)
        self.covered: dict[str, int] = dict(covered or {})
        self.topic_ts: dict[str, float] = dict(topic_ts or {})
        self._pending: list[tuple[float, int, Record]] = []
        self._sequence = 0
        for record in pending:
            self._hold(record)
        self.skipped = 0
        """Records not fed because the restored state already reflects them."""

    def _hold(self, record: Record) -> None:
        heapq.heappush(self._pending, (record.ts, self._sequence, record))
        self._sequence += 1

    @property
    def pending(self) -> int:
        """Records received but held back until every active topic has reached their event time."""
        return len(self._pending)

    def feed(self, items: Sequence[tuple[str, int, Record]], lagging: Collection[str] = ()) -> list[Finding]:
        """Feed one batch of ``(topic-partition, offset, record)`` items; return the findings, fabric-stamped.

        Records the state already covers are dropped first. The rest are merged in event
        time: each record type has its own topic, and Kafka hands a worker whatever it
        fetched first (after a restart, minutes of one topic before the next), while the
        detectors judge a plane by comparing signals of the same moment. So records are
        held until every topic in ``lagging`` (topics with unread messages for this fabric:
        the worker knows from the partitions' end offsets) has reached their time. A topic
        that is caught up holds nothing back, which is what makes sparse topics (oper-status
        changes, BGP transitions) safe: with nothing unread, nothing of theirs can come late.
        """
        covered = self.covered
        reached: dict[str, int] = {}
        topic_ts = self.topic_ts
        for tp, offset, record in items:
            if offset <= covered.get(tp, -1):
                self.skipped += 1
                continue
            if offset > reached.get(tp, -1):
                reached[tp] = offset
            topic = tp.rpartition(":")[0]
            if record.ts > topic_ts.get(topic, float("-inf")):
                topic_ts[topic] = record.ts
            self._hold(record)
        covered.update(reached)
        findings: list[Finding] = []
        horizon = min((topic_ts.get(topic, float("-inf")) for topic in lagging), default=float("inf"))
        pending = self._pending
        while pending and (pending[0][0] <= horizon or len(pending) > MAX_PENDING):
            findings.extend(self.detectors.feed(heapq.heappop(pending)[2]))
        return with_fabric(findings, self.fabric)

    def snapshot(self) -> bytes:
        held = [record for _, _, record in sorted(self._pending)]
        return msgspec.msgpack.encode(_State(STATE_VERSION, self.fabric, self.covered, self.detectors.snapshot(),
                                             self.topic_ts, held))

    @classmethod
    def restore(cls, fabric: str, inventory: Inventory, config: DetectorsConfig | None, data: bytes) -> "FabricDetection":
        try:
            state = msgspec.msgpack.decode(data, type=_State)
        except msgspec.DecodeError as error:
            raise CheckpointError(f"checkpoint of fabric {fabric!r} is not readable: {error}") from None
        if state.version != STATE_VERSION:
            raise CheckpointError(f"checkpoint of fabric {fabric!r} has state version {state.version}, this build reads {STATE_VERSION}")
        if state.fabric != fabric:
            raise CheckpointError(f"checkpoint stored under fabric {fabric!r} belongs to {state.fabric!r}")
        return cls(fabric, inventory, config, detectors=restore_detectors(inventory, config, state.detectors),
                   covered=state.covered, topic_ts=state.topic_ts, pending=state.pending)

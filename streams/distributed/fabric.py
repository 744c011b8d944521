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

from typing import Sequence

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas import Finding, Record
from planewatch.schemas.records import with_fabric
from planewatch.streams.config import DetectorsConfig
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.registry import default_detectors, restore_detectors

STATE_VERSION = 1


class _State(msgspec.Struct):
    version: int
    fabric: str
    covered: dict[str, int]
    detectors: dict[str, bytes]


class CheckpointError(ValueError):
    """A saved checkpoint cannot be used (other version, other fabric, corrupt)."""


class FabricDetection:
    """Detectors for one fabric, fed from (topic, partition, offset)-addressed records."""

    def __init__(self, fabric: str, inventory: Inventory, config: DetectorsConfig | None = None, *,
                 detectors: DetectorSet | None = None, covered: dict[str, int] | None = None):
        self.fabric = fabric
        self.inventory = inventory
        self.config = config
        self.detectors = detectors if detectors is not None else default_detectors(inventory, config)
        self.covered: dict[str, int] = dict(covered or {})
        self.skipped = 0
        """Records not fed because the restored state already reflects them."""

    def feed(self, items: Sequence[tuple[str, int, Record]]) -> list[Finding]:
        """Feed ``(topic-partition, offset, record)`` items in order; return the findings, fabric-stamped."""
        findings: list[Finding] = []
        covered = self.covered
        for tp, offset, record in items:
            if offset <= covered.get(tp, -1):
                self.skipped += 1
                continue
            covered[tp] = offset
            findings.extend(self.detectors.feed(record))
        return with_fabric(findings, self.fabric)

    def snapshot(self) -> bytes:
        return msgspec.msgpack.encode(_State(STATE_VERSION, self.fabric, self.covered, self.detectors.snapshot()))

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
        return cls(fabric, inventory, config, detectors=restore_detectors(inventory, config, state.detectors), covered=state.covered)

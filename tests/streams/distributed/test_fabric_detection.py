"""A fabric's detection survives a checkpoint/restore and ignores replayed input it already covers."""

from __future__ import annotations

import pytest

from planewatch.schemas import Finding, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.distributed.fabric import CheckpointError, FabricDetection

START = 1_790_000_000.0
TOPIC = "planewatch.any.v1:0"


def scenario_records() -> tuple[object, list[Record]]:
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=8)
    fault = Fault.create("plane-down", plane=2, at=60, duration=120, inventory=inventory)
    simulator = Simulator(inventory, faults=[fault], start_ts=START)
    records: list[Record] = []
    while simulator.now < START + 300:
        records.extend(simulator.step())
    return inventory, records


def addressed(records: list[Record]) -> list[tuple[str, int, Record]]:
    return [(TOPIC, offset, record) for offset, record in enumerate(records)]


def keyed(findings: list[Finding]) -> list[tuple[str, int, str, str, float]]:
    return [(f.kind, f.plane, f.subject, f.status, f.ts) for f in findings]


def test_restored_detection_continues_and_skips_what_it_covers() -> None:
    inventory, records = scenario_records()
    items = addressed(records)
    straight = FabricDetection("pod-a", inventory).feed(items)
    assert any(f.kind == "plane_failure" and f.status == "firing" for f in straight)

    half = len(items) // 2
    first = FabricDetection("pod-a", inventory)
    before = first.feed(items[:half])
    saved = first.snapshot()
    restored = FabricDetection.restore("pod-a", inventory, None, saved)
    # a crash after the checkpoint but before the commit replays the last 1000 covered records
    after = restored.feed(items[half - 1000:])
    assert restored.skipped == 1000
    assert keyed(before + after) == keyed(straight)
    assert all(f.fabric == "pod-a" for f in before + after)


def test_checkpoint_of_another_fabric_is_refused() -> None:
    inventory, records = scenario_records()
    detection = FabricDetection("pod-a", inventory)
    detection.feed(addressed(records[:100]))
    with pytest.raises(CheckpointError, match="belongs to 'pod-a'"):
        FabricDetection.restore("pod-b", inventory, None, detection.snapshot())
    with pytest.raises(CheckpointError, match="not readable"):
        FabricDetection.restore("pod-a", inventory, None, b"\x00garbage")


def test_topics_fetched_one_after_another_give_the_interleaved_result() -> None:
    """After a restart Kafka may hand over minutes of one topic before the next; the merge undoes that."""
    inventory, records = scenario_records()
    addressed = [(f"{type(r).__name__}:0", offset, r) for offset, r in enumerate(records)]
    interleaved = FabricDetection("pod-a", inventory).feed(addressed)
    warm = len(records) // 8  # the worker has seen every topic before (its restored state knows them)
    detection = FabricDetection("pod-a", inventory)
    fetched: list[Finding] = detection.feed(addressed[:warm])
    by_topic: dict[str, list[tuple[str, int, Record]]] = {}
    for item in addressed[warm:]:
        by_topic.setdefault(item[0], []).append(item)
    unread = {topic: len(items) for topic, items in by_topic.items()}
    for topic, topic_items in sorted(by_topic.items(), key=lambda item: -len(item[1])):  # the biggest topic first
        for start in range(0, len(topic_items), 2000):
            chunk = topic_items[start:start + 2000]
            unread[topic] -= len(chunk)
            fetched += detection.feed(chunk, lagging=[t.rpartition(":")[0] for t, n in unread.items() if n])
    assert [(f.kind, f.plane, f.status) for f in fetched] == [(f.kind, f.plane, f.status) for f in interleaved]
    assert [(f.kind, f.plane, f.status) for f in fetched] == [("plane_failure", 2, "firing"), ("plane_failure", 2, "resolved")]
    assert detection.pending == 0  # everything read: nothing held back

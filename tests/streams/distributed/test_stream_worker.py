"""The stream worker's batch logic with stand-ins for Faust's events and for the store.

The real Faust/Kafka/ClickHouse path is in test_stream_e2e.py; this aims at one case those
tests cannot arrange cheaply: two fabrics sharing a partition, one of which never sends
a record type the other does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from planewatch.schemas import INVENTORY_RECORDS, Record
from planewatch.schemas.topics import RECORD_TOPICS, encode_record, key_for
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.distributed.app import StreamSettings, StreamWorker

START = 1_790_000_000.0


def plane_down(seed: int) -> tuple[Any, list[Record]]:
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=8, seed=seed)
    fault = Fault.create("plane-down", plane=2, at=60, duration=120, inventory=inventory)
    simulator = Simulator(inventory, faults=[fault], start_ts=START, seed=seed)
    records: list[Record] = []
    while simulator.now < START + 300:
        records.extend(simulator.step())
    return inventory, records


class StandInMessage:
    def __init__(self, topic: str, offset: int):
        self.topic, self.partition, self.offset = topic, 0, offset

    def incref(self) -> None:
        pass


class StandInEvent:
    def __init__(self, topic: str, offset: int, fabric: str, record: Record):
        self.message, self.key, self.value = StandInMessage(topic, offset), key_for(fabric), encode_record(record)


class StandInStream:
    async def ack(self, event: Any) -> None:
        pass


class CountingStore:
    """Counts the record and finding rows written; the inventory rows a worker writes on taking a fabric apart."""

    def __init__(self) -> None:
        self.rows = 0
        self.inventory_rows = 0

    def write(self, records: list[Record]) -> int:
        inventory = sum(1 for r in records if isinstance(r, INVENTORY_RECORDS))
        self.inventory_rows += inventory
        self.rows += len(records) - inventory
        return len(records)


class EmptyStateTable:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def send_changelog(self, *args: Any, **kwargs: Any) -> None:
        pass


class FindingsTopic:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append(value)


def test_a_fabric_is_not_held_back_by_a_record_type_only_its_partition_neighbour_sends() -> None:
    watched, watched_records = plane_down(seed=1)
    watched_records = [r for r in watched_records if type(r).__name__ != "FdbChange"]  # e.g. no FDB over gNMI
    neighbour, neighbour_records = plane_down(seed=2)
    ends: dict[str, int] = {}
    log = []
    for inventory, records in ((neighbour, neighbour_records), (watched, watched_records)):
        for record in records:
            topic = RECORD_TOPICS[type(record)]
            log.append(StandInEvent(topic, ends.get(topic, 0), inventory.fabric, record))
            ends[topic] = ends.get(topic, 0) + 1
    store = CountingStore()
    settings = StreamSettings(kafka=None, open_store=lambda: store, inventories={watched.fabric: watched},  # type: ignore[arg-type]
                              partitions=1, workdir=Path("."), checkpoint_every=1e9)
    worker = StreamWorker(settings, state_table=EmptyStateTable(), findings_topic=FindingsTopic(),
                          highwater=lambda topic, partition: ends.get(topic))

    async def consume() -> None:
        for start in range(0, len(log), 2000):
            await worker.process(StandInStream(), log[start:start + 2000])

    asyncio.run(consume())
    detection = worker.fabrics[watched.fabric]
    assert detection.pending == 0, "everything was read, so nothing may be held back"
    assert worker.stats.findings == 2  # plane 2 firing and resolved, for the watched fabric only
    assert store.rows == sum(1 for r in neighbour_records + watched_records if type(r).TABLE) + 2
    assert store.inventory_rows > 0, "the worker wrote the inventory of the fabric it took on"

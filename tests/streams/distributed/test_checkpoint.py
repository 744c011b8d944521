"""Checkpoints larger than a Kafka message survive as chunks, and a half-written one never wins."""

from __future__ import annotations

import os
from typing import Any

import pytest

from planewatch.streams.distributed import checkpoint


class RecordingTable:
    """Our ChangelogTable protocol over a dict, recording what a Faust table would send to its changelog.

    The real Faust table is exercised by the stream worker's crash tests; this checks the
    chunk bookkeeping, including a worker dying between chunks, which those cannot aim at.
    """

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.sent: list[tuple[int | None, bytes, bytes | None]] = []

    def send_changelog(self, partition: int | None, key: Any, value: Any, key_serializer: Any = None,
                       value_serializer: Any = None) -> None:
        self.sent.append((partition, key, value))


def test_large_state_round_trips_in_chunks_below_the_message_limit() -> None:
    table = RecordingTable()
    state = os.urandom(3 * checkpoint.CHUNK_BYTES + 17)
    assert checkpoint.save(table, 3, "pod-a", state) == 4
    assert checkpoint.load(table, "pod-a") == state
    assert all(partition == 3 for partition, _, _ in table.sent)
    assert max(len(value) for _, _, value in table.sent if value) <= checkpoint.CHUNK_BYTES
    assert checkpoint.load(table, "pod-b") is None


def test_a_new_checkpoint_replaces_and_deletes_the_old_chunks() -> None:
    table = RecordingTable()
    checkpoint.save(table, 0, "pod-a", b"x" * (2 * checkpoint.CHUNK_BYTES))
    checkpoint.save(table, 0, "pod-a", b"small")
    assert checkpoint.load(table, "pod-a") == b"small"
    assert len(table.data) == 2  # the header and one chunk: superseded chunks are gone ...
    tombstones = [key for _, key, value in table.sent if value is None]
    assert len(tombstones) == 2  # ... and deleted in the changelog too, so compaction drops them


def test_a_checkpoint_interrupted_between_chunks_leaves_the_previous_one() -> None:
    table = RecordingTable()
    checkpoint.save(table, 0, "pod-a", b"first")

    class Crash(Exception):
        pass

    original = table.send_changelog

    def dying(partition: Any, key: Any, value: Any, **kwargs: Any) -> None:
        if b"header" in key:
            raise Crash
        original(partition, key, value, **kwargs)

    table.send_changelog = dying  # type: ignore[method-assign]
    with pytest.raises(Crash):
        checkpoint.save(table, 0, "pod-a", b"second" * 300_000)
    table.send_changelog = original  # type: ignore[method-assign]
    # the header write raised after updating local data; a restarted worker only has the changelog
    replayed = RecordingTable()
    for _, key, value in table.sent:
        if value is None:
            replayed.data.pop(key, None)
        else:
            replayed.data[key] = value
    assert checkpoint.load(replayed, "pod-a") == b"first"


def test_a_corrupt_chunk_is_reported() -> None:
    table = RecordingTable()
    checkpoint.save(table, 0, "pod-a", b"state" * 10)
    chunk_key = next(key for key in table.data if b"header" not in key)
    table.data[chunk_key] = b"tampered"
    with pytest.raises(checkpoint.CorruptCheckpoint, match="digest"):
        checkpoint.load(table, "pod-a")

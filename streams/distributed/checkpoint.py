"""Detector state in a Faust table, split into chunks that fit Kafka's message limit.

A 20,000-server fabric's detector state is tens of MB, far above Kafka's default 1 MB
message size, so a checkpoint is written as numbered chunks under a fresh *generation*
and a small header naming that generation is written last. A worker that dies half-way
through a checkpoint leaves the previous header pointing at the previous, complete
generation; chunks of superseded generations are deleted (tombstones, which compaction
removes). Every key of one fabric goes to the partition its records use, so the table
moves with the input partition on a rebalance and is restored from its changelog.
"""

from __future__ import annotations

import hashlib
from typing import Any, MutableMapping, Protocol

import msgspec

CHUNK_BYTES = 512 * 1024
"""Half of Kafka's default ``max.message.bytes``: room for the key and headers."""


class ChangelogTable(Protocol):
    """What this module needs of a Faust table: its local data and its changelog."""

    data: MutableMapping[Any, Any]

    def send_changelog(self, partition: int | None, key: Any, value: Any,
                       key_serializer: Any = None, value_serializer: Any = None) -> Any: ...


class _Header(msgspec.Struct):
    generation: int
    chunks: int
    size: int
    sha256: str


class CorruptCheckpoint(ValueError):
    """The table holds a header whose chunks are missing or do not match its digest."""


def _header_key(fabric: str) -> bytes:
    return f"{fabric}\x00header".encode()


def _chunk_key(fabric: str, generation: int, index: int) -> bytes:
    return f"{fabric}\x00{generation}\x00{index}".encode()


def _set(table: ChangelogTable, partition: int, key: bytes, value: bytes | None) -> None:
    if value is None:
        table.data.pop(key, None)
    else:
        table.data[key] = value
    table.send_changelog(partition, key, value, key_serializer="raw", value_serializer="raw")


def _header(table: ChangelogTable, fabric: str) -> _Header | None:
    raw = table.data.get(_header_key(fabric))
    return msgspec.msgpack.decode(raw, type=_Header) if raw else None


def save(table: ChangelogTable, partition: int, fabric: str, state: bytes) -> int:
    """Write ``state`` as the fabric's checkpoint on ``partition``; return the number of chunks."""
    previous = _header(table, fabric)
    generation = previous.generation + 1 if previous else 1
    chunks = max(1, -(-len(state) // CHUNK_BYTES))
    for index in range(chunks):
        _set(table, partition, _chunk_key(fabric, generation, index), state[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES])
    header = _Header(generation, chunks, len(state), hashlib.sha256(state).hexdigest())
    _set(table, partition, _header_key(fabric), msgspec.msgpack.encode(header))
    if previous:
        for index in range(previous.chunks):
            _set(table, partition, _chunk_key(fabric, previous.generation, index), None)
    return chunks


def load(table: ChangelogTable, fabric: str) -> bytes | None:
    """The fabric's last complete checkpoint, or ``None`` if it has none."""
    header = _header(table, fabric)
    if header is None:
        return None
    parts = [table.data.get(_chunk_key(fabric, header.generation, i)) for i in range(header.chunks)]
    missing = [i for i, part in enumerate(parts) if part is None]
    if missing:
        raise CorruptCheckpoint(f"checkpoint {header.generation} of fabric {fabric!r} lacks chunks {missing}")
    state = b"".join(parts)  # type: ignore[arg-type]
    if len(state) != header.size or hashlib.sha256(state).hexdigest() != header.sha256:
        raise CorruptCheckpoint(f"checkpoint {header.generation} of fabric {fabric!r} does not match its digest")
    return state

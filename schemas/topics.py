"""Kafka topics, keys and message encoding: the distributed mode's wire contract.

One topic per record type, named ``planewatch.<record tag>.v<VERSION>``: a record whose
layout changes incompatibly gets a new version and so a new topic, and old and new
producers never mix on one topic. Findings travel on ``planewatch.finding.v1``, the
alerts topic that pagers and other consumers read.

**Partitioning.** Every message is keyed by the *fabric* (the inventory's ``fabric``
name, one pod). Detectors judge a plane against its sibling planes (a plane failure is
"sessions down here while the same servers are alive on the other planes", imbalance is
"this plane's share against 1/N"), so the unit that must meet in one place is the
fabric, not the plane. With one key per fabric, every record type of a fabric lands on
the *same partition number* of each topic (Kafka's default murmur2 partitioner, all
topics created with the same partition count), and Faust assigns the same partition
number of co-partitioned topics to one worker: that worker sees the whole fabric, in
order per record type. Workers scale out by fabric; a fabric of 20,000 servers is well
within one worker (``planewatch bench detectors``).

Values are MessagePack (msgspec, tagged by the ``record`` field), the same structs the
embedded bus carries, so a consumer can decode any topic with :func:`decode_record`.
"""

from __future__ import annotations

import dataclasses
from typing import Union

import msgspec

from planewatch.schemas.records import ALL_RECORDS, Finding, Record, Watermark

PREFIX = "planewatch"


def topic_for(record_cls: type[Record]) -> str:
    """The topic a record type travels on, e.g. ``planewatch.port_counters.v1``."""
    tag = record_cls.__struct_config__.tag
    return f"{PREFIX}.{tag}.v{record_cls.VERSION}"


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    """A topic ``planewatch init`` creates: its name and how long Kafka keeps it."""

    name: str
    retention_ms: int
    compacted: bool = False


RECORD_TOPICS: dict[type[Record], str] = {cls: topic_for(cls) for cls in ALL_RECORDS}
FINDINGS_TOPIC = RECORD_TOPICS[Finding]
WATERMARK_TOPIC = RECORD_TOPICS[Watermark]
INPUT_TOPICS: tuple[str, ...] = tuple(name for cls, name in RECORD_TOPICS.items() if cls is not Finding)
"""What the stream workers consume: everything collectors publish (findings are their output)."""

APP_ID = "planewatch"
"""Default Faust application id: the stream workers' consumer group and the prefix of their
internal topics. Two independent pipelines reading the same topics use two ids."""
STATE_TABLE = "detector-state"


def state_changelog_topic(app_id: str = APP_ID) -> str:
    """Where the workers of ``app_id`` checkpoint detector state (compacted; one partition per input partition)."""
    return f"{app_id}-{STATE_TABLE}-changelog"

_DAY_MS = 24 * 3600 * 1000


def topic_specs(retention_hours: float = 24.0) -> list[TopicSpec]:
    """Every record topic; findings are kept 30 days (pagers and late consumers replay them)."""
    specs = [TopicSpec(name, int(retention_hours * 3600 * 1000)) for cls, name in RECORD_TOPICS.items() if cls is not Finding]
    specs.append(TopicSpec(FINDINGS_TOPIC, 30 * _DAY_MS))
    return specs


def key_for(fabric: str) -> bytes:
    """The message key of everything one fabric publishes (see the module's note on partitioning)."""
    if not fabric:
        raise ValueError("a fabric name is needed to key its records (the inventory's 'fabric')")
    return fabric.encode("utf-8")


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Union[tuple(ALL_RECORDS)])  # type: ignore[valid-type]


def encode_record(record: Record) -> bytes:
    """A record as a Kafka message value."""
    return _encoder.encode(record)


def decode_record(value: bytes) -> Record:
    """A Kafka message value back into its record; raises ``msgspec.DecodeError`` on garbage."""
    return _decoder.decode(value)  # type: ignore[no-any-return]

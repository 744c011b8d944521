"""``planewatch init``'s Kafka half: create the topics planewatch needs, idempotently.

Every record topic, the findings topic and the workers' state changelog get the same
partition count, because records of one fabric must sit on the same partition number of
every topic (see :mod:`planewatch.schemas.topics`) and Faust requires a table's
changelog to have as many partitions as its source topics. An existing topic with a
different partition count is reported, never changed: adding partitions would move
fabrics to other partitions and split their history between workers.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from planewatch.kafka.settings import KafkaSettings
from planewatch.schemas.topics import APP_ID, TopicSpec, state_changelog_topic, topic_specs


class TopicLayoutError(RuntimeError):
    """Existing topics do not have the layout planewatch needs; the message says which and how to fix it."""


@dataclasses.dataclass(frozen=True)
class TopicPlan:
    """One topic as ``planewatch init`` wants it."""

    name: str
    configs: dict[str, str]


def planned_topics(retention_hours: float = 24.0, app_id: str = APP_ID) -> list[TopicPlan]:
    """Record and findings topics (time retention) and the state changelog (compacted)."""
    plans = [TopicPlan(spec.name, _configs(spec)) for spec in topic_specs(retention_hours)]
    plans.append(TopicPlan(state_changelog_topic(app_id), {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}))
    return plans


def _configs(spec: TopicSpec) -> dict[str, str]:
    if spec.compacted:
        return {"cleanup.policy": "compact"}
    return {"cleanup.policy": "delete", "retention.ms": str(spec.retention_ms)}


def ensure_topics(settings: KafkaSettings, *, partitions: int, replication_factor: int,
                  retention_hours: float = 24.0, app_id: str = APP_ID, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics and set drifted configs; return what was done (empty: nothing needed)."""
    if partitions < 1:
        raise ValueError("--partitions must be at least 1")
    plans = planned_topics(retention_hours, app_id)
    admin = KafkaAdminClient(**settings.client_config(), request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        actions: list[str] = []
        missing = [p for p in plans if p.name not in existing]
        if missing:
            result = admin.create_topics(
                [NewTopic(p.name, partitions, replication_factor, topic_configs=p.configs) for p in missing],
                raise_errors=False,
            )
            for topic in result["topics"]:
                if topic["error_code"] not in (0, 36):  # 36: created meanwhile by another init
                    raise TopicLayoutError(f"cannot create topic {topic['name']}: {topic['error_message']}")
                actions.append(f"created topic {topic['name']} ({partitions} partitions, replication {replication_factor})")
        present = [p for p in plans if p.name in existing]
        if present:
            _check_partitions(admin, present, partitions)
            actions.extend(_align_configs(admin, present))
        return actions
    finally:
        admin.close()


def _check_partitions(admin: KafkaAdminClient, plans: list[TopicPlan], partitions: int) -> None:
    wrong = []
    for topic in admin.describe_topics([p.name for p in plans]):
        have = len(topic["partitions"])
        if have != partitions:
            wrong.append(f"{topic['name']} has {have}")
    if wrong:
        raise TopicLayoutError(
            f"existing topics do not have {partitions} partitions: {'; '.join(wrong)}. "
            "planewatch does not change partition counts (that would move fabrics between partitions); "
            "run init with the --partitions the topics were created with, or recreate the topics")


def _align_configs(admin: KafkaAdminClient, plans: list[TopicPlan]) -> list[str]:
    described: dict[str, Any] = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, p.name) for p in plans])["topic"]
    actions = []
    for plan in plans:
        current = {key: entry["value"] for key, entry in described.get(plan.name, {}).items()}
        drift = {key: value for key, value in plan.configs.items() if current.get(key, _DEFAULTS.get(key)) != value}
        if drift:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, plan.name, configs=drift)], incremental=True)
            actions.append(f"set {', '.join(f'{k}={v}' for k, v in sorted(drift.items()))} on topic {plan.name}")
    return actions


_DEFAULTS = {"cleanup.policy": "delete"}
"""Broker defaults that ``describe_configs(modified)`` does not list."""


def input_partitions(settings: KafkaSettings, app_id: str = APP_ID, timeout_s: float = 30.0) -> int:
    """The partition count the stream workers must use: that of the input topics (all equal after init)."""
    from planewatch.schemas.topics import INPUT_TOPICS

    admin = KafkaAdminClient(**settings.client_config(), request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        needed = [*INPUT_TOPICS, state_changelog_topic(app_id)]
        missing = [name for name in needed if name not in existing]
        if missing:
            raise TopicLayoutError(f"topics missing on {settings.target}: {', '.join(missing)}; run 'planewatch init' first (with the same --app-id)")
        counts = {topic["name"]: len(topic["partitions"]) for topic in admin.describe_topics(needed)}
    finally:
        admin.close()
    if len(set(counts.values())) != 1:
        raise TopicLayoutError(f"input topics have different partition counts ({counts}); recreate them with planewatch init")
    return next(iter(counts.values()))


def group_input_partitions(admin: KafkaAdminClient, group: str) -> list[set[int]] | None:
    """The input partitions each member of consumer ``group`` owns, when the group is Stable; else None.

    How stream workers split the fabrics between them (``bench stream`` and the two-worker
    test both ask). kafka-python decodes a member's assignment only for its own assignors,
    so Faust's arrives as bytes, parsed here with Kafka's ConsumerProtocol layout.
    """
    from planewatch.schemas.topics import INPUT_TOPICS

    try:
        described = admin.describe_groups([group])
    except Exception:  # noqa: BLE001 - no coordinator for the group yet
        return None
    info = described.get(group) if isinstance(described, dict) else None
    if not info or info.get("group_state", info.get("state")) != "Stable" or not info.get("members"):
        return None
    owned: list[set[int]] = []
    for member in info["members"]:
        parts: set[int] = set()
        for topic, numbers in _assigned_partitions(member.get("member_assignment")):
            if topic in INPUT_TOPICS:
                parts.update(numbers)
        owned.append(parts)
    return owned


def _assigned_partitions(assignment: Any) -> list[tuple[str, list[int]]]:
    """(topic, partitions) pairs of a described member's assignment, whatever shape kafka-python gives it."""
    if assignment is None:
        return []
    if isinstance(assignment, (bytes, bytearray)):
        data, at = bytes(assignment), 2  # int16 version
        (count,) = struct.unpack_from(">i", data, at)
        at += 4
        decoded = []
        for _ in range(count):
            (length,) = struct.unpack_from(">h", data, at)
            topic = data[at + 2:at + 2 + length].decode()
            at += 2 + length
            (n,) = struct.unpack_from(">i", data, at)
            decoded.append((topic, list(struct.unpack_from(f">{n}i", data, at + 4))))
            at += 4 + 4 * n
        return decoded
    if isinstance(assignment, dict):
        pairs = assignment.get("assigned_partitions") or assignment.get("assignment") or []
    else:
        pairs = getattr(assignment, "assigned_partitions", None) or getattr(assignment, "assignment", None) or []
    result = []
    for pair in pairs:
        if isinstance(pair, dict):
            result.append((pair.get("topic"), list(pair.get("partitions", []))))
        elif hasattr(pair, "topic"):
            result.append((pair.topic, list(pair.partitions)))
        else:
            result.append((pair[0], list(pair[1])))
    return result

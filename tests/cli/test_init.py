"""``planewatch init`` against a real Kafka broker and ClickHouse server: creates, then changes nothing.

Also ``planewatch stream``'s refusal to start before init: it names the command to run.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from planewatch.schemas.topics import FINDINGS_TOPIC, state_changelog_topic
from planewatch.simulator import build_fabric
from services.clickhouse import ClickHouseServer
from services.kafka import KafkaBroker
from services.pipeline import clickhouse_env, existing_partitions

THIRTY_DAYS_MS = str(30 * 24 * 3600 * 1000)


def planewatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planewatch", *args], capture_output=True, text=True, timeout=120, env=env)


def test_init_twice_changes_nothing_the_second_time(kafka_broker: KafkaBroker, clickhouse_server: ClickHouseServer,
                                                    tmp_path: Path) -> None:
    env = clickhouse_env(clickhouse_server, tmp_path)
    partitions = existing_partitions(kafka_broker.bootstrap) or 4
    app_id, database = f"init-{uuid.uuid4().hex[:8]}", f"init_{uuid.uuid4().hex[:8]}"
    args = ["init", "--kafka", kafka_broker.bootstrap, "--clickhouse", f"{clickhouse_server.host}:{clickhouse_server.port}",
            "--partitions", str(partitions), "--app-id", app_id, "--database", database]

    first = planewatch(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert f"created topic {state_changelog_topic(app_id)}" in first.stdout
    assert f"created table {database}.findings" in first.stdout

    second = planewatch(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout and "set " not in second.stdout, second.stdout
    assert "topics are as planewatch needs them" in second.stdout and "schema is up to date" in second.stdout

    # Someone shortened the findings' retention by hand: init puts it back, and says so.
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, FINDINGS_TOPIC, configs={"retention.ms": "1000"})],
                            incremental=True)
        third = planewatch(*args, env=env)
        assert third.returncode == 0, third.stderr
        assert f"set retention.ms={THIRTY_DAYS_MS} on topic {FINDINGS_TOPIC}" in third.stdout
        config = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, FINDINGS_TOPIC)])["topic"][FINDINGS_TOPIC]
        assert config["retention.ms"]["value"] == THIRTY_DAYS_MS
        changelog = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, state_changelog_topic(app_id))])
        assert changelog["topic"][state_changelog_topic(app_id)]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()

    other_count = planewatch(*[a if a != str(partitions) else str(partitions + 1) for a in args], "--skip-clickhouse", env=env)
    assert other_count.returncode == 1
    assert f"do not have {partitions + 1} partitions" in other_count.stderr and "Traceback" not in other_count.stderr


def test_stream_before_init_says_to_run_init(kafka_broker: KafkaBroker, clickhouse_server: ClickHouseServer,
                                             tmp_path: Path) -> None:
    inventory = tmp_path / "fabric.yaml"
    inventory.write_text(yaml.safe_dump(build_fabric(planes=2, racks=1, servers_per_rack=1).document.model_dump(mode="json")))
    run = planewatch("stream", "--kafka", kafka_broker.bootstrap, "--clickhouse",
                     f"{clickhouse_server.host}:{clickhouse_server.port}", "-i", str(inventory),
                     "--app-id", f"never-initialised-{uuid.uuid4().hex[:6]}", "--workdir", str(tmp_path / "w"),
                     env=clickhouse_env(clickhouse_server, tmp_path))
    assert run.returncode == 1
    assert "run 'planewatch init' first" in run.stderr and "Traceback" not in run.stderr

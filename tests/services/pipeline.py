"""Environment for running planewatch's distributed commands against the test services."""

from __future__ import annotations

import os
from pathlib import Path

from planewatch.schemas.topics import INPUT_TOPICS
from services.clickhouse import ClickHouseServer


def clickhouse_env(server: ClickHouseServer, directory: Path) -> dict[str, str]:
    """The PLANEWATCH_CLICKHOUSE_* variables for the test user (password in a 0600 file)."""
    secret = directory / "clickhouse-password"
    if not secret.exists():
        secret.write_text(server.password)
        secret.chmod(0o600)
    return {**os.environ, "PLANEWATCH_CLICKHOUSE_USER": server.user, "PLANEWATCH_CLICKHOUSE_PASSWORD_FILE": str(secret)}


def existing_partitions(bootstrap: str) -> int | None:
    """Partitions of the input topics if another test already created them (init never changes that)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="planewatch-test-e2e", request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        present = [t for t in INPUT_TOPICS if t in existing]
        if not present:
            return None
        counts = {len(t["partitions"]) for t in admin.describe_topics(present)}
        assert len(counts) == 1, f"input topics with different partition counts: {counts}"
        return counts.pop()
    finally:
        admin.close()

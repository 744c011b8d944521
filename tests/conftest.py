"""Shared fixtures.

chdb opens one data directory per process (another path only after closing it), so
every in-process chdb test shares the session's ``chdb_path`` and isolates itself
with its own database; tests that need another directory run a subprocess.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planewatch.store.embedded import EmbeddedStore


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chdb data directory of this pytest process."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def chdb_store(chdb_path: Path) -> Iterator[EmbeddedStore]:
    """An open, migrated store in a database of its own (closed after the test)."""
    store = EmbeddedStore.open(chdb_path, database=f"test_{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        store.close()


from tooling import require_tool  # noqa: E402,F401  (re-exported for tests that take it from here)
# Real services, started once per pytest run on loopback and stopped by PID (tests/services/).
from services.clickhouse import clickhouse_database, clickhouse_server  # noqa: E402,F401
from services.kafka import kafka_broker  # noqa: E402,F401
from scenario_stores import plane_down_recording, plane_down_store  # noqa: E402,F401

"""Fixtures of the server-store tests: a real ClickHouse server and a store on a fresh database.

``clickhouse_server`` / ``clickhouse_database`` come from ``tests/services/clickhouse.py``
(exposed suite-wide by tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from planewatch.store.server import ServerStore
from services.clickhouse import ClickHouseServer

__all__ = ["open_store"]


def open_store(server: ClickHouseServer, database: str, **options: object) -> ServerStore:
    """A :class:`ServerStore` on ``server`` as the test user, with short timeouts."""
    options = {"connect_timeout": 2.0, "send_receive_timeout": 5.0, **options}
    return ServerStore.open(server.host, server.port, database, user=server.user, password=server.password,
                            **options)  # type: ignore[arg-type]


@pytest.fixture
def server_store(clickhouse_server: ClickHouseServer, clickhouse_database: str) -> Iterator[ServerStore]:
    """An open, migrated store on this test's own database of the session server."""
    store = open_store(clickhouse_server, clickhouse_database)
    try:
        store.migrate()
        yield store
    finally:
        store.close()

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


def require_tool(*commands: str) -> None:
    """Skip on a developer machine without these commands; **fail** in CI, where ``make test`` installs them.

    A skipped protocol test must never pass for a proven one in CI.
    """
    import os
    import shutil

    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (installed by 'make test' through scripts/deps/)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)

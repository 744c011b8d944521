"""Stores loaded with simulator scenarios, shared by the dashboard, forensics and report tests.

chdb keeps one data directory per process and one open store per directory, so each
scenario is recorded once per session into its own database of ``chdb_path`` and each
test opens that database for itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from planewatch.simulator import Fault, build_fabric
from planewatch.simulator.recording import Recording, record_scenario
from planewatch.store.embedded import EmbeddedStore

PLANE_DOWN_DB = "scenario_plane_down"
PLANE_DOWN = Fault("plane-down", at=60, duration=120, plane=2)
"""Plane 2 of 4 fails 60 s in and comes back 120 s later; 300 s are recorded."""


@pytest.fixture(scope="session")
def plane_down_recording(chdb_path: Path) -> Recording:
    """The plane-down scenario (4 planes x 4 racks x 8 servers), recorded once per session."""
    inventory = build_fabric(planes=4, racks=4, servers_per_rack=8)
    with EmbeddedStore.open(chdb_path, database=PLANE_DOWN_DB) as store:
        return record_scenario(store, inventory, [PLANE_DOWN], duration=300)


@pytest.fixture
def plane_down_store(chdb_path: Path, plane_down_recording: Recording) -> Iterator[EmbeddedStore]:
    """The recorded plane-down scenario, open for this test (read it, do not write to it)."""
    with EmbeddedStore.open(chdb_path, database=PLANE_DOWN_DB) as store:
        yield store

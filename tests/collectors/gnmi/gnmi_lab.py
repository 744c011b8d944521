"""Shared helpers of the gNMI tests: a small fabric, per-switch gNMI settings, a running collector."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Iterable, Mapping

from planewatch.collectors.gnmi import GnmiCollector
from planewatch.inventory import GnmiTarget, Inventory
from planewatch.schemas.records import FdbSnapshot, InterfaceStatus, PortCounters, Record
from planewatch.simulator import Simulator, build_fabric

from tooling import require_tool  # noqa: E402

START = 1_700_000_000.0
SAMPLE = 0.2
"""Sample interval of the tests (seconds of the clock in use)."""
SERVED = (PortCounters, InterfaceStatus, FdbSnapshot)


def small_fabric() -> Inventory:
    """2 planes x (2 ToRs + 1 spine) = 6 switches, 8 servers."""
    return build_fabric(planes=2, racks=2, servers_per_rack=4, route_reflectors_per_plane=1, spines_per_plane=1)


def with_gnmi(inventory: Inventory, settings: Mapping[str, GnmiTarget] | GnmiTarget) -> Inventory:
    """The same inventory with other gNMI settings for some (a mapping) or all switches."""
    def pick(name: str, current: GnmiTarget) -> GnmiTarget:
        if isinstance(settings, GnmiTarget):
            return settings
        return settings.get(name, current)

    switches = [s.model_copy(update={"gnmi": pick(s.name, s.gnmi)}) for s in inventory.document.switches]
    return Inventory(inventory.document.model_copy(update={"switches": switches}))


def simulator(inventory: Inventory) -> Simulator:
    return Simulator(inventory, start_ts=START, tick=1.0, counter_interval=1.0, fdb_interval=2.0)


def served(records: Iterable[Record], devices: Iterable[str] | None = None) -> list[Record]:
    """The records a gNMI target serves (the latest per port / table within one step)."""
    wanted = None if devices is None else set(devices)
    latest: dict[tuple, Record] = {}
    for r in records:
        if isinstance(r, SERVED) and (wanted is None or r.device in wanted):
            key = (type(r).__name__, r.device, getattr(r, "port", None))
            latest[key] = r
    return list(latest.values())


@asynccontextmanager
async def running(collector: GnmiCollector) -> AsyncIterator[list[Record]]:
    """Run ``collector`` while the block runs; yields the list its records are published to."""
    records: list[Record] = []
    stop = asyncio.Event()

    async def publish(batch):
        records.extend(batch)

    task = asyncio.create_task(collector.run(publish, stop))
    try:
        yield records
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait (real time) until ``predicate()``; returns the seconds it took, fails with ``what``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def contains_all(haystack: list[Record], needles: Iterable[Record]) -> bool:
    return all(n in haystack for n in needles)

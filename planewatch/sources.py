"""Record sources for the in-process pipeline: the paced simulator, and the watermark heartbeat.

``simulated_source`` paces the simulator: at ``speed`` 1 one simulated second takes one
real second; at 20 the clock runs twenty times faster; ``speed=None`` runs flat out
(scenario tests, evaluation). Pacing follows a fixed schedule from the start, so a slow
step is caught up rather than accumulating drift.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

from planewatch.clock import Clock, wait_or_stop
from planewatch.collectors import Publish
from planewatch.schemas import Record, Watermark
from planewatch.simulator import Simulator


async def simulated_source(
    simulator: Simulator, stop: asyncio.Event, *, duration: float | None, speed: float | None
) -> AsyncIterator[list[Record]]:
    """Yield the simulator's records one tick at a time until ``duration`` simulated seconds or ``stop``."""
    sim_start = simulator.now
    wall_start = time.monotonic()
    while not stop.is_set():
        if duration is not None and simulator.now - sim_start >= duration:
            return
        batch = await asyncio.to_thread(simulator.step)
        yield batch
        if speed is None:
            await asyncio.sleep(0)
            continue
        due = wall_start + (simulator.now - sim_start) / speed
        await wait_or_stop(stop, due - time.monotonic())


async def heartbeat(publish: Publish, stop: asyncio.Event, *, clock: Clock, every: float = 5.0,
                    lateness: float = 10.0) -> None:
    """Publish a :class:`Watermark` every ``every`` clock-seconds: event time has reached now minus ``lateness``.

    Collectors deliver in bursts and some devices go quiet when they fail; the watermark
    lets detectors notice silence and close their windows without waiting for data.
    ``lateness`` bounds how late a collector's records may arrive and still be on time.
    """
    while not await wait_or_stop(stop, clock.real_seconds(every)):
        await publish([Watermark(ts=clock.now() - lateness, plane=0)])

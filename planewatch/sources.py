"""Record sources for the in-process pipeline.

``simulated_source`` paces the simulator: at ``speed`` 1 one simulated second takes one
real second; at 20 the clock runs twenty times faster; ``speed=None`` runs flat out
(scenario tests, evaluation). Pacing follows a fixed schedule from the start, so a slow
step is caught up rather than accumulating drift.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

from planewatch.schemas import Record
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
        delay = due - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

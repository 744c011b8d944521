"""Clocks: where collectors and the simulator get "now" and how they wait.

Collectors stamp what a protocol does not (sFlow datagrams carry no wall time) and
schedule their polls with a clock they are given, never with ``time.time()`` directly.
In production that is :class:`WallClock`. When the simulator runs faster than real time,
collectors and simulator share one :class:`ScaledClock`, so a 5 s BIRD poll interval is
5 *simulated* seconds and every record's event time lines up with the simulation.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time, epoch seconds (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def real_seconds(self, seconds: float) -> float:
        """How many real seconds ``seconds`` of this clock's time take."""
        ...


class WallClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def real_seconds(self, seconds: float) -> float:
        return seconds


class ScaledClock:
    """Simulated time that starts at ``start`` and runs ``speed`` times faster than real time.

    ``origin`` is the ``time.monotonic()`` reading at which simulated time was ``start``.
    CLOCK_MONOTONIC is one clock for every process on a host, so a simulator process and
    the collectors' process built with the same three numbers agree on "now".
    """

    def __init__(self, start: float, speed: float, origin: float | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.origin = time.monotonic() if origin is None else origin

    def now(self) -> float:
        return self.start + (time.monotonic() - self.origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.speed


async def wait_or_stop(stop: asyncio.Event, real_seconds: float) -> bool:
    """Wait up to ``real_seconds`` (not at all if <= 0), returning early when ``stop`` is set; True if it was."""
    if real_seconds > 0 and not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=real_seconds)
        except asyncio.TimeoutError:
            pass
    return stop.is_set()

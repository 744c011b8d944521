"""Collectors: speak gNMI, sFlow v5 and BIRD's control socket; publish typed records.

Every collector follows one contract (:class:`Collector`): it is built from its
configuration and the inventory, ``run(publish, stop)`` until ``stop`` is set, and
``status()`` reports per-target health (connected, last update, reconnects, drops) for
``planewatch up``'s status view. Collectors never detect anything and never raise out of
``run`` because one device misbehaves: they count, report and carry on.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Protocol, Sequence

from planewatch.schemas import Record

Publish = Callable[[Sequence[Record]], Awaitable[None]]
"""Where a collector hands its records (the bus's ``publish``)."""


class Collector(Protocol):
    name: str

    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Collect until ``stop`` is set; survive unreachable or misbehaving devices."""
        ...

    def status(self) -> list[dict[str, object]]:
        """One dict per target: at least ``target``, ``state``, ``last_update`` (epoch s or None) and counters."""
        ...

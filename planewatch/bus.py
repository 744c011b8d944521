"""The in-process bus: every published record reaches every subscriber, in order, never dropped.

Embedded mode's stand-in for Kafka. Each subscriber owns a bounded queue; when one is
full, ``publish`` waits (back-pressure) rather than dropping, so a slow store slows the
simulator instead of losing data. ``None`` on a queue means "the bus is closed".
"""

from __future__ import annotations

import asyncio
import collections
from typing import AsyncIterator, Iterable

from planewatch.schemas import Record


class Subscription:
    """One consumer's view of the bus: iterate it to receive batches of records."""

    def __init__(self, name: str, maxsize: int):
        self.name = name
        self._queue: asyncio.Queue[list[Record] | None] = asyncio.Queue(maxsize)

    async def batches(self) -> AsyncIterator[list[Record]]:
        """Yield published batches until the bus closes."""
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    @property
    def backlog(self) -> int:
        """Batches published but not yet taken by this consumer."""
        return self._queue.qsize()


class InProcessBus:
    """Fan-out publish/subscribe between asyncio tasks of one process."""

    def __init__(self, queue_batches: int = 64):
        self._queue_batches = queue_batches
        self._subscriptions: list[Subscription] = []
        self.published: collections.Counter[str] = collections.Counter()
        self.closed = False

    def subscribe(self, name: str) -> Subscription:
        """Subscribe before publishing starts; a late subscriber does not see earlier records."""
        subscription = Subscription(name, self._queue_batches)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to a consumer that died, and free a publisher waiting on its full queue."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        while not subscription._queue.empty():
            subscription._queue.get_nowait()

    async def publish(self, records: Iterable[Record]) -> None:
        """Publish a batch to every subscriber, waiting while any of them is full."""
        if self.closed:
            raise RuntimeError("publish on a closed bus")
        batch = list(records)
        if not batch:
            return
        for record in batch:
            self.published[type(record).__name__] += 1
        for subscription in list(self._subscriptions):
            await subscription._queue.put(batch)

    async def close(self) -> None:
        """Tell every subscriber that nothing more will come (after what is queued)."""
        if not self.closed:
            self.closed = True
            for subscription in self._subscriptions:
                await subscription._queue.put(None)

"""The in-process driver: producers -> bus -> detectors and store, in one asyncio process.

Embedded mode (``planewatch up``) runs this. The detectors are the same objects the Faust
driver wraps in distributed mode; only the transport differs. Records reach the store in
columnar batches (by size or age), findings are written with them, and stopping drains
everything that was published before the store is closed: Ctrl-C loses nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import AsyncIterator, Awaitable, Callable, Protocol, Sequence

from planewatch.bus import InProcessBus, Subscription
from planewatch.schemas import Finding, Record
from planewatch.schemas.records import with_fabric
from planewatch.streams.ensemble import DetectorSet

log = logging.getLogger(__name__)


class Detector(Protocol):
    def feed(self, record: Record) -> list[Finding]: ...


class RecordStore(Protocol):
    def write(self, records: Sequence[Record]) -> int: ...


Publish = Callable[[Sequence[Record]], Awaitable[None]]

Producer = Callable[[Publish, asyncio.Event], Awaitable[None]]
"""Anything that publishes records until it is done or ``stop`` is set: a collector's
``run``, the paced simulator, a replay. The pipeline ends when every producer has returned."""


def from_source(source: Callable[[asyncio.Event], AsyncIterator[list[Record]]]) -> Producer:
    """Adapt a pull-style source (an async generator of batches) into a producer."""

    async def produce(publish: Publish, stop: asyncio.Event) -> None:
        async for batch in source(stop):
            await publish(batch)

    return produce


@dataclasses.dataclass
class PipelineStats:
    records_in: int = 0
    rows_written: int = 0
    findings: int = 0
    write_retries: int = 0
    store_batches: int = 0


class StoreWriter:
    """Accumulates records and writes them in batches; keeps them until a write succeeds."""

    def __init__(self, store: RecordStore, stats: PipelineStats, batch_rows: int, flush_interval: float,
                 retries: int = 5):
        self.store = store
        self.stats = stats
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.retries = retries
        self._pending: list[Record] = []
        self._last_flush = time.monotonic()

    def add(self, records: Sequence[Record]) -> None:
        self._pending.extend(records)

    @property
    def due(self) -> bool:
        return len(self._pending) >= self.batch_rows or (
            bool(self._pending) and time.monotonic() - self._last_flush >= self.flush_interval
        )

    async def flush(self) -> None:
        """Write what is pending; on failure retry with backoff, then re-raise (records are kept)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        for attempt in range(self.retries + 1):
            try:
                self.stats.rows_written += await asyncio.to_thread(self.store.write, batch)
                self.stats.store_batches += 1
                break
            except Exception:
                if attempt == self.retries:
                    self._pending = batch + self._pending
                    raise
                self.stats.write_retries += 1
                log.warning("store write failed (attempt %d), retrying", attempt + 1, exc_info=True)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        self._last_flush = time.monotonic()


class EmbeddedPipeline:
    """Wires producers (collectors, the simulator), detectors and a store together over an :class:`InProcessBus`."""

    def __init__(
        self,
        producers: Sequence[Producer],
        detectors: Sequence[Detector],
        store: RecordStore,
        *,
        on_records: Callable[[list[Record]], None] | None = None,
        on_finding: Callable[[Finding], None] | None = None,
        batch_rows: int = 50_000,
        flush_interval: float = 1.0,
        write_retries: int = 5,
        fabric: str = "",
    ):
        self.producers = list(producers)
        self.detectors = DetectorSet(detectors)
        self.stats = PipelineStats()
        self.bus = InProcessBus()
        self.writer = StoreWriter(store, self.stats, batch_rows, flush_interval, write_retries)
        self.on_records = on_records
        self.on_finding = on_finding
        self.fabric = fabric
        self._detect_sub = self.bus.subscribe("detectors")
        self._store_sub = self.bus.subscribe("store")

    async def run(self, stop: asyncio.Event) -> PipelineStats:
        """Run until every producer returns or ``stop`` is set; then drain and flush everything.

        A failing consumer (detector or store) stops the producers and its error is raised
        after what was already accepted has been flushed as far as possible.
        """
        consumers = [
            asyncio.create_task(self._detect(self._detect_sub), name="detectors"),
            asyncio.create_task(self._store(self._store_sub), name="store"),
        ]
        producers = [asyncio.create_task(produce(self._publish, stop)) for produce in self.producers]
        watchdog = asyncio.create_task(self._stop_when_a_consumer_dies(consumers, stop))
        try:
            produced = await asyncio.gather(*producers, return_exceptions=True)
        finally:
            watchdog.cancel()
            await self.bus.close()
            results = await asyncio.gather(*consumers, return_exceptions=True)
            await self.writer.flush()
        for result in [*results, *produced]:
            if isinstance(result, BaseException):
                raise result
        return self.stats

    async def _publish(self, records: Sequence[Record]) -> None:
        self.stats.records_in += len(records)
        await self.bus.publish(with_fabric(records, self.fabric))

    async def _stop_when_a_consumer_dies(self, consumers: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
        """A consumer only returns early by failing: stop the producers and unblock any waiting publish."""
        done, _ = await asyncio.wait(consumers, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for task, subscription in zip(consumers, (self._detect_sub, self._store_sub)):
            if task in done:
                self.bus.unsubscribe(subscription)

    async def _detect(self, subscription: Subscription) -> None:
        async for batch in subscription.batches():
            findings = with_fabric(self.detectors.feed_all(batch), self.fabric)
            if findings:
                self.stats.findings += len(findings)
                self.writer.add(findings)
                if self.on_finding:
                    for finding in findings:
                        self.on_finding(finding)
            if self.on_records:
                self.on_records(batch)

    async def _store(self, subscription: Subscription) -> None:
        async for batch in subscription.batches():
            self.writer.add(batch)
            if self.writer.due:
                await self.writer.flush()

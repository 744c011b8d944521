"""Keep the input partitions out of Faust's fetch until its post-assignment seek and queue clear are done.

Why this exists (faust-streaming 0.15.3 with aiokafka; faust-streaming issue #596 describes
the same race). At the end of every (re)assignment Faust's recovery does, in this order
(``faust/tables/recovery.py``, ``Recovery.on_recovery_completed``)::

    consumer.resume_partitions(stream partitions)  # the fetcher starts delivering them
    await consumer.perform_seek()                  # asks the broker for the committed offsets, seeks
    app.flow_control.resume()                      # ... which clears every stream's queue

1. While ``perform_seek`` waits for the broker, the input partitions are already delivered
   into the agent's queue. The clear throws away what the agent has not taken yet, and a
   delivery still in flight when the seek returns sets the read offset past those messages
   again (``Consumer._drain_messages`` sets it after the callback), so the re-fetch from the
   committed offset drops them as already read. Nothing acknowledges them; Faust commits only
   contiguous acknowledgements, so the restarted worker's commits stop at the first one and
   its records never reach ClickHouse: the worker looks stalled, stats frozen, no error.
2. Surviving deliveries leave a gap behind the reset read offset that Faust counts as
   acknowledged (``Consumer._add_gap``); acknowledging them again puts offsets twice into
   ``Consumer._acked``, and commits then advance one offset per commit.
3. Pausing alone is not enough: Faust passes its live set of active partitions to the
   fetch running in the consumer thread, and aiokafka's ``Fetcher.fetched_records`` reads an
   *empty* set as "every partition". A fetch still waiting when the last active partition is
   paused returns the paused partitions' records too; Faust drops them (not active) after
   aiokafka has moved its position past them, which loses them if it happens after the seek.

So the guard withholds the input partitions from ``consumer.resume_partitions``, lets any
fetch already under way finish before ``perform_seek`` seeks, and resumes the input
partitions only once ``flow_control.resume()`` has cleared the queues: nothing is delivered
before the seek, and the fetcher starts exactly at the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Collection, Iterable

log = logging.getLogger(__name__)

FETCH_SETTLE_TIMEOUT = 10.0
"""Seconds to wait for a fetch under way (Faust's own wait is 1 s) before seeking anyway."""


class SeekWindowGuard:
    """Wraps one app's consumer and flow control (instance attributes only, nothing global)."""

    def __init__(self, app: Any, topics: Collection[str]):
        self.app = app
        self.topics = frozenset(topics)
        self.withheld: set[Any] = set()
        self.withheld_generation: int | None = None
        self.sought_generation: int | None = None
        self.fetching = 0
        self.fetch_idle = asyncio.Event()
        self.fetch_idle.set()

    def install(self) -> None:
        """Idempotent; must run before the first assignment's recovery (the revoke signal does)."""
        consumer = self.app.consumer
        if getattr(consumer, "_planewatch_seek_guard", None) is self:
            return
        flow = self.app.flow_control
        resume_partitions, wait_next_records = consumer.resume_partitions, consumer._wait_next_records
        perform_seek, resume_flow = consumer.perform_seek, flow.resume

        def guarded_resume_partitions(tps: Iterable[Any]) -> None:
            tps = set(tps)
            ours = {tp for tp in tps if tp.topic in self.topics}
            if ours:
                self.withheld |= ours
                self.withheld_generation = self.app.consumer_generation_id
            resume_partitions(tps - ours)

        async def counted_wait_next_records(timeout: float) -> Any:
            self.fetching += 1
            self.fetch_idle.clear()
            try:
                return await wait_next_records(timeout)
            finally:
                self.fetching -= 1
                if not self.fetching:
                    self.fetch_idle.set()

        async def settled_perform_seek() -> None:
            if self.fetching:  # records it drains past the seek would be dropped as "not active"
                try:
                    await asyncio.wait_for(self.fetch_idle.wait(), FETCH_SETTLE_TIMEOUT)
                except asyncio.TimeoutError:
                    log.warning("a Kafka fetch was still under way after %.0f s; seeking anyway", FETCH_SETTLE_TIMEOUT)
            await perform_seek()
            self.sought_generation = self.app.consumer_generation_id

        def resume_flow_then_inputs() -> None:
            resume_flow()  # clears the stream queues; only then may the input partitions deliver
            self._release(resume_partitions)

        consumer.resume_partitions = guarded_resume_partitions
        consumer._wait_next_records = counted_wait_next_records
        consumer.perform_seek = settled_perform_seek
        flow.resume = resume_flow_then_inputs
        consumer._planewatch_seek_guard = self

    def _release(self, resume_partitions: Any) -> None:
        generation = self.app.consumer_generation_id
        if not self.withheld or self.app.in_recovery:
            return  # nothing withheld, or a changelog recovery resuming flow before its seek
        if self.withheld_generation != generation or self.sought_generation != generation:
            return  # not sought yet in this generation: the recovery's own resume comes later
        withheld, self.withheld = self.withheld, set()
        resume_partitions(withheld & set(self.app.consumer.assignment()))

"""The in-process bus delivers every record to every subscriber in order, and never drops."""

import asyncio

from planewatch.bus import InProcessBus
from planewatch.schemas import Watermark


def marks(start: int, count: int) -> list[Watermark]:
    return [Watermark(ts=float(i), plane=0) for i in range(start, start + count)]


def test_every_subscriber_gets_every_record_in_order_even_when_one_is_slow():
    async def scenario() -> tuple[list[float], list[float], int]:
        bus = InProcessBus(queue_batches=2)
        fast, slow = bus.subscribe("fast"), bus.subscribe("slow")
        seen_fast: list[float] = []
        seen_slow: list[float] = []
        max_backlog = 0

        async def consume(sub, seen, delay):
            nonlocal max_backlog
            async for batch in sub.batches():
                max_backlog = max(max_backlog, sub.backlog)
                seen.extend(r.ts for r in batch)
                await asyncio.sleep(delay)

        consumers = [asyncio.create_task(consume(fast, seen_fast, 0)), asyncio.create_task(consume(slow, seen_slow, 0.002))]
        for start in range(0, 200, 10):
            await bus.publish(marks(start, 10))
        await bus.close()
        await asyncio.gather(*consumers)
        return seen_fast, seen_slow, max_backlog

    seen_fast, seen_slow, max_backlog = asyncio.run(scenario())
    expected = [float(i) for i in range(200)]
    assert seen_fast == expected
    assert seen_slow == expected
    assert max_backlog <= 2  # bounded queue: the publisher waited instead of piling up


def test_publish_counts_records_by_type_and_refuses_after_close():
    async def scenario():
        bus = InProcessBus()
        sub = bus.subscribe("only")
        await bus.publish(marks(0, 3))
        await bus.close()
        received = [batch async for batch in sub.batches()]
        try:
            await bus.publish(marks(3, 1))
        except RuntimeError as error:
            return bus.published, received, str(error)
        return bus.published, received, None

    published, received, error = asyncio.run(scenario())
    assert published["Watermark"] == 3
    assert [len(b) for b in received] == [3]
    assert error == "publish on a closed bus"

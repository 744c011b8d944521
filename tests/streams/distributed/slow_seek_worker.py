"""``planewatch stream`` on a loaded machine: a slow broker, a slow ClickHouse, a CPU-starved fetcher.

Fault injection for the end-to-end tests, run as a script in place of ``python -m planewatch``
(arguments as for ``planewatch``). Nothing is faked: the real worker runs against the real
Kafka and ClickHouse, only later. The delays widen the window in which Faust, after an
assignment, delivers the input partitions before it has sought them to the committed offsets
(see ``planewatch.streams.distributed.seek_guard``): on a busy CI machine that window is open
by chance, here on every start.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from faust.transport import consumer

from planewatch.store import server

SEEK_DELAY = float(os.environ.get("PW_TEST_SEEK_DELAY", "3"))
WRITE_DELAY = float(os.environ.get("PW_TEST_WRITE_DELAY", "1"))
FETCH_DELAY = float(os.environ.get("PW_TEST_FETCH_DELAY", "0.0005"))

_perform_seek = consumer.Consumer.perform_seek
_getmany = consumer.Consumer.getmany
_write = server.ServerStore.write


async def slow_perform_seek(self: Any) -> None:
    await asyncio.sleep(SEEK_DELAY)  # the committed-offsets request waiting on a busy broker
    await _perform_seek(self)


async def slow_getmany(self: Any, timeout: float) -> Any:
    async for item in _getmany(self, timeout):
        await asyncio.sleep(FETCH_DELAY)  # each delivery waits for the CPU: a fetched batch takes a while
        yield item


def slow_write(self: Any, records: Any) -> int:
    time.sleep(WRITE_DELAY)  # a busy ClickHouse: batches pile up in the agent's queue meanwhile
    return _write(self, records)


consumer.Consumer.perform_seek = slow_perform_seek  # type: ignore[method-assign]
consumer.Consumer.getmany = slow_getmany  # type: ignore[method-assign]
server.ServerStore.write = slow_write  # type: ignore[method-assign]

if __name__ == "__main__":
    from planewatch.cli import main

    main()

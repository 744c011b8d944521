"""The collector's polling machinery at scale: many nodes, some of them wedged, on a scaled clock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from planewatch.clock import ScaledClock
from planewatch.collectors.bird import BirdCollector, BirdNode
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Record
from planewatch.simulator import Simulator, build_fabric
from planewatch.simulator.speakers.bird import BirdSpeaker

START = 1_795_651_200.0


def test_160_nodes_with_wedged_ones_do_not_stall_each_other(tmp_path: Path) -> None:
    inventory = build_fabric(planes=2, racks=4, servers_per_rack=40, route_reflectors_per_plane=2)
    sim = Simulator(inventory, start_ts=START, tick=5.0)

    async def wedged(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)  # accepts, never greets: a hung BIRD

    async def scenario() -> tuple[list[Record], float, list[dict[str, object]]]:
        speaker = BirdSpeaker(inventory, tmp_path / "ok", start_ts=START)
        await speaker.start()
        await speaker.update(sim.step())
        hung = [await asyncio.start_unix_server(wedged, path=str(tmp_path / f"hung{i}.ctl")) for i in range(3)]
        nodes = [BirdNode(s, speaker.socket_path(s)) for s in speaker.servers]
        nodes += [BirdNode(f"hung{i}", tmp_path / f"hung{i}.ctl") for i in range(3)]
        nodes.append(BirdNode("gone", tmp_path / "gone.ctl"))
        collector = BirdCollector(nodes, inventory, concurrency=16, connect_timeout=0.5, read_timeout=1.0)
        try:
            started = time.monotonic()
            records = await collector.poll_once()
            elapsed = time.monotonic() - started
            return records, elapsed, collector.status()
        finally:
            await collector.close()
            await speaker.stop()
            for server in hung:
                server.close()

    records, elapsed, status = asyncio.run(scenario())
    assert elapsed < 3.0, elapsed  # 160 good nodes + 3 timeouts of 0.5 s in parallel slots
    sessions = [r for r in records if isinstance(r, BgpSession)]
    assert len(sessions) == 160 * 2 * 2 and all(s.state == "Established" for s in sessions)
    assert sum(isinstance(r, BgpRouteCounters) for r in records) == 160 * 2 * 2
    by_node = {s["target"]: s for s in status}
    assert by_node["hung0"]["state"] == "error" and "no greeting" in str(by_node["hung0"]["last_error"])
    assert by_node["gone"]["state"] == "unreachable" and by_node["gone"]["failures"] == 1
    assert sum(1 for s in status if s["state"] == "up") == 160


def test_run_polls_on_the_injected_clock_until_stopped(tmp_path: Path) -> None:
    """20x scaled clock, 5 s interval: ~1 poll per node per 0.25 s of real time, spread over the interval."""
    inventory = build_fabric(planes=2, racks=1, servers_per_rack=4, route_reflectors_per_plane=1)
    sim = Simulator(inventory, start_ts=START, tick=5.0)

    async def scenario() -> tuple[list[Record], list[dict[str, object]]]:
        speaker = BirdSpeaker(inventory, tmp_path, start_ts=START)
        await speaker.start()
        await speaker.update(sim.step())
        clock = ScaledClock(START + 5, speed=20)
        collector = BirdCollector([BirdNode(s, speaker.socket_path(s)) for s in speaker.servers], inventory, clock=clock)
        published: list[Record] = []

        async def publish(batch) -> None:  # type: ignore[no-untyped-def]
            published.extend(batch)

        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(publish, stop))
        await asyncio.sleep(1.3)  # 26 simulated seconds: 5 or 6 polls per node
        stop.set()
        await asyncio.wait_for(task, 2)
        await speaker.stop()
        return published, collector.status()

    published, status = asyncio.run(scenario())
    assert all(5 <= s["polls"] <= 6 and s["failures"] == 0 and s["missed_polls"] == 0 for s in status), status
    sessions = [r for r in published if isinstance(r, BgpSession)]
    assert len(sessions) == 4 * 2  # the initial state once, then nothing changed
    counters = [r for r in published if isinstance(r, BgpRouteCounters)]
    assert all(START + 5 <= r.ts <= START + 40 for r in counters)  # stamped with the injected clock

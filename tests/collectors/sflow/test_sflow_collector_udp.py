"""The collector over real UDP on 127.0.0.1: allow-list, loss, restarts, planes, batching; the simulator round trip."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Sequence

import msgspec
import pytest
from sflow_corpus import BROADCAST, SERVER_A, counters, flow

from planewatch.collectors.sflow import encode as e
from planewatch.collectors.sflow.collector import SflowCollector, SflowCollectorConfig, estimated_total
from planewatch.inventory import Inventory
from planewatch.schemas.records import Record, SflowCounterSample, SflowFlowSample
from planewatch.simulator import Simulator, build_fabric
from planewatch.simulator.speakers.sflow import SflowSpeaker

NOW = 1_700_000_123.5


def asyncio_test(fn: Callable) -> Callable:
    """Run an async test in its own event loop (no pytest plugin needed)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(fn(*args, **kwargs))
    return wrapper


class FixedClock:
    """Event time stands still (records' ts is then exact); waits are real."""

    def now(self) -> float:
        return NOW

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return build_fabric(planes=2, racks=2, servers_per_rack=4)


def _agent(inventory: Inventory, plane: int) -> tuple[str, str]:
    switch = inventory.switches_in(plane)[0]
    return str(switch.sflow_agent), switch.name


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the collector")
        await asyncio.sleep(0.01)


class Running:
    """A collector running on 127.0.0.1:<free port>, with what it published."""

    def __init__(self, inventory: Inventory, **config: object):
        self.collector = SflowCollector(inventory, SflowCollectorConfig(host="127.0.0.1", port=0, **config),  # type: ignore[arg-type]
                                        clock=FixedClock())
        self.batches: list[Sequence[Record]] = []
        self.stop = asyncio.Event()

    async def publish(self, records: Sequence[Record]) -> None:
        self.batches.append(list(records))

    @property
    def records(self) -> list[Record]:
        return [r for batch in self.batches for r in batch]

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.collector.run(self.publish, self.stop))
        await asyncio.wait_for(self.collector.ready.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 5)

    def send(self, payload: bytes, source: str = "127.0.0.1") -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(payload, ("127.0.0.1", self.collector.port))

    def row(self, agent: str) -> dict[str, object]:
        return next(r for r in self.collector.status() if r["agent"] == agent)

    def dropped(self) -> dict[str, object]:
        return self.collector.status()[-1]


def _datagram(agent: str, sequence: int, uptime_ms: int, sample_seq: int, rate: int = 4096) -> bytes:
    return e.datagram(agent, sequence=sequence, uptime_ms=uptime_ms, samples=[
        flow(sample_seq, BROADCAST, SERVER_A, 0x0806, vlan=101, length=64, expanded=False, rate=rate,
             output_if=0x80000004),
        counters(sample_seq, 7, expanded=sample_seq % 2 == 0),
    ])


@asyncio_test
async def test_unknown_agents_are_dropped_and_counted(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    async with Running(inventory) as run:
        for i in range(3):
            run.send(_datagram("198.51.100.9", i + 1, 1000 + i, i + 1))
        run.send(_datagram("2001:db8::99", 1, 1000, 1))
        run.send(_datagram(agent, 1, 1000, 1), source="127.0.0.2")  # known agent, untrusted source
        run.send(b"\x00\x00\x00\x05garbage")
        await _until(lambda: run.dropped()["datagrams"] == 6)
    dropped = run.dropped()
    assert dropped["dropped_by_agent"] == {"198.51.100.9": 3, "2001:db8::99": 1, agent: 1, "127.0.0.1": 1}
    assert dropped["dropped_by_reason"] == {"unknown_agent": 4, "untrusted_source": 1, "bad_address_type": 1}
    assert run.records == []
    assert run.row(agent)["datagrams"] == 0 and run.row(agent)["state"] == "silent"


@asyncio_test
async def test_source_check_can_be_turned_off(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    async with Running(inventory, check_source=False) as run:
        run.send(_datagram(agent, 1, 1000, 1), source="127.0.0.2")
        await _until(lambda: run.row(agent)["datagrams"] == 1)


@asyncio_test
async def test_records_carry_plane_device_and_sampling_rate(inventory: Inventory) -> None:
    agent1, switch1 = _agent(inventory, 1)
    agent2, switch2 = _agent(inventory, 2)
    async with Running(inventory) as run:
        run.send(_datagram(agent1, 1, 1000, 1, rate=512))
        run.send(_datagram(agent2, 1, 1000, 2, rate=8192))
        await _until(lambda: len(run.records) == 4)
    flows = sorted((r for r in run.records if isinstance(r, SflowFlowSample)), key=lambda r: r.plane)
    assert [(r.plane, r.device, r.agent, r.sampling_rate) for r in flows] == [
        (1, switch1, agent1, 512), (2, switch2, agent2, 8192)]
    assert flows[0] == SflowFlowSample(
        ts=NOW, plane=1, agent=agent1, device=switch1, sequence=1, sampling_rate=512, input_if=3,
        output_if=0x80000004, src_mac=SERVER_A, dst_mac=BROADCAST, vlan=101, ethertype=0x0806,
        frame_class="broadcast", frame_length=64)
    counter = next(r for r in run.records if isinstance(r, SflowCounterSample) and r.plane == 2)
    assert (counter.device, counter.if_index, counter.if_oper_up, counter.in_ucast_pkts) == (switch2, 7, True, 7001)
    assert estimated_total(3, flows[1].sampling_rate) == 3 * 8192


@asyncio_test
async def test_sequence_gaps_are_loss_and_uptime_going_back_is_a_restart(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    async with Running(inventory) as run:
        sent = [(1, 100_000), (2, 101_000), (5, 104_000),  # datagrams 3 and 4 lost ...
                (4, 103_000),  # ... then 4 arrives late
                (1, 100), (2, 200),  # rebooted: a restart, not a loss of 4 billion
                (4, 400)]  # datagram 3 lost after the reboot
        for n, (seq, uptime) in enumerate(sent, 1):
            run.send(_datagram(agent, seq, uptime, seq))
            await _until(lambda: run.row(agent)["datagrams"] == n)  # keeps the order on the wire
    row = run.row(agent)
    assert (row["lost"], row["restarts"], row["out_of_order"]) == (3, 1, 1)
    # each data source (one flow, one counter source) numbers samples like the datagrams: 2 + 1 missing each
    assert row["samples_lost"] == 6
    assert row["samples"] == 14 and row["records"] == 14
    assert row["last_update"] == NOW
    assert row["malformed"] == {}


@asyncio_test
async def test_malformed_datagrams_from_known_agents_are_counted_not_fatal(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    good = _datagram(agent, 1, 1000, 1)
    async with Running(inventory) as run:
        run.send(good[:-30])  # truncated inside the counter sample
        run.send(_datagram(agent, 2, 2000, 2))
        await _until(lambda: run.row(agent)["datagrams"] == 2)
        await _until(lambda: len(run.records) == 3)
    assert run.row(agent)["malformed"] == {"sample_overflows_datagram": 1}


@asyncio_test
async def test_records_are_published_in_batches(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    async with Running(inventory, batch_size=10, flush_interval=30.0) as run:
        for i in range(50):
            run.send(_datagram(agent, i + 1, 1000 + i, i + 1))
        await _until(lambda: len(run.records) == 100)
    assert len(run.batches) == 10
    assert all(len(b) == 10 for b in run.batches)


@asyncio_test
async def test_a_partial_batch_is_flushed_by_the_clock(inventory: Inventory) -> None:
    agent, _ = _agent(inventory, 1)
    async with Running(inventory, batch_size=1000, flush_interval=0.2) as run:
        run.send(_datagram(agent, 1, 1000, 1))
        await _until(lambda: len(run.records) == 2, timeout=5)
        assert not run.stop.is_set()


# -- the simulator speaks sFlow to the collector --------------------------------------------

def _as_on_the_wire(record: Record) -> dict[str, object]:
    """A record as sFlow carries it: everything but ts (the collector stamps arrival time).

    The simulator already keeps sFlow's packet counters 32-bit, so nothing else may differ.
    """
    fields = msgspec.structs.asdict(record)
    fields.pop("ts")
    return fields


def _key(fields: dict[str, object]) -> tuple:
    return (type(fields.get("if_index")).__name__, fields["agent"], fields["sequence"])


@pytest.mark.parametrize("expanded", [False, True])
@asyncio_test
async def test_simulator_round_trip_over_udp(inventory: Inventory, expanded: bool) -> None:
    sim = Simulator(inventory, start_ts=1_700_000_000.0, seed=3, tick=5.0, sflow_counter_interval=10.0)
    produced = [r for r in sim.run(30.0) if isinstance(r, (SflowFlowSample, SflowCounterSample))]
    assert {type(r) for r in produced} == {SflowFlowSample, SflowCounterSample}
    async with Running(inventory, batch_size=64) as run:
        with SflowSpeaker(inventory, ("127.0.0.1", run.collector.port), expanded=expanded) as speaker:
            for tick in range(0, len(produced), 50):
                speaker.send(produced[tick : tick + 50])
                await asyncio.sleep(0.005)
        await _until(lambda: len(run.records) == len(produced))
    assert speaker.datagrams_sent > 0
    got = sorted((_as_on_the_wire(r) for r in run.records), key=_key)
    want = sorted((_as_on_the_wire(r) for r in produced), key=_key)
    assert got == want
    assert all(r.ts == NOW for r in run.records)
    totals = run.collector.totals()
    assert (totals["lost"], totals["samples_lost"], totals["restarts"], totals["out_of_order"]) == (0, 0, 0, 0)
    assert run.dropped()["datagrams"] == 0


@asyncio_test
async def test_speaker_restart_is_seen_as_a_restart(inventory: Inventory) -> None:
    sim = Simulator(inventory, start_ts=1_700_000_000.0, seed=4, tick=5.0)
    agent, _ = _agent(inventory, 1)
    async with Running(inventory) as run:
        with SflowSpeaker(inventory, ("127.0.0.1", run.collector.port)) as speaker:
            for step in range(4):
                if step == 2:
                    speaker.restart(agent)
                speaker.send([r for r in sim.step() if isinstance(r, SflowFlowSample) and r.agent == agent])
                await _until(lambda: run.row(agent)["datagrams"] >= step + 1)
    row = run.row(agent)
    assert (row["restarts"], row["lost"]) == (1, 0)

"""`planewatch stream` end to end: real Kafka, real ClickHouse server, workers as child processes.

Each test has its own ``--app-id`` (consumer group and state changelog) and its own
ClickHouse database, set up by ``planewatch init``; the input topics are shared by the
session, so each test watches fabrics of its own (their own seeds) and every check
filters on them. Workers run with a 6 s session timeout and a checkpoint every 2 s.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from planewatch.clock import ScaledClock
from planewatch.kafka.admin import group_input_partitions
from planewatch.schemas import Finding, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.simulator.protocols import ProtocolFabric
from planewatch.streams.inprocess import EmbeddedPipeline
from planewatch.streams.registry import default_detectors
from services.clickhouse import ClickHouseServer, require_server
from services.kafka import KafkaBroker

from stream_support import (
    PLANEWATCH,
    CountingPublish,
    PacedPublisher,
    Worker,
    committed_offsets,
    existing_partitions,
    expected_counts,
    findings,
    init_pipeline,
    optimize,
    partition_for,
    publish_all,
    stop_all,
    table_counts,
    try_table_counts,
    wait_until,
    without_findings,
    write_inventory,
)

pytestmark = pytest.mark.timeout(240)

PLANE_DOWN = [("plane_failure", 2, "firing"), ("plane_failure", 2, "resolved")]


@pytest.fixture(scope="module")
def partitions(kafka_broker: KafkaBroker) -> int:
    """The input topics' partition count: 2, unless another test of the session already made them."""
    return existing_partitions(kafka_broker.bootstrap) or 2


class Pipeline:
    """One app id and one database of its own on ``server``, initialised by ``planewatch init``."""

    def __init__(self, name: str, broker: KafkaBroker, server: ClickHouseServer, partitions: int, directory: Path):
        suffix = uuid.uuid4().hex[:8]
        self.app_id = f"pw-e2e-{name}-{suffix}"
        self.database = f"e2e_{name}_{suffix}"
        self.broker, self.server, self.directory = broker, server, directory
        init_pipeline(broker.bootstrap, server, app_id=self.app_id, database=self.database, partitions=partitions,
                      directory=directory)
        self.client = server.client()

    def worker(self, name: str, inventories: list[Path]) -> Worker:
        return Worker(name, self.broker.bootstrap, self.server, app_id=self.app_id, database=self.database,
                      inventories=inventories, directory=self.directory)

    def close(self) -> None:
        try:
            self.client.execute(f"DROP DATABASE IF EXISTS {self.database}")
        except Exception:  # noqa: BLE001 - the server may be gone at teardown
            pass
        self.client.disconnect()


@pytest.fixture
def pipelines(kafka_broker: KafkaBroker, partitions: int, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []

    def make(name: str, server: ClickHouseServer) -> Pipeline:
        made.append(Pipeline(name, kafka_broker, server, partitions, tmp_path))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.close()


def plane_down_simulator(inventory, seed: int, start: float) -> Simulator:
    fault = Fault.create("plane-down", plane=2, at=60, duration=120, inventory=inventory)
    return Simulator(inventory, faults=[fault], start_ts=start, seed=seed)


def now_on_tick() -> float:
    return float(int(time.time()) // 5 * 5)


# -- 1 ------------------------------------------------------------------------------------

class NullStore:
    def write(self, records) -> int:  # noqa: ANN001
        return len([r for r in records if type(r).TABLE is not None])


def test_through_the_collectors_the_stream_finds_what_the_embedded_pipeline_finds(
        kafka_broker: KafkaBroker, clickhouse_server: ClickHouseServer, pipelines, tmp_path: Path):
    """The same plane-down, watched through gNMI/sFlow/BIRD twice: once into Kafka and a stream
    worker, once into the embedded pipeline. Same findings; every record type reaches ClickHouse."""
    seed, speed, duration = 101, 5.0, 170.0
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4, seed=seed)
    fabric_name = inventory.fabric
    args = ["--planes", "4", "--racks", "2", "--servers-per-rack", "4", "--seed", str(seed),
            "--scenario", "plane-down", "--plane", "2", "--at", "40", "--for", "80"]
    pipeline = pipelines("collect", clickhouse_server)
    worker = pipeline.worker("w", [write_inventory(tmp_path, inventory)]).start()
    try:
        embedded: list[Finding] = []

        async def both() -> tuple[float, CountingPublish]:
            start = float(int(time.time()))
            to_kafka = ProtocolFabric(inventory, ScaledClock(start, speed), args, duration=duration)
            to_embedded = ProtocolFabric(inventory, ScaledClock(start, speed), args, duration=duration)
            publish = CountingPublish(kafka_broker.bootstrap, fabric_name)

            async def produce() -> None:
                try:
                    await to_kafka.run(publish, asyncio.Event())
                finally:
                    await publish.close()

            local = EmbeddedPipeline([to_embedded.run], default_detectors(inventory).detectors, NullStore(),
                                     on_finding=embedded.append)
            await asyncio.gather(produce(), local.run(asyncio.Event()))
            return start, publish

        start, publish = asyncio.run(both())
        expected = expected_counts(publish.counts)
        # Every kind of record a collector makes came through (test_protocols lists them).
        assert {t for t, n in expected.items() if n} >= {
            "port_counters", "interface_status", "fdb_snapshots", "sflow_counters", "sflow_flows",
            "bgp_sessions", "bgp_route_counters"}, expected
        assert [(f.kind, f.plane, f.status) for f in embedded] == PLANE_DOWN, "the embedded run itself"

        client = pipeline.client
        wait_until(lambda: without_findings(try_table_counts(client, pipeline.database, [fabric_name])) == expected
                   and len(findings(client, pipeline.database, [fabric_name])) >= 2,
                   120, "every published record and the findings in ClickHouse", workers=[worker],
                   details=lambda: f"published {expected}\nstored {try_table_counts(client, pipeline.database, [fabric_name])}")
        stored = findings(client, pipeline.database, [fabric_name])
        assert [(kind, plane, status) for _, kind, plane, _, status, _, _ in stored] == PLANE_DOWN, stored
        for (_, _, _, _, _, started_at, _), ours in zip(stored, embedded):
            assert abs((started_at - start) - (ours.started_at - start)) <= 6.0, (stored, embedded)
            assert 40 <= started_at - start <= 50
        counts = table_counts(client, pipeline.database, [fabric_name])
        assert all(counts[t] > 0 for t, n in expected.items() if n) and counts["findings"] == 2
        assert "fabric %s: no saved detector state" % fabric_name in worker.text()
        planes = client.execute(f"SELECT plane, name FROM {pipeline.database}.planes WHERE fabric = %(f)s ORDER BY plane",
                                {"f": fabric_name})
        assert planes == [(p, inventory.plane_name(p)) for p in inventory.plane_ids], "the worker wrote its inventory"
    finally:
        stop_all([worker])


# -- 2 ------------------------------------------------------------------------------------

SLOW_SEEK_WORKER = Path(__file__).with_name("slow_seek_worker.py")


@pytest.mark.parametrize("machine", ["idle", "loaded"])
def test_a_worker_killed_mid_fault_and_restarted_loses_and_duplicates_nothing(
        kafka_broker: KafkaBroker, clickhouse_server: ClickHouseServer, pipelines, tmp_path: Path, machine: str):
    """``loaded`` restarts the worker with a slow broker, ClickHouse and fetcher (``slow_seek_worker.py``):
    Faust then delivers the replayed input before it has sought it and clears what the agent had
    not taken, which lost those records (and stopped the restarted worker's commits) until
    ``SeekWindowGuard`` held the input partitions back until after the seek and the clear."""
    seed = 202 if machine == "idle" else 212
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=8, seed=seed)
    fabric_name = inventory.fabric
    pipeline = pipelines("kill", clickhouse_server)
    client, database = pipeline.client, pipeline.database
    worker = pipeline.worker("w", [write_inventory(tmp_path, inventory)]).start()
    publisher = PacedPublisher(kafka_broker.bootstrap, plane_down_simulator(inventory, seed, now_on_tick()), 300, 10.0)
    try:
        publisher.start()

        def firing() -> bool:
            try:
                return any(status == "firing" for *_, status, _, _ in findings(client, database, [fabric_name]))
            except Exception:  # noqa: BLE001
                return False

        wait_until(firing, 60, "the plane failure to fire in ClickHouse", workers=[worker])
        # a few checkpoints while live: the group's committed input offsets move twice
        seen = [committed_offsets(kafka_broker.bootstrap, pipeline.app_id)]

        def committed_again() -> bool:
            now = committed_offsets(kafka_broker.bootstrap, pipeline.app_id)
            if now > seen[-1]:
                seen.append(now)
            return len(seen) >= 3

        wait_until(committed_again, 30, "two more offset commits (checkpoints)", workers=[worker], every=0.3)
        elapsed = publisher.elapsed()
        assert 60 < elapsed < 165, f"precondition: the fault (60..180 s) is active at the kill, published {elapsed:.0f} s"
        assert [s for *_, s, _, _ in findings(client, database, [fabric_name])] == ["firing"]
        worker.kill9()
        assert publisher.elapsed() < 175
        if machine == "loaded":
            worker.command = [sys.executable, str(SLOW_SEEK_WORKER), *worker.command[len(PLANEWATCH):]]
        worker.start()

        published = expected_counts(publisher.join_ok())
        assert sum(published.values()) > 10_000
        wait_until(lambda: without_findings(try_table_counts(client, database, [fabric_name])) == published
                   and len(findings(client, database, [fabric_name])) >= 2,
                   120, "every record and both findings in ClickHouse after the restart", workers=[worker],
                   details=lambda: f"published {published}\nstored {try_table_counts(client, database, [fabric_name])}"
                                   f"\nfindings {findings(client, database, [fabric_name])}")
        log = worker.text().split("==== start #2 ====", 1)[1]
        assert f"fabric {fabric_name}: detector state restored" in log, worker.tail()
        assert f"fabric {fabric_name}: no saved detector state" not in log

        def check() -> None:
            stored = findings(client, database, [fabric_name])
            assert [(kind, plane, status) for _, kind, plane, _, status, _, _ in stored] == PLANE_DOWN, stored
            assert stored[0][5] == stored[1][5], "the resolution belongs to the firing (same started_at)"
            assert without_findings(table_counts(client, database, [fabric_name])) == published

        check()
        worker.stop()
        optimize(client, database)
        physical = table_counts(client, database, [fabric_name], final=False)
        assert physical == {**published, "findings": 2}, "after OPTIMIZE FINAL every row is there once"
        check()
    finally:
        stop_all([worker])
        publisher.join(60)


# -- 3 ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A ClickHouse server of this module's own: the outage test stops it."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-e2e"), binary=require_server())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_clickhouse_stopped_for_30_seconds_mid_stream_loses_nothing(
        kafka_broker: KafkaBroker, own_clickhouse: ClickHouseServer, pipelines, tmp_path: Path):
    seed = 303
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=8, seed=seed)
    fabric_name = inventory.fabric
    pipeline = pipelines("outage", own_clickhouse)
    database = pipeline.database
    worker = pipeline.worker("w", [write_inventory(tmp_path, inventory)]).start()
    publisher = PacedPublisher(kafka_broker.bootstrap, plane_down_simulator(inventory, seed, now_on_tick()), 480, 10.0)
    try:
        publisher.start()
        wait_until(lambda: (c := try_table_counts(pipeline.client, database, [fabric_name])) and c["port_counters"] > 0,
                   60, "the worker writing live", workers=[worker])
        pipeline.client.disconnect()
        own_clickhouse.stop()
        stopped_at, elapsed_at_stop = time.monotonic(), publisher.elapsed()
        try:
            while time.monotonic() - stopped_at < 30:
                worker.check_alive()
                time.sleep(0.5)
        finally:
            own_clickhouse.start()
        assert not publisher.finished.is_set() and publisher.elapsed() - elapsed_at_stop >= 250, \
            "records kept coming throughout the outage"

        published = expected_counts(publisher.join_ok())
        client = own_clickhouse.client()
        try:
            wait_until(lambda: without_findings(try_table_counts(client, database, [fabric_name])) == published
                       and len(findings(client, database, [fabric_name])) >= 2,
                       120, "every record in ClickHouse after the outage", workers=[worker],
                       details=lambda: f"published {published}\nstored {try_table_counts(client, database, [fabric_name])}")
            stored = findings(client, database, [fabric_name])
            assert [(kind, plane, status) for _, kind, plane, _, status, _, _ in stored] == PLANE_DOWN, stored
            log = worker.text()
            assert "ClickHouse write failed, holding" in log, worker.tail()
            assert "ClickHouse writes resumed after" in log, worker.tail()
            worker.stop()
            optimize(client, database)
            assert table_counts(client, database, [fabric_name], final=False) == {**published, "findings": 2}
        finally:
            client.disconnect()
        pipeline.client = own_clickhouse.client()  # for the teardown's DROP DATABASE
    finally:
        stop_all([worker])
        publisher.join(60)


# -- 4 ------------------------------------------------------------------------------------

def candidate_fabrics(partitions: int, first_seed: int = 400) -> dict[int, object]:
    """One 4x2x8 fabric per partition number (the seed makes the name, the name the partition)."""
    found: dict[int, object] = {}
    seed = first_seed
    while len(found) < partitions:
        inventory = build_fabric(planes=4, racks=2, servers_per_rack=8, seed=seed)
        found.setdefault(partition_for(inventory.fabric, partitions), (seed, inventory))
        seed += 1
        assert seed < first_seed + 500
    return found


def group_assignment(broker: KafkaBroker, group: str) -> list[set[int]] | None:
    """Input partitions per member of a stable group (None while it rebalances)."""
    import logging

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # it cannot decode Faust's member metadata, and says so
    admin = broker.admin()
    try:
        return group_input_partitions(admin, group)
    finally:
        admin.close()


def test_two_workers_find_and_store_exactly_what_one_worker_does(
        kafka_broker: KafkaBroker, clickhouse_server: ClickHouseServer, pipelines, partitions: int, tmp_path: Path):
    candidates = candidate_fabrics(partitions)
    paths = [write_inventory(tmp_path, inventory) for _, inventory in candidates.values()]
    one = pipelines("one", clickhouse_server)
    two = pipelines("two", clickhouse_server)
    single = one.worker("a", paths)
    pair = [two.worker("b1", paths), two.worker("b2", paths)]
    workers = [single, *pair]
    try:
        for worker in workers:
            worker.start()
        members = wait_until(lambda: (m := group_assignment(kafka_broker, two.app_id)) and len(m) == 2 and all(m) and m,
                             60, "both workers of run B to hold partitions", workers=workers)
        # Precondition: two fabrics on partitions that different workers hold.
        first = min(members[0])
        second = min(members[1])
        assert first != second
        chosen = [candidates[first], candidates[second]]
        fabric_names = [inventory.fabric for _, inventory in chosen]
        assert partition_for(fabric_names[0], partitions) != partition_for(fabric_names[1], partitions)

        start = now_on_tick()
        published: dict[str, int] = {}
        for seed, inventory in chosen:
            simulator = plane_down_simulator(inventory, seed, start)
            records: list[Record] = simulator.run(300)
            for table, n in expected_counts(publish_all(kafka_broker.bootstrap, inventory.fabric, records)).items():
                published[table] = published.get(table, 0) + n

        for pipeline in (one, two):
            wait_until(lambda: without_findings(try_table_counts(pipeline.client, pipeline.database, fabric_names)) == published
                       and len(findings(pipeline.client, pipeline.database, fabric_names)) >= 4,
                       120, f"every record and the findings of both fabrics in {pipeline.database}", workers=workers,
                       details=lambda: f"published {published}\nstored {try_table_counts(pipeline.client, pipeline.database, fabric_names)}")
        assert group_assignment(kafka_broker, two.app_id) == members, "no rebalance in between"

        processed = []
        for worker in pair:
            text = worker.text()
            processed.append({name for name in fabric_names if f"fabric {name}: no saved detector state" in text})
        assert processed[0] and processed[1] and processed[0].isdisjoint(processed[1]), processed
        assert processed[0] | processed[1] == set(fabric_names)
        assert all(f"fabric {name}: no saved detector state" in single.text() for name in fabric_names)

        found_one = findings(one.client, one.database, fabric_names)
        found_two = findings(two.client, two.database, fabric_names)
        assert found_one == found_two
        assert sorted((fabric, kind, plane, status) for fabric, kind, plane, _, status, _, _ in found_one) == sorted(
            (name, kind, plane, status) for name in fabric_names for kind, plane, status in PLANE_DOWN)
        assert table_counts(one.client, one.database, fabric_names) == table_counts(two.client, two.database, fabric_names)
    finally:
        stop_all(workers)

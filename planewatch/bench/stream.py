"""End-to-end distributed-mode throughput: collector -> Kafka -> Faust (``planewatch stream``) -> ClickHouse.

The issue's question: how many records per second does the whole pipeline carry on this
machine with one stream worker and with two, and how far behind does Kafka's consumer
lag run during a plane-failure storm at 20,000 servers?

For each worker count the benchmark:

1. creates a fresh pipeline on the *running* Kafka and ClickHouse it is given: a new
   ``--app-id`` (consumer group and state topic) and a new database, through
   ``planewatch init``; the group's offsets are set to the current end of the input
   topics first, so records already on the shared topics are not read;
2. starts the ``planewatch stream`` worker(s) as subprocesses and waits until Kafka has
   given every worker its partitions; then picks the fabrics so that, with two workers,
   each worker owns one (workers split the work by fabric = partition);
3. publishes the simulator's records (``--servers`` split over ``--fabrics``, with plane 2
   down for the middle half of ``--duration`` simulated seconds: the storm of session-down
   records, port-down records and the recovery) through the collectors'
   :class:`~planewatch.kafka.KafkaPublisher` as fast as it takes them (the *collector*
   stage, timed on its own);
4. samples, every second, the consumer lag (``list_group_offsets`` against the
   end offsets, summed over the input partitions) and the rows ClickHouse holds, until
   every published record is a row (end to end = rows / time from the first publish to
   the last row seen) and the lag is back to 0;
5. checks that the rows equal the records published (control records excepted); a
   benchmark that lost or duplicated data says so and fails.

The **reference**, measured in the same run on the same messages: a plain kafka-python
consumer reading the first run's messages back (no decoding, no detectors, no ClickHouse)
and, with the collector stage's time, the rate of producing and then consuming them with
kafka-python -- the transport cost with no work done.

Records are generated before the clock starts (generating is not collecting). The
benchmark never starts Kafka or ClickHouse; it drops its databases, state topics and
consumer groups when it is done (the records stay on the shared input topics until
their retention expires).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

from planewatch.kafka.admin import group_input_partitions
from planewatch.schemas.records import Finding, Record
from planewatch.schemas.topics import INPUT_TOPICS, key_for, state_changelog_topic

__all__ = ["StreamBenchError", "StreamBenchResult", "StreamRun", "run_stream_bench", "fabric_shape"]

START_TS = 1_767_225_600.0
FAILED_PLANE = 2
DEFAULT_PARTITIONS = 2
"""Partitions of the topics when the benchmark has to create them (one per fabric at the default --fabrics)."""
STORED_TABLES_EXCLUDED = {Finding}


class StreamBenchError(RuntimeError):
    """The benchmark could not run (a service, a worker, the topic layout); the message says what happened."""


@dataclasses.dataclass
class StreamRun:
    """One worker count's figures."""

    workers: int
    fabrics: list[str]
    partitions: dict[str, int]
    """Fabric -> its Kafka partition."""
    owners: dict[str, int]
    """Fabric -> which worker (0-based) Kafka gave its partition to."""
    published: int = 0
    expected_rows: int = 0
    publish_seconds: float = 0.0
    end_to_end_seconds: float = 0.0
    rows: int = 0
    findings: int = 0
    max_lag: int = 0
    max_lag_at: float = 0.0
    lag_at_last_row: int | None = None
    final_lag: int | None = None
    lag_zero_after: float | None = None
    dropped: int = 0
    start_offsets: dict[Any, int] = dataclasses.field(default_factory=dict)
    end_offsets: dict[Any, int] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def publish_rate(self) -> float:
        return self.published / self.publish_seconds if self.publish_seconds > 0 else 0.0

    @property
    def rate(self) -> float:
        """End-to-end records/s: rows stored / time from the first publish to the last row seen."""
        return self.rows / self.end_to_end_seconds if self.end_to_end_seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclasses.dataclass
class StreamBenchResult:
    servers: int
    planes: int
    simulated_seconds: float
    topic_partitions: int
    runs: list[StreamRun]
    reference_messages: int = 0
    reference_consume_seconds: float = 0.0
    reference_produce_seconds: float = 0.0

    @property
    def consume_rate(self) -> float:
        return self.reference_messages / self.reference_consume_seconds if self.reference_consume_seconds > 0 else 0.0

    @property
    def round_trip_rate(self) -> float:
        """kafka-python producing (the collector stage) then consuming the same messages, one after the other."""
        total = self.reference_produce_seconds + self.reference_consume_seconds
        return self.reference_messages / total if total > 0 else 0.0

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)


# -- the fabrics ---------------------------------------------------------------------------


def fabric_shape(servers: int) -> tuple[int, int]:
    """(racks, servers_per_rack) for ``servers`` servers: 80 per rack at pod scale, at least two racks when possible."""
    if servers < 1:
        raise ValueError("a fabric needs at least one server")
    if servers == 1:
        return 1, 1
    for per_rack in range(min(80, servers // 2), 0, -1):
        if servers % per_rack == 0:
            return servers // per_rack, per_rack
    return 1, servers


def partition_of(fabric: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key, as kafka-python and aiokafka do) gives a fabric."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key_for(fabric)) & 0x7FFFFFFF) % partitions


def fabric_name(planes: int, racks: int, per_rack: int, seed: int) -> str:
    return f"sim-{planes}x{racks}x{per_rack}-s{seed}"


def candidate_seeds(planes: int, racks: int, per_rack: int, partitions: int) -> dict[int, int]:
    """Partition -> the smallest seed (>= 1) whose simulated fabric lands on it."""
    found: dict[int, int] = {}
    seed = 1
    while len(found) < partitions and seed < 100_000:
        found.setdefault(partition_of(fabric_name(planes, racks, per_rack, seed), partitions), seed)
        seed += 1
    return found


# -- services -------------------------------------------------------------------------------


class _Services:
    """kafka-python admin and a consumer for offsets, and ClickHouse, for the benchmark's own questions."""

    def __init__(self, kafka_settings: Any, clickhouse: str, environ: dict[str, str]) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.kafka_settings = kafka_settings
        self.clickhouse = clickhouse
        self.environ = environ
        config = kafka_settings.client_config()
        self.admin = KafkaAdminClient(**config, client_id="planewatch-bench-admin", request_timeout_ms=30_000)
        self.offsets = KafkaConsumer(**config, client_id="planewatch-bench-offsets", group_id=None,
                                     enable_auto_commit=False)
        self.lock = threading.Lock()

    def close(self) -> None:
        for client in (self.offsets, self.admin):
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass

    def topic_partitions(self) -> int | None:
        """The input topics' partition count, or None when they do not exist yet."""
        with self.lock:
            existing = set(self.admin.list_topics())
            present = [t for t in INPUT_TOPICS if t in existing]
            if not present:
                return None
            counts = {t["name"]: len(t["partitions"]) for t in self.admin.describe_topics(present)}
        if len(set(counts.values())) != 1:
            raise StreamBenchError(f"input topics have different partition counts: {counts}")
        return next(iter(counts.values()))

    def input_partitions(self, partitions: int) -> list[Any]:
        from kafka import TopicPartition

        return [TopicPartition(topic, p) for topic in INPUT_TOPICS for p in range(partitions)]

    def end_offsets(self, tps: Sequence[Any]) -> dict[Any, int]:
        with self.lock:
            return dict(self.offsets.end_offsets(list(tps)))

    def group_offsets(self, group: str) -> dict[Any, int]:
        with self.lock:
            offsets = self.admin.list_group_offsets({group: None}).get(group, {})
        return {tp: meta.offset for tp, meta in offsets.items()}

    def lag(self, group: str, tps: Sequence[Any]) -> int:
        ends = self.end_offsets(tps)
        committed = self.group_offsets(group)
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())

    def start_group_at_end(self, group: str, tps: Sequence[Any]) -> dict[Any, int]:
        """Commit the (empty) group's offsets at the topics' current end: records already there are not the benchmark's."""
        from kafka.structs import OffsetAndMetadata

        from kafka.errors import CoordinatorNotAvailableError, NotCoordinatorError

        ends = self.end_offsets(tps)
        deadline = time.monotonic() + 60.0
        while True:  # a fresh broker creates __consumer_offsets on the first group request
            try:
                with self.lock:
                    errors = self.admin.alter_group_offsets(
                        group, {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in ends.items()})
                break
            except (CoordinatorNotAvailableError, NotCoordinatorError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        failed = {str(tp): err.__name__ for tp, err in errors.items() if getattr(err, "errno", 0)}
        if failed:
            raise StreamBenchError(f"cannot set the offsets of consumer group {group}: {failed}")
        return ends

    def group_assignment(self, group: str) -> list[set[int]] | None:
        """Partition numbers per member of the group when it is Stable, else None."""
        with self.lock:
            return group_input_partitions(self.admin, group)

    def delete_group(self, group: str) -> None:
        with self.lock:
            self.admin.delete_groups([group])

    def delete_topics(self, names: Sequence[str]) -> None:
        with self.lock:
            existing = set(self.admin.list_topics())
            doomed = [n for n in names if n in existing]
            if doomed:
                self.admin.delete_topics(doomed)

    def store(self, database: str) -> Any:
        import logging

        from planewatch.store.server import ClickHouseSettings, ServerStore

        logging.getLogger("planewatch.store.server").setLevel(logging.ERROR)  # the workers say it in their logs
        logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
        return ServerStore.connect(ClickHouseSettings.from_env(self.clickhouse, database, environ=self.environ))


def _record_tables() -> list[str]:
    from planewatch.schemas.records import ALL_RECORDS

    return [cls.TABLE for cls in ALL_RECORDS if cls.TABLE and cls not in STORED_TABLES_EXCLUDED]


def _stored_rows_sql(database: str) -> str:
    """Rows in the record tables (findings excluded) from system.parts: cheap enough to ask every 0.2 s."""
    tables = ", ".join(f"'{t}'" for t in _record_tables())
    return f"SELECT sum(rows) FROM system.parts WHERE active AND database = '{database}' AND table IN ({tables})"


# -- the worker processes --------------------------------------------------------------------


class _Workers:
    """``planewatch stream`` subprocesses, each in its own session, stopped by PID."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        with log.open("ab") as handle:
            self.processes.append(subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True))
        self.logs.append(log)

    def dead(self) -> list[str]:
        problems = []
        for process, log in zip(self.processes, self.logs):
            if process.poll() is not None:
                problems.append(f"worker pid {process.pid} exited with {process.returncode}:\n{_tail(log)}")
        return problems

    def stop(self, timeout: float = 30.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes = []


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- sampling ---------------------------------------------------------------------------------


class _Sampler(threading.Thread):
    """Rows in ClickHouse every 0.2 s and the consumer lag every second, from a thread of its own."""

    def __init__(self, services: _Services, store: Any, database: str, group: str, tps: Sequence[Any], t0: float) -> None:
        super().__init__(name="planewatch-bench-sampler", daemon=True)
        self.services, self.store, self.group, self.tps = services, store, group, list(tps)
        self.sql = _stored_rows_sql(database)
        self.t0 = t0
        self.rows = 0
        self.rows_at = 0.0
        """Seconds after t0 at which ``rows`` was first seen."""
        self.lag: int | None = None
        self.lags: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        next_lag = 0.0
        while not self.halt.is_set():
            now = time.perf_counter()
            try:
                rows = int(self.store.rows(self.sql)[0][0] or 0)
                if rows != self.rows:
                    self.rows, self.rows_at = rows, time.perf_counter() - self.t0
            except Exception as error:  # noqa: BLE001 - reported, the run goes on
                self.errors.append(f"clickhouse: {error}")
            if now >= next_lag:
                next_lag = now + 1.0
                try:
                    self.lag = self.services.lag(self.group, self.tps)
                    self.lags.append((time.perf_counter() - self.t0, self.lag))
                except Exception as error:  # noqa: BLE001
                    self.errors.append(f"kafka lag: {error}")
            self.halt.wait(0.2)


# -- the benchmark ---------------------------------------------------------------------------


def _run_cli(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "planewatch", *args], capture_output=True, text=True, env=env,
                            timeout=300)
    if result.returncode != 0:
        raise StreamBenchError(f"planewatch {args[0]} failed ({result.returncode}): {result.stdout}{result.stderr}".strip())
    return result.stdout


def _publish(kafka_settings: Any, batches: dict[str, list[list[Record]]], total: int,
             progress: Callable[[int], None]) -> tuple[float, int]:
    """Publish every fabric's records through one KafkaPublisher per fabric; (seconds until all acknowledged, dropped)."""
    from planewatch.kafka import KafkaPublisher

    async def main() -> tuple[float, int]:
        publishers = {fabric: KafkaPublisher(kafka_settings, fabric, max_buffered_records=total + 1,
                                             client_id="planewatch-bench-collect") for fabric in batches}
        try:
            t0 = time.perf_counter()
            longest = max(len(b) for b in batches.values())
            for tick in range(longest):  # the fabrics' collectors publish side by side, tick after tick
                for fabric, ticks in batches.items():
                    if tick < len(ticks):
                        await publishers[fabric].publish(ticks[tick])
            last_report = t0
            while True:
                statuses = [p.status() for p in publishers.values()]
                sent = sum(int(s["sent"]) for s in statuses)  # type: ignore[call-overload]
                dropped = sum(int(s["dropped"]) for s in statuses)  # type: ignore[call-overload]
                if sent + dropped >= total:
                    return time.perf_counter() - t0, dropped
                if time.perf_counter() - last_report >= 5.0:
                    last_report = time.perf_counter()
                    progress(sent)
                await asyncio.sleep(0.02)
        finally:
            for publisher in publishers.values():
                await publisher.close(timeout=30.0)

    return asyncio.run(main())


def run_stream_bench(
    kafka: str,
    clickhouse: str,
    *,
    servers: int = 20_000,
    fabrics: int = 2,
    planes: int = 4,
    duration: float = 60.0,
    workers: Sequence[int] = (1, 2),
    partitions: int = DEFAULT_PARTITIONS,
    checkpoint_every: float = 5.0,
    stall_timeout: float = 120.0,
    keep: bool = False,
    out: Callable[[str], None] = print,
) -> StreamBenchResult:
    """Run the pipeline once per worker count on the given services; print progress and every figure."""
    from planewatch.kafka import KafkaSettings

    if servers < fabrics:
        raise StreamBenchError(f"--servers {servers} cannot make {fabrics} fabrics")
    environ = dict(os.environ)
    kafka_settings = KafkaSettings.from_env(kafka, environ)
    per_fabric = servers // fabrics
    racks, per_rack = fabric_shape(per_fabric)
    total_servers = racks * per_rack * fabrics
    services = _Services(kafka_settings, clickhouse, environ)
    workdir = Path(tempfile.mkdtemp(prefix="planewatch-bench-stream-"))
    tag = uuid.uuid4().hex[:8]
    pipelines: list[tuple[str, str]] = []  # (app id, database) to clean up
    running = _Workers()
    try:
        existing = services.topic_partitions()
        topic_partitions = existing or partitions
        out(f"fabric: {total_servers:,} servers = {fabrics} fabric(s) of {racks} racks x {per_rack} servers, "
            f"{planes} planes; {duration:g}s simulated with plane {min(FAILED_PLANE, planes)} down from "
            f"+{duration / 4:g}s for {duration / 2:g}s")
        out(f"kafka {kafka_settings.target}: input topics "
            + (f"exist with {existing} partitions" if existing else f"will be created with {partitions} partitions")
            + f"; clickhouse {clickhouse}")
        if topic_partitions < fabrics:
            out(f"  note: {topic_partitions} partitions for {fabrics} fabrics: some fabrics share a partition (and a worker)")
        seeds = candidate_seeds(planes, racks, per_rack, topic_partitions)
        inventory_files: dict[str, Path] = {}
        generated: dict[str, tuple[list[list[Record]], int, int]] = {}
        wall = time.perf_counter()
        out(f"generating inventories of {len(seeds)} candidate fabric(s) (one per partition) ...")
        from planewatch.simulator import build_fabric

        names: dict[int, str] = {}
        for partition, seed in sorted(seeds.items()):
            inventory = build_fabric(planes=planes, racks=racks, servers_per_rack=per_rack, seed=seed)
            if partition_of(inventory.fabric, topic_partitions) != partition:
                raise StreamBenchError(f"fabric {inventory.fabric!r} is not on partition {partition}: "
                                       "the simulator names fabrics differently than this benchmark expects")
            path = workdir / f"{inventory.fabric}.json"
            path.write_text(json.dumps(inventory.document.model_dump(mode="json", exclude_none=True)))
            inventory_files[inventory.fabric] = path
            names[partition] = inventory.fabric
        out(f"  done in {time.perf_counter() - wall:.1f}s")

        def records_of(fabric: str) -> tuple[list[list[Record]], int, int]:
            if fabric not in generated:
                seed = seeds[partition_of(fabric, topic_partitions)]
                began = time.perf_counter()
                from planewatch.simulator import Simulator, Fault

                inventory = build_fabric(planes=planes, racks=racks, servers_per_rack=per_rack, seed=seed)
                plane = FAILED_PLANE if FAILED_PLANE <= planes else planes
                simulator = Simulator(inventory, [Fault("plane-down", at=duration / 4, duration=duration / 2, plane=plane)],
                                      start_ts=START_TS, seed=seed)
                ticks = [simulator.step() for _ in range(max(1, round(duration / simulator.tick)))]
                count = sum(len(t) for t in ticks)
                stored = sum(1 for t in ticks for r in t if type(r).TABLE is not None)
                generated[fabric] = (ticks, count, stored)
                out(f"  generated {count:,} records for {fabric} in {time.perf_counter() - began:.1f}s (untimed)")
            return generated[fabric]

        result = StreamBenchResult(servers=total_servers, planes=planes, simulated_seconds=duration,
                                   topic_partitions=topic_partitions, runs=[])
        env = {**environ, "PYTHONUNBUFFERED": "1"}
        for count in workers:
            app_id, database = f"pwbench-{tag}-{count}w", f"pwbench_{tag}_{count}w"
            pipelines.append((app_id, database))
            out(f"[{count} worker{'s' if count > 1 else ''}] planewatch init --app-id {app_id} --database {database}")
            _run_cli(["init", "--kafka", kafka, "--clickhouse", clickhouse, "--partitions", str(topic_partitions),
                      "--app-id", app_id, "--database", database], env)
            tps = services.input_partitions(topic_partitions)
            services.start_group_at_end(app_id, tps)
            command = [sys.executable, "-m", "planewatch", "stream", "--kafka", kafka, "--clickhouse", clickhouse,
                       "--app-id", app_id, "--database", database, "--web-port", "0",
                       "--checkpoint-every", str(checkpoint_every), "--session-timeout", "10", "--log-level", "warning"]
            for path in inventory_files.values():
                command += ["-i", str(path)]
            running = _Workers()
            for index in range(count):
                running.start([*command, "--workdir", str(workdir / f"{app_id}-{index}")],
                              workdir / f"{app_id}-{index}.log", env)
            out(f"  started {count} planewatch stream worker(s) (pids {', '.join(str(p.pid) for p in running.processes)}); "
                "waiting for Kafka to assign their partitions ...")
            owned = _wait_for_assignment(services, app_id, count, running, timeout=180.0)
            chosen, owners = _choose_fabrics(owned, names, fabrics)
            run = StreamRun(workers=count, fabrics=chosen, partitions={f: partition_of(f, topic_partitions) for f in chosen},
                            owners=owners)
            out("  fabrics: " + ", ".join(f"{f} (partition {run.partitions[f]}, worker {owners[f] + 1})" for f in chosen))
            batches = {}
            for fabric in chosen:
                ticks, n, stored = records_of(fabric)
                batches[fabric] = ticks
                run.published += n
                run.expected_rows += stored
            run.start_offsets = services.end_offsets(tps)
            _measure(run, services, database, app_id, tps, kafka_settings, batches, running, checkpoint_every,
                     stall_timeout, out)
            run.end_offsets = services.end_offsets(tps)
            running.stop()
            result.runs.append(run)
        if result.runs:
            _reference(result, services, kafka_settings, out)
        _print_table(result, out)
        return result
    finally:
        running.stop()
        if not keep:
            for app_id, database in pipelines:
                try:
                    store = services.store("default")
                    try:
                        store.rows(f"DROP DATABASE IF EXISTS {database}")
                    finally:
                        store.close()
                except Exception:  # noqa: BLE001 - best effort; say what is left
                    out(f"  (could not drop ClickHouse database {database})")
                try:
                    services.delete_topics([state_changelog_topic(app_id)])
                    services.delete_group(app_id)
                except Exception:  # noqa: BLE001
                    pass
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            out(f"kept: databases {', '.join(d for _, d in pipelines)}; worker logs in {workdir}")
        services.close()


def _wait_for_assignment(services: _Services, group: str, count: int, running: _Workers, timeout: float) -> list[set[int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = running.dead()
        if dead:
            raise StreamBenchError("; ".join(dead))
        try:
            owned = services.group_assignment(group)
        except Exception:  # noqa: BLE001 - the group is not there yet
            owned = None
        if owned is not None and len(owned) == count:
            return owned
        time.sleep(0.5)
    raise StreamBenchError(f"{count} worker(s) did not all join consumer group {group} within {timeout:.0f}s:\n"
                           + "\n".join(_tail(log) for log in running.logs))


def _choose_fabrics(owned: list[set[int]], names: dict[int, str], fabrics: int) -> tuple[list[str], dict[str, int]]:
    """``fabrics`` fabrics spread over the workers in turn, each on a partition its worker owns."""
    pools = [sorted(p for p in parts if p in names) for parts in owned]
    chosen: list[str] = []
    owners: dict[str, int] = {}
    worker = 0
    while len(chosen) < min(fabrics, len(names)):
        for _ in range(len(pools)):
            if pools[worker]:
                break
            worker = (worker + 1) % len(pools)
        else:
            break
        fabric = names[pools[worker].pop(0)]
        chosen.append(fabric)
        owners[fabric] = worker
        worker = (worker + 1) % len(pools)
    return chosen, owners


def _measure(run: StreamRun, services: _Services, database: str, group: str, tps: Sequence[Any], kafka_settings: Any,
             batches: dict[str, list[list[Record]]], running: _Workers, checkpoint_every: float,
             stall_timeout: float, out: Callable[[str], None]) -> None:
    label = f"  [{run.workers}w]"
    store = services.store(database)
    t0 = time.perf_counter()
    sampler = _Sampler(services, store, database, group, tps, t0)
    sampler.start()
    try:
        def progress(sent: int) -> None:
            out(f"{label} {time.perf_counter() - t0:6.1f}s  published {sent:,}/{run.published:,}  "
                f"stored {sampler.rows:,}/{run.expected_rows:,}  lag {sampler.lag if sampler.lag is not None else '?':,}")

        out(f"{label} publishing {run.published:,} records ({run.expected_rows:,} to be stored) ...")
        run.publish_seconds, run.dropped = _publish(kafka_settings, batches, run.published, progress)
        if run.dropped:
            run.problems.append(f"the publisher dropped {run.dropped:,} records")
        out(f"{label} {time.perf_counter() - t0:6.1f}s  all published ({run.publish_rate:,.0f} records/s); "
            "waiting for ClickHouse ...")
        last_rows, last_change, last_report = -1, time.perf_counter(), time.perf_counter()
        while sampler.rows < run.expected_rows:
            time.sleep(0.2)
            now = time.perf_counter()
            if sampler.rows != last_rows:
                last_rows, last_change = sampler.rows, now
            if now - last_report >= 5.0:
                last_report = now
                progress(run.published - run.dropped)
            dead = running.dead()
            if dead:
                run.problems.append("; ".join(dead))
                break
            if now - last_change > stall_timeout:
                run.problems.append(f"no new rows for {stall_timeout:.0f}s")
                break
        run.end_to_end_seconds = sampler.rows_at
        run.lag_at_last_row = sampler.lag
        out(f"{label} {sampler.rows_at:6.1f}s  {sampler.rows:,} rows stored; waiting for the lag to drain ...")
        deadline = time.perf_counter() + max(30.0, checkpoint_every * 4)
        while time.perf_counter() < deadline:
            lags = sampler.lags
            if lags and lags[-1][1] == 0 and lags[-1][0] > sampler.rows_at:
                run.lag_zero_after = lags[-1][0]
                break
            time.sleep(0.25)
    finally:
        sampler.halt.set()
        sampler.join(10.0)
    run.final_lag = sampler.lag
    if sampler.lags:
        at, peak = max(sampler.lags, key=lambda item: item[1])
        run.max_lag, run.max_lag_at = peak, at
    for error in sampler.errors[:3]:
        out(f"{label} sampling error: {error}")
    tables = _record_tables()
    try:
        run.rows = sum(int(store.rows(f"SELECT count() FROM {database}.{t}")[0][0]) for t in tables)
        run.findings = int(store.rows(f"SELECT count() FROM {database}.{Finding.TABLE}")[0][0])
    finally:
        store.close()
    if run.rows != run.expected_rows:
        what = "LOST" if run.rows < run.expected_rows else "DUPLICATED"
        run.problems.append(f"{what} data: {run.rows:,} rows in ClickHouse for {run.expected_rows:,} records published")
    if run.final_lag:
        run.problems.append(f"consumer lag still {run.final_lag:,} at the end")
    out(f"{label} end to end {run.rate:,.0f} records/s ({run.rows:,} rows in {run.end_to_end_seconds:.1f}s); "
        f"max lag {run.max_lag:,} at +{run.max_lag_at:.0f}s; final lag {run.final_lag if run.final_lag is not None else '?'}"
        + (f" (0 after {run.lag_zero_after:.1f}s)" if run.lag_zero_after is not None else ""))
    for problem in run.problems:
        out(f"{label} PROBLEM: {problem}")


def _reference(result: StreamBenchResult, services: _Services, kafka_settings: Any, out: Callable[[str], None]) -> None:
    """A plain kafka-python consumer reads the first run's messages back: the transport with no work done."""
    from kafka import KafkaConsumer

    run = result.runs[0]
    ranges = {tp: (run.start_offsets[tp], run.end_offsets.get(tp, run.start_offsets[tp])) for tp in run.start_offsets}
    ranges = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
    if not ranges:
        return
    out("reference: one plain kafka-python consumer reads the same messages back (no decode, no detectors, no store) ...")
    consumer = KafkaConsumer(**kafka_settings.client_config(), client_id="planewatch-bench-reference", group_id=None,
                             enable_auto_commit=False, max_poll_records=5000)
    try:
        consumer.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            consumer.seek(tp, start)
        wanted = sum(end - start for start, end in ranges.values())
        got = 0
        t0 = time.perf_counter()
        deadline = time.monotonic() + 600
        while got < wanted and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                end = ranges[tp][1]
                got += sum(1 for m in batch if m.offset < end)
        seconds = time.perf_counter() - t0
    finally:
        consumer.close()
    result.reference_messages = got
    result.reference_consume_seconds = seconds
    result.reference_produce_seconds = run.publish_seconds * (got / run.published) if run.published else 0.0
    out(f"  {got:,} messages in {seconds:.1f}s: {result.consume_rate:,.0f} messages/s consumed; "
        f"produce (collector stage) then consume: {result.round_trip_rate:,.0f} records/s")


def _print_table(result: StreamBenchResult, out: Callable[[str], None]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"planewatch stream end to end: {result.servers:,} servers, plane-failure storm, "
                        f"{result.topic_partitions} partitions", title_justify="left")
    for column in ("workers", "records", "collector publish", "end to end", "max lag", "final lag", "rows stored", "findings"):
        table.add_column(column, justify="right" if column != "workers" else "left")
    for run in result.runs:
        table.add_row(
            f"{run.workers} worker{'s' if run.workers > 1 else ''}", f"{run.published:,}",
            f"{run.publish_rate:,.0f}/s", f"{run.rate:,.0f}/s", f"{run.max_lag:,}",
            f"{run.final_lag:,}" if run.final_lag is not None else "?",
            f"{run.rows:,}/{run.expected_rows:,}" + ("" if run.rows == run.expected_rows else " !"), f"{run.findings:,}",
        )
    if result.reference_messages:
        table.add_row("reference: kafka-python consume", f"{result.reference_messages:,}", "", f"{result.consume_rate:,.0f}/s",
                      "", "", "", "")
        table.add_row("reference: produce then consume", f"{result.reference_messages:,}", "",
                      f"{result.round_trip_rate:,.0f}/s", "", "", "", "")
    buffer = io.StringIO()
    Console(file=buffer, width=140, force_terminal=False, color_system=None).print(table)
    out(buffer.getvalue().rstrip())
    for run in result.runs:
        out(f"{run.workers} worker{'s' if run.workers > 1 else ''}: {run.rate:,.0f} records/s end to end; "
            f"lag: max {run.max_lag:,} (at +{run.max_lag_at:.0f}s), final {run.final_lag if run.final_lag is not None else '?'}"
            + ("" if run.ok else " - FAILED: " + "; ".join(run.problems)))
    by_count = {run.workers: run for run in result.runs}
    cores = os.cpu_count() or 1
    if 1 in by_count and 2 in by_count and by_count[1].rate > 0:
        ratio = by_count[2].rate / by_count[1].rate
        out(f"two workers / one worker: {ratio:.2f}x. On this {cores}-core machine the two workers share the cores with "
            "Kafka, ClickHouse and the collector, so this ratio measures contention, not scaling: "
            + ("a second worker buys throughput here" if ratio >= 1.15 else
               "a second worker buys little or nothing here") +
            "; with a core per worker (and the services elsewhere) each fabric's worker runs at the one-worker rate.")
    if result.round_trip_rate > 0 and result.runs:
        best = max(result.runs, key=lambda r: r.rate)
        out(f"end to end ({best.workers} worker{'s' if best.workers > 1 else ''}) / kafka-python produce-then-consume "
            f"reference: {best.rate / result.round_trip_rate:.2f}x (1.0 = the pipeline costs no more than moving the "
            "messages through Kafka in Python; the rest is decoding, detection and the ClickHouse writes)")
    out("verdict: " + ("OK, every published record is a row in ClickHouse" if result.ok else
                       "FAILED: " + "; ".join(f"{r.workers}w: {p}" for r in result.runs for p in r.problems)))

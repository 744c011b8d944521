"""Helpers of the end-to-end stream tests: `planewatch init`/`stream` as subprocesses, publishing, ClickHouse checks.

Every worker is a child process in its own session (so ``kill -9`` really kills it and its
children), started and stopped by PID. The input topics are shared by every test of the
session (their names are fixed), so each test uses fabrics of its own (other seeds) and
every ClickHouse check filters on the test's fabrics.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from planewatch.inventory import Inventory
from planewatch.kafka.publisher import KafkaPublisher
from planewatch.kafka.settings import KafkaSettings
from planewatch.schemas.records import INVENTORY_RECORDS, STORED_RECORDS, Record
from planewatch.schemas.topics import INPUT_TOPICS
from services.clickhouse import ClickHouseServer

PLANEWATCH = [sys.executable, "-m", "planewatch"]
TABLES = [cls.TABLE for cls in STORED_RECORDS if cls not in INVENTORY_RECORDS]
"""The tables records and findings go to (the inventory rows a worker writes on taking a fabric are not counted)."""
STREAM_OPTIONS = ["--web-port", "0", "--session-timeout", "6", "--checkpoint-every", "2"]


from services.pipeline import clickhouse_env, existing_partitions  # noqa: E402,F401

# -- processes ---------------------------------------------------------------------------

def write_inventory(directory: Path, inventory: Inventory) -> Path:
    path = directory / f"{inventory.fabric}.yaml"
    path.write_text(yaml.safe_dump(inventory.document.model_dump(mode="json")))
    return path


def init_pipeline(bootstrap: str, server: ClickHouseServer, *, app_id: str, database: str, partitions: int,
                  directory: Path) -> None:
    """``planewatch init`` for this app id and database (topics, changelog, tables)."""
    run = subprocess.run([*PLANEWATCH, "init", "--kafka", bootstrap, "--clickhouse", f"{server.host}:{server.port}",
                          "--partitions", str(partitions), "--app-id", app_id, "--database", database],
                         capture_output=True, text=True, timeout=120, env=clickhouse_env(server, directory))
    assert run.returncode == 0, f"planewatch init failed ({run.returncode}):\n{run.stdout}{run.stderr}"


def partition_for(fabric: str, partitions: int) -> int:
    """kafka-python's default partitioner (murmur2 of the key), as KafkaPublisher uses it."""
    from kafka.partitioner.default import murmur2

    return (murmur2(fabric.encode("utf-8")) & 0x7FFFFFFF) % partitions


class Worker:
    """One ``planewatch stream`` child process; its stderr/stdout go to ``log``."""

    def __init__(self, name: str, bootstrap: str, server: ClickHouseServer, *, app_id: str, database: str,
                 inventories: Sequence[Path], directory: Path, extra: Sequence[str] = ()):
        self.name = name
        self.log = directory / f"worker-{name}.log"
        self.command = [*PLANEWATCH, "stream", "--kafka", bootstrap, "--clickhouse", f"{server.host}:{server.port}",
                        *[arg for path in inventories for arg in ("-i", str(path))],
                        "--workdir", str(directory / f"workdir-{app_id}"), "--app-id", app_id, "--database", database,
                        *STREAM_OPTIONS, *extra]
        self.env = clickhouse_env(server, directory)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> "Worker":
        assert not self.running, f"worker {self.name} already runs"
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"==== start #{self.starts} ====\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env, start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL its whole process group at once: a crash, nothing flushed, nothing committed."""
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after 20 s; always safe to call (used in ``finally``)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        except ProcessLookupError:
            pass

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return f"--- worker {self.name} log tail ---\n" + "\n".join(self.text().splitlines()[-lines:])

    def check_alive(self) -> None:
        assert self.running, f"worker {self.name} exited ({self.process and self.process.returncode}):\n{self.tail()}"


def stop_all(workers: Iterable[Worker]) -> None:
    for worker in workers:
        try:
            worker.stop()
        except Exception:  # noqa: BLE001 - keep stopping the others
            worker.kill9()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, *, every: float = 0.5,
               workers: Sequence[Worker] = (), details: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until truthy (returned); fail saying ``what`` with the workers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            extra = details() if details else ""
            logs = "\n".join(w.tail() for w in workers)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{extra}\n{logs}")
        time.sleep(every)


# -- publishing --------------------------------------------------------------------------

class CountingPublish:
    """A collectors' ``publish`` onto Kafka that counts what it was given, per ClickHouse table."""

    def __init__(self, bootstrap: str, fabric: str):
        self.publisher = KafkaPublisher(KafkaSettings.from_env(bootstrap), fabric)
        self.counts: Counter[str] = Counter()
        self.records = 0

    async def __call__(self, records: Sequence[Record]) -> None:
        for record in records:
            table = type(record).TABLE
            if table is not None:
                self.counts[table] += 1
        self.records += len(records)
        await self.publisher.publish(records)

    async def close(self) -> None:
        await self.publisher.close(30.0)
        status = self.publisher.status()
        assert status.get("dropped", 0) == 0, f"the publisher dropped records: {status}"


class PacedPublisher(threading.Thread):
    """Publishes a direct simulator run onto Kafka in a thread, ``speed`` simulated seconds per real second.

    ``sim_now`` is the event time published so far; ``counts`` what was published per table.
    """

    def __init__(self, bootstrap: str, simulator: Any, seconds: float, speed: float):
        super().__init__(daemon=True, name="paced-publisher")
        self.bootstrap = bootstrap
        self.simulator = simulator
        self.seconds = seconds
        self.speed = speed
        self.fabric = simulator.inventory.fabric
        self.sim_now = simulator.now
        self.counts: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._publish())
        except BaseException as error:  # noqa: BLE001 - reported by join_ok
            self.error = error
        finally:
            self.finished.set()

    async def _publish(self) -> None:
        publish = CountingPublish(self.bootstrap, self.fabric)
        simulator = self.simulator
        start_ts, began = simulator.now, time.monotonic()
        try:
            while simulator.now < start_ts + self.seconds:
                await publish(simulator.step())
                self.sim_now = simulator.now
                due = began + (simulator.now - start_ts) / self.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        finally:
            await publish.close()
            self.counts = publish.counts

    def elapsed(self) -> float:
        """Simulated seconds published so far."""
        return self.sim_now - self.simulator.start_ts

    def join_ok(self, timeout: float = 120.0) -> Counter[str]:
        self.join(timeout)
        assert not self.is_alive(), "the publisher did not finish"
        if self.error is not None:
            raise self.error
        return self.counts


def publish_all(bootstrap: str, fabric: str, records: Sequence[Record]) -> Counter[str]:
    async def run() -> Counter[str]:
        publish = CountingPublish(bootstrap, fabric)
        try:
            for start in range(0, len(records), 5000):
                await publish(records[start:start + 5000])
        finally:
            await publish.close()
        return publish.counts
    return asyncio.run(run())


def committed_offsets(bootstrap: str, group: str) -> int:
    """Sum of the input offsets the consumer group ``group`` (the app id) has committed."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="planewatch-test-e2e", request_timeout_ms=10000)
    try:
        offsets = admin.list_group_offsets(group)
    except Exception:  # noqa: BLE001 - group not there yet
        return 0
    finally:
        admin.close()
    if offsets and all(isinstance(value, dict) for value in offsets.values()):  # {group: {tp: offset}}
        offsets = offsets.get(group, {})
    return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic in INPUT_TOPICS)


# -- ClickHouse ----------------------------------------------------------------------------

def _fabric_filter(fabrics: Sequence[str]) -> str:
    return "fabric IN (" + ", ".join(f"'{f}'" for f in fabrics) + ")"


def table_counts(client: Any, database: str, fabrics: Sequence[str], *, final: bool = True) -> dict[str, int]:
    """Rows per table of ``fabrics`` (``FINAL``: as merged; without: physical rows)."""
    counts = {}
    for table in TABLES:
        rows = client.execute(f"SELECT count() FROM {database}.{table} {'FINAL' if final else ''} "
                              f"WHERE {_fabric_filter(fabrics)}")
        counts[table] = int(rows[0][0])
    return counts


def try_table_counts(client: Any, database: str, fabrics: Sequence[str]) -> dict[str, int] | None:
    try:
        return table_counts(client, database, fabrics)
    except Exception:  # noqa: BLE001 - the server is away (outage test) or busy
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001
            pass
        return None


def optimize(client: Any, database: str) -> None:
    for table in TABLES:
        client.execute(f"OPTIMIZE TABLE {database}.{table} FINAL")


def findings(client: Any, database: str, fabrics: Sequence[str]) -> list[tuple[Any, ...]]:
    """(fabric, kind, plane, subject, status, started_at, ts) of the findings, as merged, in event-time order."""
    return [tuple(row) for row in client.execute(
        f"SELECT fabric, kind, plane, subject, status, started_at, ts FROM {database}.findings FINAL "
        f"WHERE {_fabric_filter(fabrics)} ORDER BY ts, fabric, kind, plane, subject, status")]


def expected_counts(counts: Counter[str]) -> dict[str, int]:
    """Published counts in :func:`table_counts`'s shape (findings excluded: the workers make those)."""
    return {table: counts.get(table, 0) for table in TABLES if table != "findings"}


def without_findings(counts: dict[str, int] | None) -> dict[str, int] | None:
    return None if counts is None else {t: n for t, n in counts.items() if t != "findings"}

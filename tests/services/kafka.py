"""A real Apache Kafka broker for tests: KRaft (broker and controller in one JVM) on 127.0.0.1.

The jars come from ``scripts/deps/kafka.sh`` (``make test`` runs it) into
``/var/cache/planewatch/kafka/libs`` (or ``$PLANEWATCH_KAFKA_LIBS``). Each
:class:`KafkaBroker` has its own free ports and its own data directory, formatted once
with ``kafka.tools.StorageTool format --standalone``; ``stop``/``kill``/``start`` keep the
directory and the ports, so an outage test brings the *same* broker back, with its topics,
offsets and idempotent-producer state, where the clients expect it.

Settings that make a one-node test broker behave: replication factors 1 for Kafka's
internal topics, ``group.initial.rebalance.delay.ms=0`` (a consumer group forms at once),
``auto.create.topics.enable=false`` (a missing topic is an error, as in production where
``planewatch init`` creates them), a small heap.

The session fixture :func:`kafka_broker` starts one broker for the whole pytest run and
stops it by PID at the end; it can optionally serve SASL/PLAIN on a second listener
(:attr:`KafkaBroker.sasl_bootstrap`) for the users in ``SASL_USERS``.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tooling import missing_dependency

from planewatch.schemas.topics import topic_specs
from services.process import ServiceProcess, free_port

KAFKA_LIBS = Path(os.environ.get("PLANEWATCH_KAFKA_LIBS", "/var/cache/planewatch/kafka/libs"))
SESSION_PARTITIONS = 4
"""Partitions of planewatch's record topics on the session broker (created when it starts)."""
SASL_USERS = {"planewatch": "pw-Zq8r-not-a-real-secret"}
"""Users the session broker's SASL/PLAIN listener accepts (test-only credentials)."""

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def kafka_jars_present(libs: Path = KAFKA_LIBS) -> bool:
    return any(libs.glob("kafka_2.13-*.jar")) and shutil.which("java") is not None


def require_kafka(libs: Path = KAFKA_LIBS) -> None:
    """Skip on a developer machine without the broker jars; **fail** in CI, where ``make test`` installs them."""
    if kafka_jars_present(libs):
        return
    message = (f"needs Apache Kafka's jars in {libs} and java (installed by 'make test' through "
               "scripts/deps/kafka.sh; or set PLANEWATCH_KAFKA_LIBS)")
    missing_dependency(message)


def _distinct_free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class KafkaBroker:
    """One KRaft broker+controller child process with a data directory of its own."""

    def __init__(self, workdir: Path, *, heap: str = "384m", sasl_users: dict[str, str] | None = None,
                 libs: Path = KAFKA_LIBS, ready_timeout: float = 60.0):
        self.workdir = workdir
        self.libs = libs
        self._heap = heap
        self.sasl_users = dict(sasl_users or {})
        self.ready_timeout = ready_timeout
        ports = _distinct_free_ports(3 if self.sasl_users else 2)
        self.port, self.controller_port = ports[0], ports[1]
        self.sasl_port = ports[2] if self.sasl_users else None
        self.data_dir = workdir / "data"
        self.config_path = workdir / "server.properties"
        self.log4j_path = workdir / "log4j2.properties"
        self.log_path = workdir / "broker.log"
        self.start_seconds: list[float] = []
        """How long each ``start`` took until the broker answered metadata requests."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._server_properties())
        self.log4j_path.write_text(_LOG4J2)
        self.process = ServiceProcess(
            "kafka", self._java("kafka.Kafka", str(self.config_path)), self.log_path, self.port,
            ready_timeout=ready_timeout,
        )

    # -- addresses -----------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener, ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT (mechanism PLAIN) listener; only when built with ``sasl_users``."""
        if self.sasl_port is None:
            raise RuntimeError("this broker was built without sasl_users: no SASL listener")
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.process is not None and self.process.process.poll() is None

    # -- configuration ---------------------------------------------------------------

    def _java(self, main: str, *args: str) -> list[str]:
        heap = self._heap
        return [
            "java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp", f"{self.libs}/*", main, *args,
        ]

    def _server_properties(self) -> str:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}", f"CONTROLLER://127.0.0.1:{self.controller_port}"]
        advertised = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        extra: list[str] = []
        if self.sasl_port is not None:
            listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}")
            advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}")
            protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
            users = " ".join(f'user_{name}="{password}"' for name, password in self.sasl_users.items())
            extra += [
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
            ]
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={','.join(protocols)}",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "min.insync.replicas=1",
            # After a crash (SIGKILL) the restarted broker cannot register until its previous
            # incarnation's session expires (DUPLICATE_BROKER_REGISTRATION): 3 s, not the default 9 s.
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=3000",
            "num.network.threads=2",
            "num.io.threads=2",
            "log.flush.interval.messages=9223372036854775807",
            *extra,
        ]
        return "\n".join(lines) + "\n"

    def format(self) -> None:
        """``StorageTool format --standalone`` once (``start`` does it if needed): a fresh cluster id, this node the only voter."""
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # one id in 64 starts with "-": as a separate argument argparse would read it as an option
        command = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                             "--config", str(self.config_path), "--standalone")
        command[1:3] = ["-Xms64m", "-Xmx128m"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"kafka StorageTool format failed ({result.returncode}):\n{result.stdout}{result.stderr}")

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart after stop/kill) on the same ports and data; return once it serves metadata."""
        began = time.monotonic()
        self.format()
        self.process.start()
        self._wait_ready(began + self.ready_timeout)
        self.start_seconds.append(time.monotonic() - began)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM by PID (a controlled shutdown), SIGKILL after ``timeout``; the data directory stays."""
        self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL by PID (a crash); the data directory stays, the next start recovers it."""
        self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)

    def _wait_ready(self, deadline: float) -> None:
        from kafka import KafkaAdminClient

        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"kafka exited before it was ready:\n{self.log_tail()}")
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="planewatch-test-ready",
                                         request_timeout_ms=5000, bootstrap_timeout_ms=5000)
                try:
                    brokers = admin.describe_cluster().get("brokers", [])
                finally:
                    admin.close()
                if brokers and not any(b.get("is_fenced") for b in brokers):
                    return
            except Exception as error:  # noqa: BLE001 - any failure means "not yet"
                last_error = error
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"kafka did not become ready ({last_error!r}):\n{self.log_tail()}")

    # -- helpers -------------------------------------------------------------------

    def admin(self):  # type: ignore[no-untyped-def]
        from kafka import KafkaAdminClient

        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="planewatch-test-admin",
                                request_timeout_ms=10000)

    def create_topics(self, names: Iterable[str], partitions: int = 4, *, timeout: float = 30.0) -> None:
        """Create the topics (those that exist are left alone) and wait until each partition has a leader."""
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        names = list(dict.fromkeys(names))
        admin = self.admin()
        try:
            existing = set(admin.list_topics())
            new = [NewTopic(name, partitions, 1) for name in names if name not in existing]
            if new:
                try:
                    admin.create_topics(new, timeout_ms=int(timeout * 1000))
                except TopicAlreadyExistsError:
                    pass
            deadline = time.monotonic() + timeout
            while True:
                described = admin.describe_topics(names)
                ready = [t for t in described if t.get("error_code", 0) == 0 and t.get("partitions")
                         and all(p.get("leader_id", -1) >= 0 for p in t["partitions"])]
                if len(ready) == len(names):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topics not ready after {timeout:.0f} s: {described}")
                time.sleep(0.1)
        finally:
            admin.close()

    def end_offsets(self, topics: Iterable[str]) -> dict:  # type: ignore[type-arg]
        """``{TopicPartition: next offset}`` of every partition: take it before a test publishes, read from it after."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        try:
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            return dict(consumer.end_offsets(partitions))
        finally:
            consumer.close()

    def read_since(self, start: dict, timeout: float = 30.0) -> list:  # type: ignore[type-arg]
        """Every message from ``start`` offsets (see :meth:`end_offsets`) up to the current end, in partition order."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                 max_poll_records=5000)
        try:
            partitions = list(start)
            consumer.assign(partitions)
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            end = consumer.end_offsets(partitions)
            messages: list = []  # type: ignore[type-arg]
            deadline = time.monotonic() + timeout
            while any(consumer.position(tp) < end[tp] for tp in partitions):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"read {len(messages)} messages; partitions not read to their end in {timeout:.0f} s")
                for batch in consumer.poll(timeout_ms=500).values():
                    messages.extend(batch)
            return messages
        finally:
            consumer.close()

    def partition_counts(self, names: Iterable[str]) -> dict[str, int]:
        admin = self.admin()
        try:
            return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(names))}
        finally:
            admin.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One real Kafka broker for the session (PLAINTEXT and SASL/PLAIN listeners), stopped by PID at the end.

    Tests that stop or kill it must start it again before they return (``try/finally``).
    """
    require_kafka()
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), sasl_users=SASL_USERS)
    broker.start()
    # planewatch's topics are shared by every test of the session and their partition count
    # cannot change once created: fix it here, so no test's choice depends on which ran first.
    broker.create_topics([spec.name for spec in topic_specs()], partitions=SESSION_PARTITIONS)
    try:
        yield broker
    finally:
        broker.stop()

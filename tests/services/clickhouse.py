"""A real ClickHouse server (Debian's clickhouse-server 18.16) for the server-store tests.

Each :class:`ClickHouseServer` writes its own ``config.xml`` and ``users.xml`` into a
directory of its own, keeps every path (data, tmp, logs) there, listens on 127.0.0.1
only, on free TCP and HTTP ports, and is started and stopped by PID through
:class:`~services.process.ServiceProcess`. Stopping (or killing) and starting again
keeps the data and the ports: that is how the outage tests take the server away.

:class:`ZooKeeperServer` runs Debian's ZooKeeper (its jar, straight from ``java``) on
127.0.0.1, for a server configured as a one-shard, one-replica cluster (``ON CLUSTER``
DDL, replicated tables).

Fixtures: ``clickhouse_server`` (one per test session; skipped on a developer machine
without the binary, a failure in CI, where ``make test`` installs it through
``scripts/deps/clickhouse.sh``) and ``clickhouse_database`` (a fresh database per test,
dropped afterwards).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from tooling import missing_dependency

from services.process import ServiceProcess, free_port

USER = "planewatch"
PASSWORD = "pw-test-secret"
SEARCH = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin")


def server_binary() -> str | None:
    """``clickhouse-server``: ``$PLANEWATCH_CLICKHOUSE_SERVER``, the PATH, or the sbin directories."""
    configured = os.environ.get("PLANEWATCH_CLICKHOUSE_SERVER")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("clickhouse-server") or shutil.which("clickhouse-server", path=os.pathsep.join(SEARCH))


def require_server() -> str:
    """The server binary, or skip (fail in CI, where ``make test`` installs it)."""
    binary = server_binary()
    if binary:
        return binary
    message = "needs clickhouse-server (installed by 'make test' through scripts/deps/clickhouse.sh)"
    missing_dependency(message)


class ClickHouseServer:
    """One clickhouse-server child on 127.0.0.1 with everything under ``directory``."""

    def __init__(self, directory: Path, *, binary: str | None = None, user: str = USER, password: str = PASSWORD,
                 zookeeper: ZooKeeperServer | None = None, cluster: str | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        """``zookeeper`` and ``cluster``: a one-shard, one-replica cluster of this server alone
        (``remote_servers``, macros ``shard=01``/``replica=r1``, distributed DDL through ZooKeeper).
        ``tls``: ``(certificate, key)`` PEM files; the server then also listens with TLS on ``secure_port``."""
        self.directory = Path(directory)
        self.binary = binary or require_server()
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = free_port()
        self.http_port = free_port()
        self.interserver_port = free_port()
        self.tls = tls
        self.secure_port = free_port() if tls else None
        self.zookeeper = zookeeper
        self.cluster = cluster
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.service = ServiceProcess(
            "clickhouse-server",
            [self.binary, f"--config-file={self.directory / 'config.xml'}"],
            self.directory / "stdout.log",
            self.port,
            cwd=self.directory,
            ready_timeout=60.0,
        )

    @property
    def pid(self) -> int | None:
        return self.service.pid

    @property
    def running(self) -> bool:
        process = self.service.process
        return process is not None and process.poll() is None

    def start(self) -> None:
        """Start and wait until the TCP port accepts connections."""
        self.service.start()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM, SIGKILL after 30 s); data stays."""
        self._continue()
        self.service.stop()

    def kill(self) -> None:
        """A crash (SIGKILL); data stays as ClickHouse left it on disk."""
        self.service.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing (a hung server)."""
        assert self.pid is not None, "server is not running"
        os.killpg(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.pid is not None, "server is not running"
        os.killpg(self.pid, signal.SIGCONT)

    def _continue(self) -> None:
        """A frozen server ignores SIGTERM until it runs again."""
        if self.running and self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.directory / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return self.service.log_tail(lines)

    def client(self, **options: object):  # noqa: ANN201 -- clickhouse_driver.Client, imported late
        """A plain clickhouse-driver client as the test user (for checks behind the store's back)."""
        from clickhouse_driver import Client

        return Client(host=self.host, port=self.port, user=self.user, password=self.password,
                      connect_timeout=5, send_receive_timeout=30, **options)

    def _tls_config(self) -> str:
        if self.tls is None:
            return ""
        certificate, key = self.tls
        return f"""    <tcp_port_secure>{self.secure_port}</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>{certificate}</certificateFile>
            <privateKeyFile>{key}</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>"""

    def _cluster_config(self) -> str:
        if self.zookeeper is None or self.cluster is None:
            return ""
        return f"""    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>{self.interserver_port}</interserver_http_port>
    <zookeeper>
        <node><host>127.0.0.1</host><port>{self.zookeeper.port}</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>01</shard>
        <replica>r1</replica>
    </macros>
    <remote_servers>
        <{self.cluster}>
            <shard>
                <internal_replication>true</internal_replication>
                <replica>
                    <host>127.0.0.1</host>
                    <port>{self.port}</port>
                    <user>{self.user}</user>
                    <password>{escape(self.password)}</password>
                </replica>
            </shard>
        </{self.cluster}>
    </remote_servers>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>"""

    def _write_config(self) -> None:
        d = self.directory
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            (d / sub).mkdir(exist_ok=True)
        (d / "config.xml").write_text(f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{d / 'server.log'}</log>
        <errorlog>{d / 'server.err.log'}</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{self.port}</tcp_port>
    <http_port>{self.http_port}</http_port>
    <path>{d / 'data'}/</path>
    <tmp_path>{d / 'tmp'}/</tmp_path>
    <user_files_path>{d / 'user_files'}/</user_files_path>
    <format_schema_path>{d / 'format_schemas'}/</format_schema_path>
    <users_config>{d / 'users.xml'}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>134217728</mark_cache_size>
    <uncompressed_cache_size>134217728</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
    <mlock_executable>false</mlock_executable>
{self._cluster_config()}
{self._tls_config()}
</yandex>
""")
        (d / "users.xml").write_text(f"""<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <!-- idle connections notice a shutdown within 1 s (default 10 s) -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <{self.user}>
            <password>{escape(self.password)}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{self.user}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
""")


ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"


def require_zookeeper() -> tuple[str, str]:
    """``java`` and Debian's ZooKeeper jar, or skip (fail in CI, where ``make test`` installs them)."""
    java = shutil.which("java")
    if java and Path(ZOOKEEPER_JAR).is_file():
        return java, ZOOKEEPER_JAR
    message = "needs java and zookeeper (installed by 'make test' through scripts/deps/clickhouse.sh)"
    missing_dependency(message)


class ZooKeeperServer:
    """A standalone ZooKeeper (Debian's jar, run directly) on 127.0.0.1 with its data under ``directory``."""

    def __init__(self, directory: Path) -> None:
        java, jar = require_zookeeper()
        self.directory = Path(directory)
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.directory / "zoo.cfg"
        config.write_text(
            "tickTime=500\n"
            f"dataDir={self.directory / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"  # no Jetty on 0.0.0.0:8080
            "maxClientCnxns=0\n"
            "4lw.commands.whitelist=srvr\n"
        )
        logger = Path("/usr/share/java/slf4j-simple.jar")  # its log, when Debian's slf4j has the binding
        classpath = f"{jar}:{logger}" if logger.is_file() else jar
        self.service = ServiceProcess(
            "zookeeper",
            [java, "-Xmx256m", "-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain", str(config)],
            self.directory / "zookeeper.log",
            self.port,
            cwd=self.directory,
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until it *serves* (it accepts connections earlier and drops them: ClickHouse
        18.16 started against such a ZooKeeper fails its distributed DDL and may crash)."""
        self.service.start()
        deadline = time.monotonic() + timeout
        while "Mode:" not in self.four_letter("srvr"):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"zookeeper did not serve within {timeout:.0f} s:\n{self.service.log_tail()}")
            time.sleep(0.2)

    def four_letter(self, command: str) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.sendall(command.encode())
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        self.service.stop()


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """One ClickHouse server for the session (tests that stop it start their own)."""
    binary = require_server()
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse"), binary=binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clickhouse_database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """A database name of this test's own on the session server (created empty, dropped after)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    client = clickhouse_server.client()
    client.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        try:
            client.execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            client.disconnect()

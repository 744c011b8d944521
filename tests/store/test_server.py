"""The server store against a real ClickHouse server (Debian's 18.16: the legacy dialect) and,
for the modern dialect, against chdb through the driver's own serialization.

What runs where:

* 18.16 server, over the native protocol: the whole legacy path -- migrate, exact round
  trips, replay dedup, outages (crash, clean stop, hung server), recovery without a
  restart, credentials and unreachable-server errors, query parameters.
* chdb (ClickHouse 26.9) behind a stand-in for the driver's ``Client`` (:class:`ChdbClient`):
  the modern path -- the migration files applied through the store's parameter binding,
  inserts serialized by clickhouse-driver's column writers exactly as they go on the
  wire (minus the socket), results parsed by the driver's column readers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import time
import typing
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from planewatch.schemas.columns import JSON_TEXT, columns_of
from planewatch.schemas.ddl import column_drift, create_table_sql, table_columns
from planewatch.schemas.records import STORED_RECORDS, PortCounters, Record
from planewatch.store.embedded import QueryError
from planewatch.store.server import (
    PASSWORD_FILE_ENV,
    USER_ENV,
    ClickHouseSettings,
    ServerStore,
    StoreAuthError,
    StoreUnavailable,
)
from services.clickhouse import ClickHouseServer
from services.process import free_port
from store.conftest import open_store
from store.test_embedded import T0, sample_records

pytestmark = pytest.mark.timeout(180)


def stored(records: list[Record]) -> list[Record]:
    return [r for r in records if type(r).TABLE is not None]


def read_back(store: Any, record_cls: type[Record]) -> list[Record]:
    """A table's rows as records again, whatever the dialect stored them as (exact types)."""
    hints = typing.get_type_hints(record_cls, include_extras=True)
    table = store.query(f"SELECT * FROM {store.database}.{record_cls.TABLE} ORDER BY ts, plane")
    records = []
    for row in table.to_pylist():
        fields: dict[str, Any] = {}
        for spec in columns_of(record_cls):
            value = row[spec.name]
            if value is None:
                pass
            elif isinstance(value, dt.datetime):
                value = value.timestamp()
            elif any(m is JSON_TEXT for m in getattr(hints[spec.name], "__metadata__", ())):
                value = msgspec.json.decode(value)
            elif "Bool" in spec.clickhouse:
                assert value in (0, 1, True, False)
                value = bool(value)
            fields[spec.name] = value
        records.append(msgspec.convert(fields, record_cls, strict=True))
    return records


def assert_round_trip(store: Any, records: list[Record]) -> None:
    for record_cls in STORED_RECORDS:
        expected = sorted((r for r in records if type(r) is record_cls), key=lambda r: (r.ts, r.plane))
        assert expected, f"sample batch lacks {record_cls.__name__}"
        back = read_back(store, record_cls)
        # JSON text tells True from 1 and 1.0 from 1: equality alone would not.
        assert msgspec.json.encode(back) == msgspec.json.encode(expected), record_cls.__name__


def count(store: Any, table: str, final: bool = False) -> int:
    return store.rows(f"SELECT count() FROM {store.database}.{table}{' FINAL' if final else ''}")[0][0]


def port_batch(start: int, n: int, fabric: str = "pod-a") -> list[Record]:
    return [PortCounters(ts=T0 + (start + i) / 8, plane=1 + i % 4, fabric=fabric, device=f"tor-{i % 7}",
                         port=f"Ethernet{i}", in_octets=i, out_octets=2 * i, in_unicast_pkts=i,
                         out_unicast_pkts=i) for i in range(n)]


# -- the legacy dialect on the real 18.16 server ----------------------------------------------


def test_the_18_16_server_gets_the_legacy_dialect(server_store: ServerStore) -> None:
    assert server_store.server_version.startswith("18.16")
    assert server_store.dialect == "legacy"
    assert "pw-test-secret" not in repr(server_store)


def test_every_record_type_round_trips(server_store: ServerStore) -> None:
    records = sample_records()
    assert server_store.write(records) == len(stored(records))
    assert_round_trip(server_store, stored(records))


def test_one_insert_per_type_per_call(server_store: ServerStore) -> None:
    assert server_store.write(port_batch(0, 500)) == 500
    rows = server_store.rows(
        "SELECT count(), sum(rows) FROM system.parts WHERE database = %(db)s AND table = 'port_counters' AND active",
        {"db": server_store.database},
    )
    assert rows == [(1, 500)]


def test_a_replayed_batch_leaves_no_duplicate_rows(server_store: ServerStore) -> None:
    records = stored(sample_records())
    server_store.write(records)
    server_store.write(records[: len(records) // 2])  # a crash replays half of it
    server_store.write(records)  # and a retry all of it
    for record_cls in STORED_RECORDS:
        table = record_cls.TABLE
        expected = sum(1 for r in records if type(r) is record_cls)
        assert count(server_store, table, final=True) == expected, table
        server_store.query(f"OPTIMIZE TABLE {server_store.database}.{table} FINAL")
        assert count(server_store, table) == expected, table


def test_distinct_milliseconds_stay_distinct_rows(server_store: ServerStore) -> None:
    """Float64 epoch seconds keep the millisecond identity (DateTime would merge these)."""
    base = port_batch(0, 1)[0]
    three = [msgspec.structs.replace(base, ts=T0 + k / 1000) for k in range(3)]
    server_store.write(three)
    server_store.query(f"OPTIMIZE TABLE {server_store.database}.port_counters FINAL")
    assert count(server_store, "port_counters") == 3
    assert [r.ts for r in read_back(server_store, PortCounters)] == [r.ts for r in three]


def test_migrate_twice_changes_nothing(clickhouse_server: ClickHouseServer) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    store = open_store(clickhouse_server, database)
    try:
        first = store.migrate()
        assert first[0] == f"created database {database}"
        assert len(first) == 1 + len(STORED_RECORDS)
        before = _schema(store)
        store.write(sample_records())
        assert store.migrate() == []
        assert _schema(store) == before
        assert store.schema_problems() == []
        assert count(store, "findings") == 2
    finally:
        store.query(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def _schema(store: ServerStore) -> dict[str, str]:
    rows = store.rows("SELECT name FROM system.tables WHERE database = %(db)s ORDER BY name", {"db": store.database})
    return {name: store.rows(f"SHOW CREATE TABLE {store.database}.{name}")[0][0] for (name,) in rows}


@pytest.mark.parametrize("record_cls", STORED_RECORDS, ids=lambda c: c.__name__)
def test_legacy_tables_match_the_records(server_store: ServerStore, record_cls: type[Record]) -> None:
    actual = server_store.rows(
        "SELECT name, type, '' FROM system.columns WHERE database = %(db)s AND table = %(t)s",
        {"db": server_store.database, "t": record_cls.TABLE},
    )
    assert actual, f"no table {record_cls.TABLE}"
    assert column_drift(record_cls, actual, dialect="legacy") == []
    assert [name for name, _, _ in actual] == [c.name for c in columns_of(record_cls)]
    # the legacy table really is the translated one, not the modern one
    assert column_drift(record_cls, actual) != []


def test_schema_drift_is_reported(server_store: ServerStore) -> None:
    server_store.query(f"ALTER TABLE {server_store.database}.bgp_sessions DROP COLUMN info")
    assert server_store.schema_problems() == ["bgp_sessions: column 8: record has info String, table has nothing"]
    with pytest.raises(Exception, match="do not match the records"):
        server_store.migrate()


def test_write_to_a_missing_table_says_to_run_init(clickhouse_server: ClickHouseServer, clickhouse_database: str) -> None:
    with open_store(clickhouse_server, clickhouse_database) as store:
        with pytest.raises(QueryError, match="planewatch init"):
            store.write(port_batch(0, 1))


# -- query parameters --------------------------------------------------------------------------


NASTY = "it's a \\ back\tslash\nand 'quotes' %s %(x)s {x:String} ; DROP DATABASE x --"


def test_typed_placeholders_carry_any_value(server_store: ServerStore) -> None:
    rows = server_store.query(
        "SELECT {s:String} AS s, {n:Nullable(String)} AS n, {a:Array(String)} AS a, {u:UInt64} AS u, "
        "{f:Float64} AS f, '100%' AS literal, 'x' LIKE '%' AS percent, '{s:String}' AS quoted",
        {"s": NASTY, "n": None, "a": [NASTY, ""], "u": 2**64 - 1, "f": T0 + 0.125},
    ).to_pylist()
    assert rows == [{"s": NASTY, "n": None, "a": [NASTY, ""], "u": 2**64 - 1, "f": T0 + 0.125,
                     "literal": "100%", "percent": 1, "quoted": "{s:String}"}]


def test_placeholders_filter_rows(server_store: ServerStore) -> None:
    server_store.write(port_batch(0, 20, fabric="pod-a") + port_batch(0, 5, fabric=NASTY))
    sql = (f"SELECT count() AS n FROM {server_store.database}.port_counters FINAL "
           "WHERE fabric = {fabric:String} AND ts >= {since:Float64}")
    assert server_store.query(sql, {"fabric": NASTY, "since": T0}).to_pylist() == [{"n": 5}]
    assert server_store.query(sql, {"fabric": "pod-a", "since": T0 + 1}).to_pylist() == [{"n": 12}]
    driver_style = f"SELECT count() FROM {server_store.database}.port_counters WHERE fabric = %(fabric)s"
    assert server_store.rows(driver_style, {"fabric": NASTY}) == [(5,)]
    with pytest.raises(QueryError, match="no value for query parameter"):
        server_store.query(sql, {"fabric": "pod-a"})


def test_query_errors_are_query_errors_and_the_store_keeps_working(server_store: ServerStore) -> None:
    with pytest.raises(QueryError, match="Code 62"):
        server_store.query("SELEC 1")
    assert server_store.rows("SELECT 1") == [(1,)]


# -- outages -----------------------------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> typing.Iterator[ClickHouseServer]:
    """A server of this test's own: outage tests stop it."""
    server = ClickHouseServer(tmp_path / "clickhouse")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _fails_fast(store: ServerStore, batch: list[Record], limit: float) -> float:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"ClickHouse at 127\.0\.0\.1:{store.settings.port} is unavailable"):
        store.write(batch)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"a write during the outage took {elapsed:.1f} s"
    return elapsed


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_stopped_server_fails_writes_fast_and_recovers_without_a_restart(own_server: ClickHouseServer,
                                                                           how: str) -> None:
    store = open_store(own_server, "outage", connect_timeout=2.0, send_receive_timeout=5.0)
    try:
        store.migrate()
        assert store.write(port_batch(0, 100)) == 100
        pid = own_server.pid
        getattr(own_server, how)()  # SIGKILL (a crash) or SIGTERM (a shutdown), by PID
        assert pid is not None and not own_server.running
        # The outage: every write fails at once with the retryable error, for a few seconds.
        deadline = time.monotonic() + 3.0
        attempts = 0
        while time.monotonic() < deadline:
            _fails_fast(store, port_batch(100, 100), limit=1.0)  # refused: no need to wait for a timeout
            attempts += 1
            time.sleep(0.3)
        assert attempts >= 3
        own_server.start()
        # The same store, the same batch: the retry goes through; nothing written before is lost.
        assert store.write(port_batch(100, 100)) == 100
        assert count(store, "port_counters", final=True) == 200
        assert store.rows("SELECT min(ts), max(ts) FROM outage.port_counters") == [(T0, T0 + 199 / 8)]
    finally:
        store.close()


def test_a_hung_server_fails_writes_within_the_timeouts(own_server: ClickHouseServer) -> None:
    store = open_store(own_server, "hung", connect_timeout=1.0, send_receive_timeout=2.0)
    try:
        store.migrate()
        store.write(port_batch(0, 10))
        own_server.freeze()  # SIGSTOP: the port still accepts connections, nothing answers
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="no answer within"):
                store.write(port_batch(10, 10))
            elapsed = time.monotonic() - started
            # ping (<= connect_timeout) + reconnect handshake (connect_timeout) + slack
            assert elapsed < 1.0 + 1.0 + 2.0 + 1.5, f"took {elapsed:.1f} s"
        finally:
            own_server.thaw()
        assert store.write(port_batch(10, 10)) == 10
        assert count(store, "port_counters", final=True) == 20
    finally:
        store.close()


def test_the_pipelines_store_writer_retries_through_an_outage(own_server: ClickHouseServer) -> None:
    """streams.inprocess.StoreWriter (what the workers use) keeps the batch and succeeds once the server is back."""
    from planewatch.streams.inprocess import PipelineStats, StoreWriter

    store = open_store(own_server, "writer", connect_timeout=1.0, send_receive_timeout=5.0)
    try:
        store.migrate()
        own_server.kill()
        restarter = threading.Timer(2.5, own_server.start)
        restarter.start()
        stats = PipelineStats()
        writer = StoreWriter(store, stats, batch_rows=10, flush_interval=0.1, retries=8)
        writer.add(port_batch(0, 50))
        started = time.monotonic()
        asyncio.run(writer.flush())
        restarter.join()
        assert stats.rows_written == 50 and stats.write_retries >= 2
        assert time.monotonic() - started < 15
        assert count(store, "port_counters", final=True) == 50
    finally:
        store.close()


# -- credentials and addresses -----------------------------------------------------------------


def test_a_wrong_password_says_what_to_fix(clickhouse_server: ClickHouseServer,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreAuthError) as caught:
        ServerStore.open(clickhouse_server.host, clickhouse_server.port, "planewatch", user=clickhouse_server.user,
                         password="not-the-password-x9", connect_timeout=2)
    message = str(caught.value)
    assert f"rejected user '{clickhouse_server.user}'" in message
    assert USER_ENV in message and PASSWORD_FILE_ENV in message
    assert "not-the-password-x9" not in message and "not-the-password-x9" not in caplog.text
    with pytest.raises(StoreAuthError, match="rejected user 'nobody'"):
        ServerStore.open(clickhouse_server.host, clickhouse_server.port, user="nobody", password="x")


def test_an_unreachable_server_says_what_to_fix() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        ServerStore.open("127.0.0.1", port, connect_timeout=2)
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert f"ClickHouse at 127.0.0.1:{port} is unavailable" in message
    assert "is the server running, and is the address right?" in message


def test_settings_from_env_read_the_password_file(tmp_path: Path, clickhouse_server: ClickHouseServer,
                                                  clickhouse_database: str) -> None:
    secret = tmp_path / "password"
    secret.write_text(clickhouse_server.password + "\n")
    env = {USER_ENV: clickhouse_server.user, PASSWORD_FILE_ENV: str(secret)}
    settings = ClickHouseSettings.from_env(f"127.0.0.1:{clickhouse_server.port}", clickhouse_database, environ=env,
                                           connect_timeout=2.0)
    assert settings.user == clickhouse_server.user
    assert settings.password.get_secret_value() == clickhouse_server.password
    assert clickhouse_server.password not in repr(settings) and clickhouse_server.password not in str(settings)
    with ServerStore.connect(settings) as store:
        assert clickhouse_server.password not in repr(store)
        assert store.rows("SELECT user, currentDatabase() FROM system.processes") == [
            (clickhouse_server.user, clickhouse_database)]
    with pytest.raises(ValueError, match=f"{PASSWORD_FILE_ENV}=.*cannot read the password file"):
        ClickHouseSettings.from_env("127.0.0.1:9000", environ={PASSWORD_FILE_ENV: str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="HOST:PORT"):
        ClickHouseSettings.from_env("127.0.0.1", environ={})
    with pytest.raises(ValueError, match="not a plain identifier"):
        ClickHouseSettings.from_env("127.0.0.1:9000", "x; DROP", environ={})
    assert ClickHouseSettings.from_env("[::1]:9000", environ={}).user == "default"


def test_tls_with_the_servers_ca_and_what_a_wrong_setup_says(tmp_path: Path) -> None:
    from planewatch.simulator.speakers.gnmi import write_throwaway_pki

    pki = write_throwaway_pki(tmp_path / "pki")
    server = ClickHouseServer(tmp_path / "clickhouse", tls=(pki.server_cert, pki.server_key))
    server.start()
    try:
        def attempt(port: int, **options: Any) -> ServerStore:
            return ServerStore.open(server.host, port, "planewatch", user=server.user, password=server.password,
                                    connect_timeout=2.0, send_receive_timeout=3.0, **options)

        assert server.secure_port is not None
        with attempt(server.secure_port, secure=True, ca_file=pki.ca_file) as store:
            assert store.rows("SELECT 1") == [(1,)]
        with pytest.raises(StoreAuthError, match=r"certificate is signed by the CA file \(none given"):
            attempt(server.secure_port, secure=True)  # the system CAs do not know the throwaway CA
        with pytest.raises(StoreAuthError, match="that port does not speak TLS"):
            attempt(server.port, secure=True, ca_file=pki.ca_file)
        with pytest.raises(StoreUnavailable, match="unavailable"):
            attempt(server.secure_port)  # plaintext to the TLS port
    finally:
        server.stop()


def test_init_schema_is_what_planewatch_init_runs(clickhouse_server: ClickHouseServer) -> None:
    from planewatch.store.server import init_schema

    database = f"test_{uuid.uuid4().hex[:12]}"
    settings = ClickHouseSettings(host=clickhouse_server.host, port=clickhouse_server.port, database=database,
                                  user=clickhouse_server.user, password=clickhouse_server.password)
    first = init_schema(settings)
    assert first[0] == (f"ClickHouse 18.16.1 at 127.0.0.1:{clickhouse_server.port}: database {database} "
                        "(legacy schema dialect)")
    assert first[1] == f"created database {database}" and len(first) == 2 + len(STORED_RECORDS)
    assert init_schema(settings)[1:] == ["schema is up to date"]
    with ServerStore.connect(settings) as store:
        store.query(f"DROP DATABASE {database}")


def test_a_closed_store_refuses_calls(server_store: ServerStore) -> None:
    server_store.close()
    with pytest.raises(Exception, match="closed"):
        server_store.write(port_batch(0, 1))


# -- a real (one shard, one replica) cluster: ZooKeeper + 18.16, ON CLUSTER DDL, Distributed tables --------


def test_a_cluster_with_replicated_and_distributed_tables(tmp_path: Path) -> None:
    from services.clickhouse import ZooKeeperServer

    zookeeper = ZooKeeperServer(tmp_path / "zookeeper")
    zookeeper.start()
    server = ClickHouseServer(tmp_path / "clickhouse", zookeeper=zookeeper, cluster="pw_cluster")
    try:
        server.start()
        with open_store(server, "clustered", cluster="pw_cluster", send_receive_timeout=60.0) as store:
            done = store.migrate()
            assert done[0] == "created database clustered on cluster pw_cluster"
            assert len(done) == 1 + 2 * len(STORED_RECORDS)
            assert store.migrate() == []
            engines = dict(store.rows("SELECT name, engine FROM system.tables WHERE database = 'clustered'"))
            for record_cls in STORED_RECORDS:
                assert engines[record_cls.TABLE] == "Distributed"
                assert engines[f"{record_cls.TABLE}_local"] == "ReplicatedReplacingMergeTree"
            replicas = store.rows("SELECT table, zookeeper_path, replica_name FROM system.replicas "
                                  "WHERE database = 'clustered' ORDER BY table")
            assert ("findings_local", "/clickhouse/tables/01/clustered/findings", "r1") in replicas
            # writes and reads go through the Distributed tables, with the single-node names
            records = stored(sample_records())
            assert store.write(records) == len(records)
            assert_round_trip(store, records)
            store.write(records[: len(records) // 2])  # a replay lands on the same shard ...
            for record_cls in STORED_RECORDS:
                expected = sum(1 for r in records if type(r) is record_cls)
                assert count(store, record_cls.TABLE, final=True) == expected  # ... so FINAL hides it
                store.query(f"OPTIMIZE TABLE clustered.{record_cls.TABLE}_local FINAL")
                assert count(store, record_cls.TABLE) == expected  # ... and merging removes it
    except BaseException:
        print(f"clickhouse-server log:\n{server.log_tail(80)}\nzookeeper log:\n{zookeeper.service.log_tail(40)}")
        raise
    finally:
        server.stop()
        zookeeper.stop()


# -- the modern dialect: ServerStore over chdb, through the driver's serialization ---------------


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, chunk: bytes) -> None:
        self.data += chunk


class _Source:
    def __init__(self, data: bytes) -> None:
        self.view, self.offset = memoryview(data), 0

    def recv_into(self, buffer: Any, size: int = 0) -> int:
        n = min(len(buffer), len(self.view) - self.offset)
        buffer[:n] = self.view[self.offset : self.offset + n]
        self.offset += n
        return n


class ChdbClient:
    """Stands in for ``clickhouse_driver.Client`` on a modern engine (chdb 26.9).

    Everything but the socket is the driver's: parameters are escaped by its
    ``substitute_params`` logic, inserted columns written by its column writers
    (``Native`` blocks, the payload of the protocol's Data packets) against the
    table's own column types (the server's sample block), and results read back by its
    column readers. So what ServerStore sends a modern server is what chdb receives.
    """

    def __init__(self, session: Any, tmp: Path) -> None:
        from clickhouse_driver.connection import ServerInfo
        from clickhouse_driver.context import Context

        self.session, self.tmp = session, tmp
        self.context = Context()
        self.context.server_info = ServerInfo("ClickHouse", 26, 9, 2, 54477, "UTC", "chdb", 0)
        self.context.settings = {}
        self.context.client_settings = {
            "strings_as_bytes": False, "strings_encoding": "utf-8", "use_numpy": False,
            "input_format_null_as_default": False, "namedtuple_as_json": False, "server_side_params": False,
            "opentelemetry_traceparent": None, "opentelemetry_tracestate": "", "quota_key": "",
        }
        self.inserts: list[str] = []

    def execute(self, query: str, params: Any = None, with_column_types: bool = False, columnar: bool = False,
                types_check: bool = False, settings: Any = None) -> Any:
        from clickhouse_driver.util.escape import escape_params

        if isinstance(params, (list, tuple)):
            return self._insert(query, params, types_check)
        if params is not None:
            query = query % escape_params(params, self.context)
        columns, types = self._select(query)
        if columnar:
            return (columns, types) if with_column_types else columns
        rows = list(zip(*columns)) if columns else []
        return (rows, types) if with_column_types else rows

    def disconnect(self) -> None:
        pass

    def _run(self, sql: str, fmt: str = "CSV") -> Any:
        try:
            return self.session.query(sql, fmt)
        except RuntimeError as error:
            from clickhouse_driver import errors

            code = re.search(r"Code: (\d+)", str(error))
            raise errors.ServerException(str(error), int(code.group(1)) if code else None) from None

    def _insert(self, query: str, columns: list[list[Any]], types_check: bool) -> int:
        from clickhouse_driver.block import ColumnOrientedBlock
        from clickhouse_driver.bufferedwriter import BufferedSocketWriter
        from clickhouse_driver.streams.native import BlockOutputStream

        match = re.fullmatch(r"INSERT INTO (\w+)\.(\w+) \(([\w, ]+)\) VALUES", query)
        assert match, query
        database, table, names = match.group(1), match.group(2), match.group(3).split(", ")
        sample, _ = self._select(
            f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}'")
        types = dict(zip(*sample))
        block = ColumnOrientedBlock([(n, types[n]) for n in names], columns, types_check=types_check)
        sink = _Sink()
        writer = BufferedSocketWriter(sink, 1 << 16)
        BlockOutputStream(writer, self.context).write(block)
        path = self.tmp / f"{uuid.uuid4().hex}.native"
        path.write_bytes(bytes(sink.data))
        self._run(f"INSERT INTO {database}.{table} ({', '.join(names)}) SELECT * FROM file('{path}', 'Native')")
        self.inserts.append(table)
        return len(columns[0]) if columns else 0

    def _select(self, sql: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
        from clickhouse_driver.bufferedreader import BufferedSocketReader
        from clickhouse_driver.streams.native import BlockInputStream

        data = self._run(sql, "Native").bytes()
        if not data:
            return [], []
        reader = BufferedSocketReader(_Source(data), 1 << 16)
        stream = BlockInputStream(reader, self.context)
        columns: list[list[Any]] = []
        types: list[tuple[str, str]] = []
        while True:
            try:
                block = stream.read()
            except EOFError:  # after the last block
                break
            types = list(block.columns_with_types)
            if not columns:
                columns = [[] for _ in types]
            for i, values in enumerate(block.get_columns()):
                columns[i].extend(values)
        return [tuple(c) for c in columns], types


@pytest.fixture
def modern_store(chdb_path: Path, tmp_path: Path) -> typing.Iterator[tuple[ServerStore, ChdbClient]]:
    from chdb.session import Session

    session = Session(str(chdb_path))
    client = ChdbClient(session, tmp_path)

    class ChdbServerStore(ServerStore):
        def _make_client(self) -> Any:
            return client

    settings = ClickHouseSettings(host="chdb", port=9000, database=f"test_{uuid.uuid4().hex[:12]}")
    store = ChdbServerStore.connect(settings)
    try:
        yield store, client
    finally:
        store.close()
        session.close()


def test_modern_server_path_on_chdb(modern_store: tuple[ServerStore, ChdbClient]) -> None:
    store, client = modern_store
    assert store.dialect == "modern" and store.server_version.startswith("26.")
    assert store.migrate() == ["applied migration 0001_initial.sql", "applied migration 0002_inventory.sql",
                               "applied migration 0003_rollups.sql"]
    assert store.migrate() == []
    assert store.schema_problems() == []
    # the tables are exactly what the migration file creates (codecs, LowCardinality, DateTime64, TTL)
    for record_cls in STORED_RECORDS:
        actual = store.rows("SELECT name, type, compression_codec FROM system.columns "
                            "WHERE database = %(db)s AND table = %(t)s", {"db": store.database, "t": record_cls.TABLE})
        assert actual == table_columns(record_cls)
        (ddl,) = store.rows("SELECT create_table_query FROM system.tables WHERE database = %(db)s AND name = %(t)s",
                            {"db": store.database, "t": record_cls.TABLE})[0]
        assert "ttl_only_drop_parts = 1" in ddl and "ReplacingMergeTree" in ddl
        assert create_table_sql(record_cls, store.database).startswith("CREATE TABLE IF NOT EXISTS")
    records = sample_records()
    assert store.write(records) == len(stored(records))
    assert sorted(client.inserts) == sorted(c.TABLE for c in STORED_RECORDS)  # one insert per type
    assert_round_trip(store, stored(records))
    # sub-millisecond noise in a float ts rounds to the same millisecond, so a replay stays one row
    base = port_batch(1000, 1)[0]
    store.write([base, msgspec.structs.replace(base, ts=base.ts + 1e-7)])
    store.write(stored(records))
    for record_cls in STORED_RECORDS:
        expected = sum(1 for r in stored(records) if type(r) is record_cls) + (record_cls is PortCounters)
        assert count(store, record_cls.TABLE, final=True) == expected
    rows = store.query(
        f"SELECT count() AS n FROM {store.database}.bgp_sessions FINAL WHERE info = {{info:String}} "
        "AND ts >= {since:DateTime64(3, 'UTC')}",
        {"info": "Socket: Connection refused\twith a tab and a 'quote'",
         "since": dt.datetime.fromtimestamp(T0 + 6.5, dt.timezone.utc)},
    ).to_pylist()
    assert rows == [{"n": 1}]

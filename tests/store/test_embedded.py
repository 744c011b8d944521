"""The embedded chdb store: round trips, migrations, read-only queries and the directory lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from planewatch.schemas.columns import JSON_TEXT, columns_of
from planewatch.schemas.migrations import Migration, MigrationError, apply_migrations, discover, split_statements
from planewatch.schemas.records import (
    STORED_RECORDS,
    BgpRouteCounters,
    BgpSession,
    FdbChange,
    FdbSnapshot,
    Finding,
    InterfaceStatus,
    PlaneInventory,
    PortCounters,
    Record,
    ServerInventory,
    SflowCounterSample,
    SflowFlowSample,
    SwitchInventory,
    Watermark,
    with_fabric,
)
from planewatch.store.embedded import EmbeddedStore, QueryError, ReadOnlyQueryError, StoreInUseError

# Today, on whole eighths of a second: inside every TTL and exact in float and in milliseconds.
T0 = float(int(time.time()) // 86400 * 86400 + 3600)


def sample_records() -> list[Record]:
    """A realistic batch holding every stored record type (and a control record)."""
    return [
        PortCounters(ts=T0, plane=1, device="tor-r1-blue", port="Ethernet1", in_octets=10**12, out_octets=9 * 10**11,
                     in_unicast_pkts=2**40, out_unicast_pkts=7, in_broadcast_pkts=3, out_broadcast_pkts=None,
                     in_multicast_pkts=None, in_errors=0),
        PortCounters(ts=T0 + 0.125, plane=2, device="tor-r1-green", port="Ethernet1", in_octets=2**64 - 2,
                     out_octets=0, in_unicast_pkts=1, out_unicast_pkts=1),
        InterfaceStatus(ts=T0 + 1, plane=3, device="tor-r2-orange", port="Ethernet48", oper_status="LOWER_LAYER_DOWN"),
        FdbSnapshot(ts=T0 + 2, plane=1, device="tor-r1-blue", macs=["52:54:00:00:01:01", "52:54:00:00:01:02"],
                    vlans=[100, 100], ports=["Ethernet1", "Ethernet2"]),
        FdbSnapshot(ts=T0 + 2.5, plane=4, device="tor-r9-red", macs=[], vlans=[], ports=[]),
        FdbChange(ts=T0 + 3, plane=1, device="tor-r1-blue", mac="52:54:00:00:01:01", vlan=100, port="Ethernet3",
                  change="moved", previous_port="Ethernet1"),
        FdbChange(ts=T0 + 3.25, plane=0, device="unknown-switch", mac="52:54:00:00:09:09", vlan=1, port="Ethernet9",
                  change="learned"),
        SflowCounterSample(ts=T0 + 4, plane=2, agent="10.2.0.11", device="tor-r1-green", sequence=17, if_index=5,
                           if_speed=25_000_000_000, if_oper_up=True, in_octets=123, in_bcast_pkts=None,
                           out_bcast_pkts=None, out_errors=2),
        SflowCounterSample(ts=T0 + 4.5, plane=2, agent="10.2.0.11", device="tor-r1-green", sequence=18, if_index=6),
        SflowFlowSample(ts=T0 + 5, plane=3, agent="10.3.0.11", device="tor-r2-orange", sequence=9, sampling_rate=1024,
                        input_if=3, output_if=0x80000004, src_mac="52:54:00:00:02:01", dst_mac="ff:ff:ff:ff:ff:ff",
                        vlan=None, ethertype=0x0806, frame_class="broadcast", frame_length=64),
        BgpSession(ts=T0 + 6, plane=1, node="compute-0042", protocol="Node_10_1_255_1", peer_ip="10.1.255.1",
                   state="Established", info="Established"),
        BgpSession(ts=T0 + 6.5, plane=2, node="compute-0042", protocol="Node_10_2_255_1", peer_ip="10.2.255.1",
                   state="Active", info="Socket: Connection refused\twith a tab and a 'quote'"),
        BgpRouteCounters(ts=T0 + 7, plane=1, node="compute-0042", protocol="Node_10_1_255_1", peer_ip="10.1.255.1",
                         routes_imported=812, routes_exported=3, import_updates=40, import_withdraws=2,
                         export_updates=3, export_withdraws=0),
        Finding(ts=T0 + 8, plane=2, fingerprint="plane_failure:2", kind="plane_failure", severity="critical",
                status="firing", started_at=T0 + 6.5, summary="plane 2: 412 of 420 servers lost both RR sessions",
                evidence={"servers_down": 412, "top": [{"node": "compute-0042", "since": T0 + 6.5}], "note": "ü"}),
        Finding(ts=T0 + 9, plane=2, fingerprint="plane_failure:2", kind="plane_failure", severity="critical",
                status="resolved", started_at=T0 + 6.5, ended_at=T0 + 9),
        PlaneInventory(ts=T0 + 10, plane=2, fabric="pod-a", name="green", switches=9, servers=420, expected_macs=424),
        SwitchInventory(ts=T0 + 10, plane=2, fabric="pod-a", device="spine-1-green", role="spine"),
        SwitchInventory(ts=T0 + 10, plane=2, fabric="pod-a", device="tor-r1-green", role="tor", rack="r1",
                        uplinks=["Ethernet49", "Ethernet50"]),
        ServerInventory(ts=T0 + 10, plane=2, fabric="pod-a", server="compute-0042", address="10.2.0.42",
                        mac="52:54:00:00:02:2a", device="tor-r1-green", port="Ethernet42"),
        ServerInventory(ts=T0 + 10, plane=3, fabric="pod-a", server="compute-0042", address="10.3.0.42"),
        Watermark(ts=T0 + 10, plane=0),
    ]


def read_back(store: EmbeddedStore, record_cls: type[Record]) -> list[Record]:
    """Rows of a record's table turned back into records (the inverse of ``arrow_table``)."""
    table = store.query(f"SELECT * FROM {store.database}.{record_cls.TABLE} ORDER BY ts, plane")
    records = []
    for row in table.to_pylist():
        fields: dict[str, Any] = {}
        for spec in columns_of(record_cls):
            value = row[spec.name]
            if isinstance(value, dt.datetime):
                value = value.timestamp()
            elif value is not None and _is_json(record_cls, spec.name):
                value = msgspec.json.decode(value)
            fields[spec.name] = value
        records.append(record_cls(**fields))
    return records


def _is_json(record_cls: type, name: str) -> bool:
    import typing

    hint = typing.get_type_hints(record_cls, include_extras=True)[name]
    return any(m is JSON_TEXT for m in getattr(hint, "__metadata__", ()))


def test_every_record_type_round_trips(chdb_store: EmbeddedStore) -> None:
    records = sample_records()
    stored = [r for r in records if type(r).TABLE is not None]
    assert chdb_store.write(records) == len(stored)
    for record_cls in STORED_RECORDS:
        expected = sorted((r for r in stored if type(r) is record_cls), key=lambda r: (r.ts, r.plane))
        assert expected, f"sample batch lacks {record_cls.__name__}"
        assert read_back(chdb_store, record_cls) == expected


def test_a_replayed_batch_leaves_no_duplicate_rows(chdb_store: EmbeddedStore) -> None:
    """At-least-once delivery writes some batches twice; the record identity (ORDER BY) absorbs them."""
    records = [r for r in sample_records() if type(r).TABLE is not None]
    chdb_store.write(records)
    chdb_store.write(records[: len(records) // 2])  # a crash replays half of it
    for record_cls in STORED_RECORDS:
        table = record_cls.TABLE
        expected = sum(1 for r in records if type(r) is record_cls)
        final = chdb_store.query(f"SELECT count() AS n FROM {chdb_store.database}.{table} FINAL").to_pylist()
        assert final == [{"n": expected}], table
        chdb_store.query(f"OPTIMIZE TABLE {chdb_store.database}.{table} FINAL")
        merged = chdb_store.query(f"SELECT count() AS n FROM {chdb_store.database}.{table}").to_pylist()
        assert merged == [{"n": expected}], table


def test_records_of_two_fabrics_never_merge(chdb_store: EmbeddedStore) -> None:
    one = PortCounters(ts=T0, plane=1, device="tor", port="Ethernet1", in_octets=1, out_octets=1,
                       in_unicast_pkts=1, out_unicast_pkts=1)
    chdb_store.write(with_fabric([one], "pod-a") + with_fabric([one], "pod-b"))
    chdb_store.query(f"OPTIMIZE TABLE {chdb_store.database}.port_counters FINAL")
    rows = chdb_store.query(f"SELECT fabric FROM {chdb_store.database}.port_counters ORDER BY fabric").to_pylist()
    assert rows == [{"fabric": "pod-a"}, {"fabric": "pod-b"}]


def test_one_insert_per_type_per_call(chdb_store: EmbeddedStore) -> None:
    batch = [PortCounters(ts=T0 + i / 8, plane=1, device="tor", port=f"Ethernet{i}", in_octets=i, out_octets=i,
                          in_unicast_pkts=i, out_unicast_pkts=i) for i in range(50)]
    assert chdb_store.write(batch) == 50
    parts = chdb_store.query(
        "SELECT count() AS parts, sum(rows) AS rows FROM system.parts "
        "WHERE database = {db:String} AND table = 'port_counters' AND active",
        {"db": chdb_store.database},
    ).to_pylist()
    assert parts == [{"parts": 1, "rows": 50}]


def test_write_nothing_and_control_records_only(chdb_store: EmbeddedStore) -> None:
    assert chdb_store.write([]) == 0
    assert chdb_store.write([Watermark(ts=T0, plane=1)]) == 0


def test_query_parameters_round_trip_exactly(chdb_store: EmbeddedStore) -> None:
    text = "tab\there, newline\nthere, back\\slash, 'quote', \\N, {database}"
    result = chdb_store.query(
        "SELECT {s:String} AS s, {n:Nullable(String)} AS n, {a:Array(String)} AS a, "
        "{u:Array(Nullable(UInt8))} AS u, {t:DateTime64(3, 'UTC')} AS t, {b:Bool} AS b",
        {"s": text, "n": None, "a": [text, ""], "u": [1, None], "t": dt.datetime.fromtimestamp(T0, dt.timezone.utc),
         "b": False},
    ).to_pylist()
    assert result == [{"s": text, "n": None, "a": [text, ""], "u": [1, None],
                       "t": dt.datetime.fromtimestamp(T0, dt.timezone.utc), "b": False}]


def test_migrations_are_idempotent(chdb_store: EmbeddedStore) -> None:
    database = chdb_store.database
    execute = _executor(chdb_store)
    assert [m.name for m in discover()][0] == "0001_initial.sql"
    assert apply_migrations(execute, database) == []
    chdb_store.close()
    with EmbeddedStore.open(chdb_store.path, database) as reopened:
        rows = reopened.query(f"SELECT version, name FROM {database}.schema_migrations ORDER BY version").to_pylist()
        assert rows == [{"version": m.version, "name": m.name} for m in discover()]
        extra = Migration(9999, "9999_test_extra.sql", "-- a test migration; not shipped\n"
                          "CREATE TABLE IF NOT EXISTS {database}.extra (a UInt8) ENGINE = Memory;\n")
        execute = _executor(reopened)
        assert apply_migrations(execute, database, [*discover(), extra]) == [9999]
        assert apply_migrations(execute, database, [*discover(), extra]) == []
        with pytest.raises(MigrationError, match="does not know"):
            apply_migrations(execute, database)
        edited = Migration(9999, extra.name, extra.sql.replace("UInt8", "UInt16"))
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(execute, database, [*discover(), edited])


def _executor(store: EmbeddedStore):  # type: ignore[no-untyped-def]
    def execute(sql: str, params: Any) -> list[tuple[Any, ...]]:
        table = store.query(sql, params)
        return list(zip(*(c.to_pylist() for c in table.columns)))

    return execute


def test_split_statements() -> None:
    sql = "-- header; with a semicolon;\nCREATE TABLE a (x String DEFAULT ';');\n\nSELECT 1\n  ;\n-- trailing\n"
    assert split_statements(sql) == ["CREATE TABLE a (x String DEFAULT ';')", "SELECT 1"]


def test_readonly_reads(chdb_store: EmbeddedStore) -> None:
    chdb_store.write(sample_records())
    table = chdb_store.query_readonly("SELECT count() AS n FROM findings WHERE plane = {plane:UInt8};", {"plane": 2})
    assert isinstance(table, pa.Table) and table.to_pylist() == [{"n": 2}]
    assert chdb_store.query_readonly("SHOW TABLES").num_rows >= len(STORED_RECORDS)
    assert chdb_store.query_readonly("-- who?\nDESCRIBE TABLE bgp_sessions").num_rows == len(columns_of(BgpSession))


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO findings (plane) VALUES (1)",
        "INSERT INTO findings (plane) SELECT 1",
        "DROP TABLE findings",
        "DROP DATABASE {db}",
        "CREATE TABLE evil (a UInt8) ENGINE = Memory",
        "ALTER TABLE findings DELETE WHERE 1",
        "ALTER TABLE findings ADD COLUMN evil UInt8",
        "TRUNCATE TABLE findings",
        "SELECT 1; DROP TABLE findings",
        "SELECT 1 SETTINGS readonly = 0",
        "SET readonly = 0",
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT 1 INTO OUTFILE '{outfile}'",
        "SELECT 1 FORMAT CSV",
        "   ",
    ],
)
def test_readonly_refuses_writes(chdb_store: EmbeddedStore, tmp_path: Path, sql: str) -> None:
    chdb_store.write(sample_records())
    outfile = tmp_path / "out.csv"
    with pytest.raises(ReadOnlyQueryError) as refused:
        chdb_store.query_readonly(sql.replace("{db}", chdb_store.database).replace("{outfile}", str(outfile)))
    assert isinstance(refused.value, ValueError)
    assert not outfile.exists()
    counts = chdb_store.query(f"SELECT count() AS n FROM {chdb_store.database}.findings").to_pylist()
    assert counts == [{"n": 2}]
    columns = chdb_store.query(f"DESCRIBE TABLE {chdb_store.database}.findings").num_rows
    assert columns == len(columns_of(Finding))


def test_readonly_reports_bad_sql_as_query_error(chdb_store: EmbeddedStore) -> None:
    with pytest.raises(QueryError, match="UNKNOWN_TABLE"):
        chdb_store.query_readonly("SELECT * FROM no_such_table")


def test_bad_database_name_is_refused_before_anything(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        EmbeddedStore.open(tmp_path / "never", database="x; DROP DATABASE y")
    assert not (tmp_path / "never").exists()


def test_second_open_in_same_process_is_refused(chdb_store: EmbeddedStore) -> None:
    with pytest.raises(StoreInUseError, match="already open in this process"):
        EmbeddedStore.open(chdb_store.path, "another")
    assert chdb_store.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]


HOLD = """
import sys, time
from planewatch.schemas.records import InterfaceStatus
from planewatch.store import EmbeddedStore
store = EmbeddedStore.open(sys.argv[1])
store.write([InterfaceStatus(ts=time.time(), plane=1, device="tor", port="Ethernet1", oper_status="UP")])
print("ready", flush=True)
time.sleep(120)
"""

OPEN = """
import sys
from planewatch.store import EmbeddedStore, StoreInUseError
try:
    store = EmbeddedStore.open(sys.argv[1])
except StoreInUseError as error:
    sys.exit(str(error))
print(store.query("SELECT count() AS n FROM interface_status").column("n")[0].as_py())
store.close()
"""


def _python(script: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          timeout=60, **kwargs)


def _start_holder(script: str, directory: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", script, str(directory)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    line = holder.stdout.readline()
    if line.strip() != "ready":
        holder.kill()
        pytest.fail(f"holder did not start: {holder.communicate()[1]}")
    return holder


def test_second_process_gets_one_line_error_and_reopen_after_kill_works(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("in_use").resolve()
    holder = _start_holder(HOLD, directory)
    try:
        second = _python(OPEN, str(directory))
        assert second.returncode == 1
        lines = second.stderr.splitlines()
        assert lines == [
            f"data directory {directory} is in use by another planewatch process (pid {holder.pid}); "
            "stop it or pass a different --data"
        ]
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.communicate()
    assert holder.returncode == -9
    reopened = _python(OPEN, str(directory))
    assert reopened.returncode == 0, reopened.stderr
    assert reopened.stdout.strip() == "1"  # what the killed holder wrote survived
    assert (directory / "planewatch.lock").read_text().strip() != str(holder.pid)


CHDB_HOLD = """
import sys
from chdb.session import Session
session = Session(sys.argv[1])
session.query("SELECT 1")
print("ready", flush=True)
import time; time.sleep(120)
"""

OPEN_REPORT = """
import sys
from planewatch.store import EmbeddedStore, StoreInUseError
try:
    EmbeddedStore.open(sys.argv[1])
except StoreInUseError as error:
    print(str(error))
"""


def test_directory_held_by_plain_chdb_process_is_in_use(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("chdb_held").resolve()
    holder = _start_holder(CHDB_HOLD, directory)
    try:
        second = _python(OPEN_REPORT, str(directory))
    finally:
        holder.kill()
        holder.communicate()
    lines = second.stdout.splitlines()
    assert len(lines) == 1 and f"data directory {directory} is in use by another process" in lines[0], second

"""The DDL dialects: modern (= the migration file), legacy (ClickHouse < 20.1) and cluster.

The legacy tables are checked against a real 18.16 server in tests/store/test_server.py
(``test_legacy_tables_match_the_records``); here: the rendering itself, and the cluster
statements validated by chdb's parser and analyzer.
"""

from __future__ import annotations

import re
import time

import pytest

from planewatch.schemas.ddl import (
    column_drift,
    column_type,
    create_cluster_sql,
    create_database_sql,
    create_table_sql,
    dialect_for,
    local_table,
    schema_sql,
    sharding_key,
    table_columns,
)
from planewatch.schemas.migrations import discover, split_statements
from planewatch.schemas.records import STORED_RECORDS, BgpSession, FdbSnapshot, Finding, PortCounters, Watermark
from planewatch.store.embedded import EmbeddedStore, QueryError

# -- modern --------------------------------------------------------------------------------------


def test_modern_dialect_is_what_the_migrations_hold() -> None:
    """Every record table, as the records render it; besides them only the 0003 rollups (tables, backfills, views)."""
    migrations = discover()
    statements = [s for m in migrations for s in split_statements(m.sql)]
    record_tables = [create_table_sql(r, "{database}") for r in STORED_RECORDS]
    assert [s for s in statements if s in record_tables] == record_tables
    others = [(m.name, s) for m in migrations for s in split_statements(m.sql) if s not in record_tables]
    assert {name for name, _ in others} == {"0003_rollups.sql"}
    heads = [re.match(r"(CREATE TABLE IF NOT EXISTS|INSERT INTO|CREATE MATERIALIZED VIEW IF NOT EXISTS) "
                      r"\{database\}\.(\w+)", s) for _, s in others]
    assert all(heads), "0003 holds only idempotent CREATE ... IF NOT EXISTS and guarded backfills"
    assert [(h.group(1).split()[0] + (" VIEW" if "VIEW" in h.group(1) else ""), h.group(2)) for h in heads] == [
        ("CREATE", "port_counters_1h"), ("INSERT", "port_counters_1h"), ("CREATE VIEW", "port_counters_1h_mv"),
        ("CREATE", "bgp_route_counters_1h"), ("INSERT", "bgp_route_counters_1h"),
        ("CREATE VIEW", "bgp_route_counters_1h_mv"),
    ]
    for (_, statement), head in zip(others, heads):
        if head.group(1) == "INSERT INTO":  # only while the rollup is empty, so a re-run adds nothing
            assert f"WHERE (SELECT count() FROM {{database}}.{head.group(2)}) = 0" in statement
    assert [create_table_sql(r, "{database}", dialect="modern") for r in STORED_RECORDS] == [
        create_table_sql(r, "{database}") for r in STORED_RECORDS
    ]
    text = "".join(m.sql for m in migrations)
    for record_cls in STORED_RECORDS:  # byte for byte, as it sits in the files
        assert create_table_sql(record_cls, "{database}") + ";" in text


def test_schema_sql_single_node() -> None:
    statements = schema_sql("planewatch")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS planewatch"
    assert statements[1:] == [create_table_sql(r, "planewatch") for r in STORED_RECORDS]


# -- legacy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modern", "legacy"),
    [
        ("DateTime64(3, 'UTC')", "Float64"),
        ("Nullable(DateTime64(3, 'UTC'))", "Nullable(Float64)"),
        ("Bool", "UInt8"),
        ("Nullable(Bool)", "Nullable(UInt8)"),
        ("LowCardinality(String)", "String"),
        ("Array(LowCardinality(String))", "Array(String)"),
        ("LowCardinality(Nullable(String))", "Nullable(String)"),
        ("Array(UInt16)", "Array(UInt16)"),
        ("Nullable(UInt64)", "Nullable(UInt64)"),
        ("String", "String"),
    ],
)
def test_legacy_column_types(modern: str, legacy: str) -> None:
    assert column_type(modern, "legacy") == legacy
    assert column_type(modern, "modern") == modern


@pytest.mark.parametrize("record_cls", STORED_RECORDS, ids=lambda c: c.__name__)
def test_legacy_ddl_has_nothing_old_servers_lack(record_cls: type) -> None:
    sql = create_table_sql(record_cls, "planewatch", dialect="legacy")
    for modern_only in ("DateTime64", "LowCardinality", "Bool", "CODEC", "TTL", "SETTINGS", "ttl_only_drop_parts"):
        assert modern_only not in sql
    assert "ENGINE = ReplacingMergeTree\n" in sql
    assert f"ORDER BY ({', '.join(record_cls.ORDER_BY)})" in sql
    assert "PARTITION BY intDiv(toUInt32(ts), 86400)" in sql
    assert [name for name, _, _ in table_columns(record_cls, "legacy")] == [
        name for name, _, _ in table_columns(record_cls)
    ]


def test_legacy_drift_is_checked_against_legacy_types() -> None:
    legacy = table_columns(PortCounters, "legacy")
    assert column_drift(PortCounters, legacy, dialect="legacy") == []
    assert "column 1: record has ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)), table has ts Float64" in (
        column_drift(PortCounters, legacy)
    )
    modern = table_columns(PortCounters)
    assert column_drift(PortCounters, modern, dialect="legacy")


@pytest.mark.parametrize(
    ("version", "dialect"),
    [("18.16.1", "legacy"), ("19.17.4.11", "legacy"), ("20.1.2.4", "modern"), ("24.8.4.13", "modern"),
     ("26.9.2.1", "modern")],
)
def test_dialect_for_version(version: str, dialect: str) -> None:
    assert dialect_for(version) == dialect


def test_dialect_errors() -> None:
    with pytest.raises(ValueError, match="cannot read a ClickHouse version"):
        dialect_for("unknown")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        create_table_sql(PortCounters, "planewatch", dialect="ancient")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="control record"):
        create_table_sql(Watermark, "planewatch", dialect="legacy")


# -- cluster -------------------------------------------------------------------------------------


def test_cluster_statements_shape() -> None:
    local, distributed = create_cluster_sql(Finding, "planewatch", "fabric_ch")
    assert local.startswith("CREATE TABLE IF NOT EXISTS planewatch.findings_local ON CLUSTER fabric_ch\n(\n")
    assert ("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/planewatch/findings', '{replica}')"
            in local)
    # the local table is the single-node table with a replicated engine: same columns, keys, TTL
    single = create_table_sql(Finding, "planewatch")
    assert local.split("ENGINE = ")[0].replace(" ON CLUSTER fabric_ch", "").replace("findings_local", "findings") == (
        single.split("ENGINE = ")[0])
    assert local.split("\n", ).count("TTL toDateTime(ts) + INTERVAL 730 DAY") == 1
    assert local.endswith(single.split("ReplacingMergeTree", 1)[1])
    assert distributed.startswith("CREATE TABLE IF NOT EXISTS planewatch.findings ON CLUSTER fabric_ch\n(\n")
    assert distributed.endswith(
        "ENGINE = Distributed(fabric_ch, planewatch, findings_local, "
        "cityHash64(fabric, plane, kind, fingerprint, ts, status))"
    )
    assert "CODEC" not in distributed and "ORDER BY" not in distributed and "TTL" not in distributed
    assert local_table(Finding) == "findings_local"
    assert create_database_sql("planewatch", cluster="fabric_ch") == "CREATE DATABASE IF NOT EXISTS planewatch ON CLUSTER fabric_ch"
    statements = schema_sql("planewatch", cluster="fabric_ch")
    assert len(statements) == 1 + 2 * len(STORED_RECORDS)
    with pytest.raises(ValueError, match="not a plain identifier"):
        create_cluster_sql(Finding, "planewatch", "c; DROP")


@pytest.mark.parametrize("record_cls", STORED_RECORDS, ids=lambda c: c.__name__)
def test_sharding_key_is_a_deterministic_hash_of_the_identity(record_cls: type) -> None:
    """Duplicates must reach the shard that holds the original, or ReplacingMergeTree never merges them."""
    key = sharding_key(record_cls)
    assert key == f"cityHash64({', '.join(record_cls.ORDER_BY)})"
    assert "rand" not in key.lower() and "now" not in key.lower()
    _, distributed = create_cluster_sql(record_cls, "planewatch", "c")
    assert distributed.endswith(f", {key})")


def test_the_sharding_key_sends_a_replayed_row_to_the_same_shard(chdb_store: EmbeddedStore) -> None:
    """Evaluated on the engine: equal identities hash equal whatever else the rows hold; others spread."""
    now = float(int(time.time()))  # inside the TTL: rows past it are dropped on insert
    base = PortCounters(ts=now + 0.125, plane=2, fabric="pod-a", device="tor-1", port="Ethernet1",
                        in_octets=1, out_octets=1, in_unicast_pkts=1, out_unicast_pkts=1)
    import msgspec

    chdb_store.write([base, *(msgspec.structs.replace(base, port=f"Ethernet{i}") for i in range(2, 34))])
    db = chdb_store.database
    # a plain MergeTree copy keeps the replayed row (same identity, other values) next to the original
    chdb_store.query(f"CREATE TABLE {db}.plain AS {db}.port_counters ENGINE = MergeTree ORDER BY tuple()")
    chdb_store.query(f"INSERT INTO {db}.plain SELECT * FROM {db}.port_counters")
    chdb_store.query(f"INSERT INTO {db}.plain SELECT * REPLACE (999 AS in_octets, 3 AS in_errors) "
                     f"FROM {db}.port_counters WHERE port = 'Ethernet1'")
    rows = chdb_store.query(f"SELECT port, in_octets, {sharding_key(PortCounters)} % 4 AS shard FROM {db}.plain").to_pylist()
    assert len(rows) == 34
    shards = {(r["port"], r["in_octets"]): r["shard"] for r in rows}
    assert shards[("Ethernet1", 1)] == shards[("Ethernet1", 999)]
    assert len({r["shard"] for r in rows}) == 4  # 33 identities over 4 shards: all of them used


@pytest.fixture
def empty_database(chdb_store: EmbeddedStore) -> str:
    """A database without planewatch's tables (``IF NOT EXISTS`` would make the statements no-ops)."""
    name = f"{chdb_store.database}_cluster"
    chdb_store.query(f"CREATE DATABASE IF NOT EXISTS {name}")
    return name


def _format(chdb_store: EmbeddedStore, sql: str) -> str:
    return chdb_store.query("SELECT formatQuery({q:String}) AS q", {"q": sql}).column("q")[0].as_py()


def test_chdb_formatquery_rejects_bad_syntax(chdb_store: EmbeddedStore) -> None:
    """The parse check below means something: broken statements do not pass it."""
    local, distributed = create_cluster_sql(PortCounters, "planewatch", "fabric_ch")
    for broken in (local.replace(" ON CLUSTER fabric_ch", " ON CLUSTER"), distributed[:-1],
                   local.replace("PARTITION BY", "PARTITION"), local.replace(",\n", "\n", 1)):
        with pytest.raises(QueryError, match="Syntax error"):
            _format(chdb_store, broken)


@pytest.mark.parametrize("dialect", ["modern", "legacy"])
@pytest.mark.parametrize("record_cls", STORED_RECORDS, ids=lambda c: c.__name__)
def test_cluster_statements_parse_and_analyze_in_chdb(chdb_store: EmbeddedStore, empty_database: str,
                                                       record_cls: type, dialect: str) -> None:
    """Parse with ON CLUSTER; then run them on the engine without ON CLUSTER and macros, and see that they
    fail only for want of a ZooKeeper / of the cluster (after columns, keys, TTL and sharding key were checked)."""
    database = empty_database
    local, distributed = create_cluster_sql(record_cls, database, "fabric_ch", dialect=dialect)  # type: ignore[arg-type]
    for statement in (local, distributed):
        formatted = _format(chdb_store, statement)
        assert formatted.startswith("CREATE TABLE IF NOT EXISTS") and " ON CLUSTER fabric_ch" in formatted
    single_node = local.replace(" ON CLUSTER fabric_ch", "").replace("{shard}", "01").replace("{replica}", "r1")
    with pytest.raises(QueryError, match=r"Code: 225\b.*without ZooKeeper"):
        chdb_store.query(single_node)
    with pytest.raises(QueryError, match=r"Code: 701\b.*cluster 'fabric_ch' not found"):
        chdb_store.query(distributed.replace(" ON CLUSTER fabric_ch", ""))


def test_a_bad_sharding_key_would_be_caught_before_the_cluster_lookup(chdb_store: EmbeddedStore,
                                                                      empty_database: str) -> None:
    """Control for the test above: code 701 there really means the key was accepted."""
    _, distributed = create_cluster_sql(PortCounters, empty_database, "fabric_ch")
    statement = distributed.replace(" ON CLUSTER fabric_ch", "")
    with pytest.raises(QueryError, match=r"Code: 47\b"):
        chdb_store.query(statement.replace("cityHash64(fabric,", "cityHash64(no_such_column,"))
    with pytest.raises(QueryError, match=r"Code: 53\b|should be one of integer type"):
        chdb_store.query(re.sub(r"cityHash64\([^)]*\)", "device", statement))


def test_legacy_cluster_statements() -> None:
    local, distributed = create_cluster_sql(FdbSnapshot, "planewatch", "c", dialect="legacy")
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/planewatch/fdb_snapshots', '{replica}')" in local
    assert "PARTITION BY intDiv(toUInt32(ts), 86400)" in local and "TTL" not in local
    assert "LowCardinality" not in local + distributed and "DateTime64" not in local + distributed
    assert distributed.endswith("Distributed(c, planewatch, fdb_snapshots_local, cityHash64(fabric, plane, device, ts))")
    statements = schema_sql("planewatch", dialect="legacy", cluster="c")
    assert any(f"planewatch.{BgpSession.TABLE}_local ON CLUSTER c" in statement for statement in statements)

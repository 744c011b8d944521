"""The migrated tables and the record classes must describe the same columns."""

from __future__ import annotations

from typing import Annotated

import pytest

from planewatch.schemas.columns import Column
from planewatch.schemas.ddl import check_identifier, column_drift, create_table_sql
from planewatch.schemas.records import STORED_RECORDS, PortCounters, Watermark
from planewatch.store.embedded import EmbeddedStore


def table_columns(store: EmbeddedStore, table: str) -> list[tuple[str, str, str]]:
    """(name, type, codec) of a table in column order, as ClickHouse has it."""
    rows = store.query(
        "SELECT name, type, compression_codec FROM system.columns "
        "WHERE database = {database:String} AND table = {table:String} ORDER BY position",
        {"database": store.database, "table": table},
    ).to_pylist()
    return [(r["name"], r["type"], r["compression_codec"]) for r in rows]


@pytest.mark.parametrize("record_cls", STORED_RECORDS, ids=lambda c: c.__name__)
def test_migrated_table_matches_record(chdb_store: EmbeddedStore, record_cls: type) -> None:
    actual = table_columns(chdb_store, record_cls.TABLE)
    assert actual, f"migrations created no table {record_cls.TABLE}"
    assert column_drift(record_cls, actual) == []


class PortCountersWithExtra(PortCounters, frozen=True, kw_only=True, tag="port_counters_extra"):
    """A record that gained a field without a migration."""

    in_pause_frames: Annotated[int, Column("UInt64")] = 0


def test_added_field_is_drift(chdb_store: EmbeddedStore) -> None:
    problems = column_drift(PortCountersWithExtra, table_columns(chdb_store, "port_counters"))
    assert problems == ["column 18: record has in_pause_frames UInt64, table has nothing"]


def test_changed_type_codec_and_order_are_drift() -> None:
    good = [(c, t, k) for c, t, k in _expected(PortCounters)]
    assert column_drift(PortCounters, good) == []
    retyped = [("in_octets", "UInt32", "CODEC(T64, ZSTD(1))") if c == "in_octets" else (c, t, k) for c, t, k in good]
    assert any("in_octets UInt32" in p for p in column_drift(PortCounters, retyped))
    recoded = [(c, t, "") if c == "ts" else (c, t, k) for c, t, k in good]
    assert column_drift(PortCounters, recoded)
    swapped = [good[1], good[0], *good[2:]]
    assert len(column_drift(PortCounters, swapped)) == 2
    assert column_drift(PortCounters, good + [("surplus", "UInt8", "")]) == [
        "column 18: table has surplus UInt8, record has nothing"
    ]


def _expected(record_cls: type) -> list[tuple[str, str, str]]:
    from planewatch.schemas.columns import columns_of

    return [(c.name, c.clickhouse, f"CODEC({c.codec})" if c.codec else "") for c in columns_of(record_cls)]


def test_create_table_sql_shape() -> None:
    sql = create_table_sql(PortCounters, "planewatch")
    assert sql.startswith("CREATE TABLE IF NOT EXISTS planewatch.port_counters\n(\n    ts DateTime64(3, 'UTC') CODEC(")
    assert "ENGINE = ReplacingMergeTree\n" in sql
    assert "ORDER BY (fabric, plane, device, port, ts)" in sql
    assert "TTL toDateTime(ts) + INTERVAL 30 DAY" in sql
    with pytest.raises(ValueError, match="control record"):
        create_table_sql(Watermark, "planewatch")
    with pytest.raises(ValueError, match="not a plain identifier"):
        create_table_sql(PortCounters, "x; DROP DATABASE y")


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a.b", "a b", "x;y", "é"])
def test_check_identifier_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        check_identifier(name)

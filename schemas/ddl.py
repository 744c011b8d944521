"""ClickHouse DDL rendered from the record classes, and the check that a table still matches its record.

Migrations are committed SQL files (reviewable, replayable), but they are *authored*
from the records with :func:`create_table_sql`, and :func:`column_drift` compares what a
database really holds with :func:`~planewatch.schemas.columns.columns_of`, so a record
and its table cannot silently drift apart.

One renderer, three shapes of the same tables (the record classes stay the only source):

* ``dialect="modern"``, no cluster: what ``sql/0001_initial.sql`` holds (ClickHouse
  >= 20.1, and chdb). :func:`create_table_sql` renders it; its output never changes
  for an existing record, because applied migrations are append-only.
* ``dialect="legacy"``: the same tables for ClickHouse < 20.1 (Debian's 18.16 server,
  used by the tests for the driver path only). Types are translated by
  :func:`column_type` (``DateTime64(3, 'UTC')`` -> ``Float64`` epoch seconds, which keeps
  millisecond identity where ``DateTime`` would merge distinct rows; ``Bool`` ->
  ``UInt8``; ``LowCardinality(X)`` -> ``X``), and there are no codecs, TTL or
  ``ttl_only_drop_parts``. Rows still replace each other on the record's identity.
* ``cluster="name"`` (either dialect): :func:`create_cluster_sql` renders, ``ON CLUSTER``,
  a ``<table>_local`` ``ReplicatedReplacingMergeTree`` on every replica and a
  ``Distributed`` table named like the record's ``TABLE`` that writers and readers use.
  Its sharding key is :func:`sharding_key`, a hash of the record's identity: see there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from planewatch.schemas.columns import ColumnSpec, columns_of
from planewatch.schemas.records import STORED_RECORDS, Record

Dialect = Literal["modern", "legacy"]
"""``modern``: ClickHouse >= 20.1 (production, chdb); ``legacy``: older servers (tests only)."""

DIALECTS: tuple[Dialect, ...] = ("modern", "legacy")

LEGACY_BEFORE = (20, 1)
"""Servers older than this get the legacy dialect (no DateTime64, TTL, CODEC, Bool)."""

LOCAL_SUFFIX = "_local"
"""A cluster's replicated storage table is ``<TABLE>_local``; ``<TABLE>`` is the Distributed table."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise ``ValueError``.

    Database and table names cannot be query parameters, so they are spliced into
    SQL text; allowing only ``[A-Za-z_][A-Za-z0-9_]*`` makes that splice safe.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier (letters, digits, _; not starting with a digit)")
    return name


def dialect_for(version: str) -> Dialect:
    """The dialect a server of this ``SELECT version()`` needs (``"18.16.1"`` -> ``legacy``)."""
    numbers = re.findall(r"\d+", version)
    if len(numbers) < 2:
        raise ValueError(f"cannot read a ClickHouse version from {version!r}")
    return "legacy" if (int(numbers[0]), int(numbers[1])) < LEGACY_BEFORE else "modern"


def column_type(clickhouse: str, dialect: Dialect = "modern") -> str:
    """A record column's ClickHouse type in ``dialect`` (the annotation itself for ``modern``).

    Legacy: ``DateTime64(…)`` -> ``Float64`` (epoch seconds), ``Bool`` -> ``UInt8``,
    ``LowCardinality(X)`` -> ``X``; ``Nullable`` and ``Array`` are translated inside.
    """
    _check_dialect(dialect)
    if dialect == "modern":
        return clickhouse
    for wrapper in ("Nullable", "Array"):
        if clickhouse.startswith(wrapper + "(") and clickhouse.endswith(")"):
            return f"{wrapper}({column_type(clickhouse[len(wrapper) + 1 : -1], dialect)})"
    if clickhouse.startswith("LowCardinality(") and clickhouse.endswith(")"):
        return column_type(clickhouse[len("LowCardinality(") : -1], dialect)
    if clickhouse.startswith("DateTime64"):
        return "Float64"
    if clickhouse == "Bool":
        return "UInt8"
    return clickhouse


def column_codec(column: ColumnSpec, dialect: Dialect = "modern") -> str:
    """The column's codec as ``system.columns.compression_codec`` shows it (``CODEC(…)`` or empty)."""
    return f"CODEC({column.codec})" if column.codec and dialect == "modern" else ""


def table_columns(record_cls: type[Record], dialect: Dialect = "modern") -> list[tuple[str, str, str]]:
    """``(name, type, codec)`` of the record's table in ``dialect``, in column order."""
    return [(c.name, column_type(c.clickhouse, dialect), column_codec(c, dialect)) for c in columns_of(record_cls)]


def sharding_key(record_cls: type[Record]) -> str:
    """The Distributed tables' sharding key: ``cityHash64`` of the record's identity (``ORDER_BY``).

    ``ReplacingMergeTree`` only merges duplicates that sit in the same table on the same
    shard. A replayed batch (at-least-once delivery) must therefore send each row to
    the shard that got it the first time: a deterministic function of the identity
    does, ``rand()`` would scatter the copies over shards where they never merge and
    ``FINAL`` (applied per shard) never hides them. Hashing the whole identity keeps
    the shards even.
    """
    return f"cityHash64({', '.join(_identity(record_cls))})"


def local_table(record_cls: type[Record]) -> str:
    """The cluster's replicated storage table of a record: ``<TABLE>_local``."""
    return f"{_table(record_cls)}{LOCAL_SUFFIX}"


def create_table_sql(record_cls: type[Record], database: str, *, dialect: Dialect = "modern") -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement for a stored record class on a single node.

    ``ReplacingMergeTree`` on the record's identity (``ORDER_BY``): a row written twice
    (a batch replayed after a crash) is merged away, and ``FINAL`` reads never see it.
    Daily partitions on event time let the TTL drop whole parts (``ttl_only_drop_parts``)
    instead of rewriting them; ``index_granularity`` keeps ClickHouse's default (8192).
    ``database`` may be the literal ``{database}`` placeholder used in migration files.
    ``dialect="legacy"`` renders the same table for ClickHouse < 20.1 (see the module).
    """
    return _create(record_cls, database, _table(record_cls), "ReplacingMergeTree", dialect=dialect)


def create_cluster_sql(
    record_cls: type[Record], database: str, cluster: str, *, dialect: Dialect = "modern"
) -> tuple[str, str]:
    """``(local, distributed)`` statements for a record's tables on ``cluster`` (both ``ON CLUSTER``).

    The local table ``<TABLE>_local`` is a ``ReplicatedReplacingMergeTree`` under
    ``/clickhouse/tables/{shard}/<database>/<TABLE>`` with replica ``{replica}``: every
    server needs the ``shard`` and ``replica`` macros and a ZooKeeper (or Keeper).
    ``<TABLE>`` is a ``Distributed`` table over it, sharded by :func:`sharding_key`,
    so writers and readers use the same table names as on a single node. Run the local
    statement first: the Distributed table reads its columns from the same records.
    """
    check_identifier(cluster, "cluster")
    table = _table(record_cls)
    local = local_table(record_cls)
    engine = f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}')"
    distributed = f"Distributed({cluster}, {database}, {local}, {sharding_key(record_cls)})"
    return (
        _create(record_cls, database, local, engine, dialect=dialect, cluster=cluster),
        _create(record_cls, database, table, distributed, dialect=dialect, cluster=cluster, storage=False),
    )


def create_database_sql(database: str, *, cluster: str | None = None) -> str:
    """``CREATE DATABASE IF NOT EXISTS`` (``ON CLUSTER`` when given)."""
    check_identifier(database, "database")
    return f"CREATE DATABASE IF NOT EXISTS {database}{_on_cluster(cluster)}"


def schema_sql(
    database: str,
    *,
    dialect: Dialect = "modern",
    cluster: str | None = None,
    records: Sequence[type[Record]] = STORED_RECORDS,
) -> list[str]:
    """Every statement that creates ``database`` and the records' tables, in order (all idempotent)."""
    statements = [create_database_sql(database, cluster=cluster)]
    for record_cls in records:
        if cluster is None:
            statements.append(create_table_sql(record_cls, database, dialect=dialect))
        else:
            statements.extend(create_cluster_sql(record_cls, database, cluster, dialect=dialect))
    return statements


def _create(
    record_cls: type[Record],
    database: str,
    name: str,
    engine: str,
    *,
    dialect: Dialect,
    cluster: str | None = None,
    storage: bool = True,
) -> str:
    """One ``CREATE TABLE IF NOT EXISTS``; ``storage=False`` (Distributed): columns only, no codecs or keys."""
    _check_dialect(dialect)
    if database != "{database}":
        check_identifier(database, "database")
    columns = columns_of(record_cls)
    identity = _identity(record_cls)
    if "ts" not in {c.name for c in columns}:
        raise ValueError(f"{record_cls.__name__} has no ts column to partition and expire by")
    lines = []
    for column in columns:
        codec = column_codec(column, dialect) if storage else ""
        kind = column_type(column.clickhouse, dialect)
        lines.append(f"    {check_identifier(column.name, 'column')} {kind}{' ' + codec if codec else ''}")
    body = ",\n".join(lines)
    sql = f"CREATE TABLE IF NOT EXISTS {database}.{name}{_on_cluster(cluster)}\n(\n{body}\n)\nENGINE = {engine}"
    if not storage:
        return sql
    if dialect == "legacy":
        # Float64 epoch seconds: one partition per UTC day, whatever the server's time zone.
        return sql + f"\nPARTITION BY intDiv(toUInt32(ts), 86400)\nORDER BY ({', '.join(identity)})"
    return (
        sql + "\n"
        "PARTITION BY toDate(ts)\n"
        f"ORDER BY ({', '.join(identity)})\n"
        f"TTL toDateTime(ts) + INTERVAL {int(record_cls.TTL_DAYS)} DAY\n"
        "SETTINGS ttl_only_drop_parts = 1"
    )


def _table(record_cls: type[Record]) -> str:
    table = record_cls.TABLE
    if table is None:
        raise ValueError(f"{record_cls.__name__} is a control record and has no table")
    return check_identifier(table, "table")


def _identity(record_cls: type[Record]) -> tuple[str, ...]:
    names = {c.name for c in columns_of(record_cls)}
    missing = [key for key in record_cls.ORDER_BY if key not in names]
    if missing:
        raise ValueError(f"{record_cls.__name__}.ORDER_BY names unknown columns: {', '.join(missing)}")
    return record_cls.ORDER_BY


def _on_cluster(cluster: str | None) -> str:
    return "" if cluster is None else f" ON CLUSTER {check_identifier(cluster, 'cluster')}"


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}")


def column_drift(
    record_cls: type[Record], actual: Iterable[tuple[str, str, str]], *, dialect: Dialect = "modern"
) -> list[str]:
    """Differences between a record's columns and a table's, as readable lines (empty: no drift).

    ``actual`` is ``(name, type, codec)`` per column in table order, as ClickHouse's
    ``system.columns`` reports them (``codec`` like ``CODEC(T64, ZSTD(1))`` or empty;
    servers before 19.x have no ``compression_codec`` column: pass ``""``).
    Order matters too: inserts and ``SELECT *`` readers rely on it.
    """
    expected = table_columns(record_cls, dialect)
    found = [tuple(row) for row in actual]
    problems = []
    for position in range(max(len(expected), len(found))):
        want = expected[position] if position < len(expected) else None
        got = found[position] if position < len(found) else None
        if want == got:
            continue
        if got is None:
            problems.append(f"column {position + 1}: record has {_describe(want)}, table has nothing")
        elif want is None:
            problems.append(f"column {position + 1}: table has {_describe(got)}, record has nothing")
        else:
            problems.append(f"column {position + 1}: record has {_describe(want)}, table has {_describe(got)}")
    return problems


def _describe(column: tuple[str, ...] | None) -> str:
    assert column is not None
    name, clickhouse, codec = column
    return f"{name} {clickhouse}{' ' + codec if codec else ''}"

"""ClickHouse DDL rendered from the record classes, and the check that a table still matches its record.

Migrations are committed SQL files (reviewable, replayable), but they are *authored*
from the records with :func:`create_table_sql`, and :func:`column_drift` compares what a
database really holds with :func:`~planewatch.schemas.columns.columns_of`, so a record
and its table cannot silently drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from planewatch.schemas.columns import columns_of
from planewatch.schemas.records import Record

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise ``ValueError``.

    Database and table names cannot be query parameters, so they are spliced into
    SQL text; allowing only ``[A-Za-z_][A-Za-z0-9_]*`` makes that splice safe.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier (letters, digits, _; not starting with a digit)")
    return name


def create_table_sql(record_cls: type[Record], database: str) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement for a stored record class.

    ``ReplacingMergeTree`` on the record's identity (``ORDER_BY``): a row written twice
    (a batch replayed after a crash) is merged away, and ``FINAL`` reads never see it.
    Daily partitions on event time let the TTL drop whole parts (``ttl_only_drop_parts``)
    instead of rewriting them; ``index_granularity`` keeps ClickHouse's default (8192).
    ``database`` may be the literal ``{database}`` placeholder used in migration files.
    """
    table = record_cls.TABLE
    if table is None:
        raise ValueError(f"{record_cls.__name__} is a control record and has no table")
    if database != "{database}":
        check_identifier(database, "database")
    check_identifier(table, "table")
    columns = columns_of(record_cls)
    names = {c.name for c in columns}
    missing = [key for key in record_cls.ORDER_BY if key not in names]
    if missing:
        raise ValueError(f"{record_cls.__name__}.ORDER_BY names unknown columns: {', '.join(missing)}")
    if "ts" not in names:
        raise ValueError(f"{record_cls.__name__} has no ts column to partition and expire by")
    lines = []
    for column in columns:
        codec = f" CODEC({column.codec})" if column.codec else ""
        lines.append(f"    {check_identifier(column.name, 'column')} {column.clickhouse}{codec}")
    body = ",\n".join(lines)
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{table}\n(\n{body}\n)\n"
        "ENGINE = ReplacingMergeTree\n"
        "PARTITION BY toDate(ts)\n"
        f"ORDER BY ({', '.join(record_cls.ORDER_BY)})\n"
        f"TTL toDateTime(ts) + INTERVAL {int(record_cls.TTL_DAYS)} DAY\n"
        "SETTINGS ttl_only_drop_parts = 1"
    )


def column_drift(record_cls: type[Record], actual: Iterable[tuple[str, str, str]]) -> list[str]:
    """Differences between a record's columns and a table's, as readable lines (empty: no drift).

    ``actual`` is ``(name, type, codec)`` per column in table order, as ClickHouse's
    ``system.columns`` reports them (``codec`` like ``CODEC(T64, ZSTD(1))`` or empty).
    Order matters too: inserts and ``SELECT *`` readers rely on it.
    """
    expected = [(c.name, c.clickhouse, f"CODEC({c.codec})" if c.codec else "") for c in columns_of(record_cls)]
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

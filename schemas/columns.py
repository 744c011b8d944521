"""Column annotations: how one record field becomes a ClickHouse column and an Arrow array.

A record field is written ``name: Annotated[python_type, Column("ClickHouse type")]``.
Everything that needs the column list (DDL rendering, Arrow batches, the drift test)
reads it from the record class through :func:`columns_of`, never from a second list.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, Callable

import msgspec
import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class Column:
    """ClickHouse type (and optional codec) of one record field."""

    clickhouse: str
    codec: str | None = None


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """A resolved column: its name, ClickHouse type, codec, Arrow type and value converter."""

    name: str
    clickhouse: str
    codec: str | None
    arrow: pa.DataType
    to_arrow: Callable[[Any], Any]


def _milliseconds(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _identity(value: Any) -> Any:
    return value


def _strip(clickhouse: str, wrapper: str) -> str:
    return clickhouse[len(wrapper) + 1 : -1] if clickhouse.startswith(wrapper + "(") else clickhouse


def _arrow_type(clickhouse: str) -> tuple[pa.DataType, Callable[[Any], Any]]:
    """Arrow type and converter for a ClickHouse type (only the types records use)."""
    inner = _strip(_strip(clickhouse, "Nullable"), "LowCardinality")
    inner = _strip(inner, "Nullable")
    if inner.startswith("Array("):
        element, convert = _arrow_type(inner[len("Array(") : -1])
        if convert is not _identity:
            return pa.list_(element), lambda values: [convert(v) for v in values]
        return pa.list_(element), _identity
    if inner.startswith("DateTime64"):
        return pa.timestamp("ms", tz="UTC"), _milliseconds
    simple: dict[str, pa.DataType] = {
        "UInt8": pa.uint8(),
        "UInt16": pa.uint16(),
        "UInt32": pa.uint32(),
        "UInt64": pa.uint64(),
        "Int64": pa.int64(),
        "Float64": pa.float64(),
        "String": pa.string(),
        "Bool": pa.bool_(),
    }
    if inner in simple:
        return simple[inner], _identity
    raise TypeError(f"no Arrow mapping for ClickHouse type {clickhouse!r}")


@functools.cache
def columns_of(record_type: type) -> tuple[ColumnSpec, ...]:
    """Columns of a record class, in field order, from its ``Column`` annotations."""
    hints = typing.get_type_hints(record_type, include_extras=True)
    specs = []
    for name in record_type.__struct_fields__:
        hint = hints[name]
        column = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Column)), None)
        if column is None:
            raise TypeError(f"{record_type.__name__}.{name} has no Column annotation")
        arrow, convert = _arrow_type(column.clickhouse)
        if any(m is JSON_TEXT for m in hint.__metadata__):
            convert = _json_text
        specs.append(ColumnSpec(name, column.clickhouse, column.codec, arrow, convert))
    return tuple(specs)


JSON_TEXT = object()
"""Marker: the field is a Python structure stored as JSON text."""


def arrow_table(record_type: type, records: list[Any]) -> pa.Table:
    """A columnar Arrow batch of records of one type, ready for ``INSERT … SELECT FROM Python()``."""
    arrays = []
    fields = []
    for spec in columns_of(record_type):
        values = [getattr(r, spec.name) for r in records]
        if spec.to_arrow is not _identity:
            values = [None if v is None else spec.to_arrow(v) for v in values]
        arrays.append(pa.array(values, type=spec.arrow))
        fields.append(pa.field(spec.name, spec.arrow, nullable=spec.clickhouse.startswith("Nullable")))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

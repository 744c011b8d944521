"""What every forensic query shares: the store protocol, time windows, checked parameters, inventory SQL.

Every user value (times, plane, limits, the ranking asked for) reaches ClickHouse as a
bound query parameter; the only identifier placed into SQL text is the database name,
validated when the store opened. Values are checked here *before* any SQL runs, so a
plane or a time such as ``"1; DROP TABLE"`` fails with a message saying what to pass.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

import pyarrow as pa

FAR_FUTURE = 4102444800.0
"""2100-01-01: the end of an unbounded window."""


class QueryableStore(Protocol):
    database: str

    def query(self, sql: str, params: dict | None = None) -> pa.Table: ...


def seconds(value: Any, what: str) -> float:
    """``value`` as epoch seconds, or a ``ValueError`` naming ``what`` (strings are refused, not parsed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number of epoch seconds, got {value!r}"
                         " (the CLI parses ISO 8601, -15m, 'now' or HH:MM for you)")
    return float(value)


def millis(value: Any, what: str) -> int:
    """Epoch seconds -> the Int64 milliseconds the queries bind."""
    return int(round(seconds(value, what) * 1000))


def plane_id(value: Any) -> int:
    """A plane id 0..255 (0 = every plane), or a ``ValueError`` that says so."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"plane must be a plane id from 1 to 255 (0 = every plane), got {value!r}")
    return value


def positive(value: Any, what: str) -> float:
    number = seconds(value, what)
    if number <= 0:
        raise ValueError(f"{what} must be more than 0 seconds, got {value!r}")
    return number


def row_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise ValueError(f"limit must be a whole number from 1 to 1000000, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Window:
    """A time window in epoch seconds (``None`` = unbounded) and an optional plane filter (0 = all)."""

    start: float | None = None
    end: float | None = None
    plane: int = 0

    def params(self) -> dict[str, int]:
        start = 0.0 if self.start is None else seconds(self.start, "the window's start")
        end = FAR_FUTURE if self.end is None else seconds(self.end, "the window's end")
        if end < start:
            raise ValueError("the window ends before it starts: swap --from and --to")
        return {"start_ms": int(start * 1000), "end_ms": int(end * 1000), "plane": plane_id(self.plane)}


def at_time(param: str) -> str:
    """SQL for the bound time ``{param:Int64}`` (epoch milliseconds) as a ``DateTime64(3, 'UTC')``."""
    return f"fromUnixTimestamp64Milli({{{param}:Int64}}, 'UTC')"


START = at_time("start_ms")
END = at_time("end_ms")
PLANE_FILTER = "({plane:UInt8} = 0 OR plane = {plane:UInt8})"
IN_WINDOW = f"ts >= {START} AND ts <= {END} AND {PLANE_FILTER}"


def switch_inventory_sql(db: str, at_param: str) -> str:
    """Each switch's role and uplinks as the inventory stood at ``{at_param}`` (epoch ms).

    ``{db}.switches`` gets a row per switch each time planewatch starts with an
    inventory. The latest row at or before the time asked about wins; a switch first
    described later (a store filled before the inventory was written) falls back to its
    earliest row, so old incidents still know which ports face servers.
    """
    at = at_time(at_param)
    key = f"(ts <= {at}, if(ts <= {at}, toUnixTimestamp64Milli(ts), -toUnixTimestamp64Milli(ts)))"
    return f"""
    SELECT fabric, device, argMax(role, {key}) AS role, argMax(uplinks, {key}) AS uplinks
    FROM {db}.switches
    GROUP BY fabric, device
    """


def facing_sql(role: str, uplinks: str, port: str) -> str:
    """What a port faces: ``server`` (ToR port not an uplink), ``uplink``, ``spine`` or ``unknown`` (not in the inventory)."""
    return (f"multiIf({role} = 'tor' AND NOT has({uplinks}, {port}), 'server', {role} = 'tor', 'uplink',"
            f" {role} = '', 'unknown', {role})")


def plane_inventory_sql(db: str, at_param: str) -> str:
    """Each plane's name and expected MAC count (summed over fabrics) as the inventory stood at ``{at_param}``."""
    at = at_time(at_param)
    key = f"(ts <= {at}, if(ts <= {at}, toUnixTimestamp64Milli(ts), -toUnixTimestamp64Milli(ts)))"
    return f"""
    SELECT plane, any(name) AS name, sum(expected) AS expected_macs
    FROM (SELECT fabric, plane, argMax(name, {key}) AS name, argMax(expected_macs, {key}) AS expected
          FROM {db}.planes WHERE {PLANE_FILTER} GROUP BY fabric, plane)
    GROUP BY plane
    """


def rows_by_plane(table: pa.Table) -> dict[int, dict[str, Any]]:
    """``{plane: row}`` of a per-plane result."""
    return {row["plane"]: row for row in table.to_pylist()}

"""What a report says about its subject before any plot: the fabric, its planes, the data held.

The inventory comes from the ``planes`` table (one row per plane each time planewatch
starts with an inventory; the latest row per plane is current). A store written without
an inventory still gets a report: its planes are the ones its records mention, named
``plane-N``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from planewatch.forensics import QueryableStore

#: The raw tables whose rows say "planewatch was watching then".
DATA_TABLES = ("port_counters", "interface_status", "bgp_sessions", "bgp_route_counters", "findings")


@dataclasses.dataclass(frozen=True)
class PlaneInfo:
    """One plane as the inventory describes it."""

    plane: int
    name: str
    fabric: str = ""
    switches: int | None = None
    servers: int | None = None

    @property
    def label(self) -> str:
        """``2 (green)``: id first (what the tables and CLI use), name for people."""
        return f"{self.plane} ({self.name})" if self.name and self.name != f"plane-{self.plane}" else str(self.plane)


def planes(store: QueryableStore) -> list[PlaneInfo]:
    """The fabric's planes, latest inventory row per (fabric, plane), else those seen in the data."""
    db = store.database
    rows = store.query(
        f"""
        SELECT plane, fabric, argMax(name, ts) AS name, argMax(switches, ts) AS switches,
               argMax(servers, ts) AS servers
        FROM {db}.planes GROUP BY fabric, plane ORDER BY plane, fabric
        """
    ).to_pylist()
    if rows:
        return [PlaneInfo(r["plane"], r["name"], r["fabric"], r["switches"], r["servers"]) for r in rows]
    seen = " UNION ALL ".join(f"SELECT DISTINCT plane, fabric FROM {db}.{t}" for t in DATA_TABLES)
    rows = store.query(f"SELECT DISTINCT plane, fabric FROM ({seen}) WHERE plane > 0 ORDER BY plane, fabric").to_pylist()
    return [PlaneInfo(r["plane"], f"plane-{r['plane']}", r["fabric"]) for r in rows]


def has_port_roles(store: QueryableStore) -> bool:
    """Whether the store knows which ports face servers (a ToR row in ``switches``)."""
    rows = store.query(f"SELECT count() AS n FROM {store.database}.switches WHERE role = 'tor'").to_pylist()
    return bool(rows[0]["n"])


def data_span(store: QueryableStore) -> tuple[float, float] | None:
    """First and last timestamp (epoch s) of any raw row; None for an empty store."""
    union = " UNION ALL ".join(
        f"SELECT min(ts) AS first, max(ts) AS last, count() AS n FROM {store.database}.{t}" for t in DATA_TABLES
    )
    row = store.query(
        f"SELECT minIf(first, n > 0) AS first, maxIf(last, n > 0) AS last, sum(n) AS rows FROM ({union})"
    ).to_pylist()[0]
    if not row["rows"]:
        return None
    return _epoch(row["first"]), _epoch(row["last"])


def rows_between(store: QueryableStore, start: float, end: float) -> int:
    """How many raw rows fall in ``[start, end]`` (0 means there is nothing to report on)."""
    union = " UNION ALL ".join(
        f"SELECT count() AS n FROM {store.database}.{t}"
        " WHERE ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')"
        " AND ts <= fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"
        for t in DATA_TABLES
    )
    rows = store.query(f"SELECT sum(n) AS n FROM ({union})", {"start_ms": int(start * 1000), "end_ms": int(end * 1000)})
    return int(rows.to_pylist()[0]["n"] or 0)


def _epoch(value: dt.datetime | float) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    return float(value)

"""Forensic questions answered from the store: what fired, what changed, what it was like, what stood out.

``alerts`` and ``timeline`` tell the story of a window; ``asof`` and ``asof_detail`` rebuild
each plane's state at one moment; ``diff`` and ``diff_detail`` compare two moments;
``top`` (``top_ports``, ``top_sessions``, ``top_switches``) ranks what stood out in a
window. Each returns a ``pyarrow.Table`` that ``planewatch query`` prints as a table,
CSV or JSON.

Every user value (times, plane, limits, ranking) is bound as a query parameter and
checked before any SQL runs; only the database name, an identifier validated when the
store opened, is placed into the SQL text.
"""

from planewatch.forensics.common import QueryableStore, Window
from planewatch.forensics.diff import DIFF_DETAIL_SCHEMA, DIFF_SCHEMA, diff, diff_detail
from planewatch.forensics.history import alerts, timeline
from planewatch.forensics.state import (
    ASOF_DETAIL_SCHEMA,
    ASOF_SCHEMA,
    DEFAULT_LOOKBACK,
    DEFAULT_RATE_WINDOW,
    asof,
    asof_detail,
)
from planewatch.forensics.top import RANKINGS, TopBy, TopWhat, top, top_ports, top_sessions, top_switches

__all__ = [
    "ASOF_DETAIL_SCHEMA",
    "ASOF_SCHEMA",
    "DEFAULT_LOOKBACK",
    "DEFAULT_RATE_WINDOW",
    "DIFF_DETAIL_SCHEMA",
    "DIFF_SCHEMA",
    "RANKINGS",
    "QueryableStore",
    "TopBy",
    "TopWhat",
    "Window",
    "alerts",
    "asof",
    "asof_detail",
    "diff",
    "diff_detail",
    "timeline",
    "top",
    "top_ports",
    "top_sessions",
    "top_switches",
]

"""One line of collector health for ``planewatch up``'s status view, from every collector's ``status()``.

Each collector reports per-target rows with at least ``target`` and ``state``; a target is
healthy in the state its protocol calls working (gNMI ``connected``, sFlow ``receiving``,
BIRD ``up``). Losses and drops are summed so an operator sees them without asking.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

HEALTHY_STATES = frozenset({"connected", "receiving", "up"})
DROPPED = "(dropped)"


def collector_summary(rows: Iterable[Mapping[str, object]], now: float | None = None) -> str:
    """``collectors: gnmi 72/72 connected · sflow 72/72 receiving, 3 lost · bird 127/128 up``."""
    healthy: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    state_word: dict[str, str] = {}
    troubles: dict[str, list[str]] = defaultdict(list)
    lost: dict[str, int] = defaultdict(int)
    for row in rows:
        name = str(row.get("collector", "?"))
        if row.get("target") == DROPPED:
            if row.get("datagrams"):
                troubles[name].append(f"{row['datagrams']} dropped from unknown agents")
            continue
        total[name] += 1
        state = str(row.get("state", ""))
        if state in HEALTHY_STATES:
            healthy[name] += 1
            state_word[name] = state
        for key in ("lost", "stalls", "failures"):
            value = row.get(key)
            if isinstance(value, int) and value:
                lost[f"{name}:{key}"] += value
    parts = []
    for name in total:
        text = f"{name} {healthy[name]}/{total[name]} {state_word.get(name, 'healthy')}"
        extra = [f"{lost[k]} {k.split(':')[1]}" for k in sorted(lost) if k.startswith(name + ":")]
        extra += troubles.get(name, [])
        parts.append(text + (", " + ", ".join(extra) if extra else ""))
    return "collectors: " + (" · ".join(parts) if parts else "none")


def unhealthy_targets(rows: Iterable[Mapping[str, object]], now: float, limit: int = 5) -> list[str]:
    """Up to ``limit`` lines naming targets that are not healthy: state, last update age, reconnects, last error."""
    lines = []
    for row in rows:
        if row.get("target") == DROPPED or str(row.get("state", "")) in HEALTHY_STATES:
            continue
        last = row.get("last_update")
        age = f"last update {now - last:.0f}s ago" if isinstance(last, (int, float)) and last else "never updated"
        reconnects = row.get("reconnects")
        detail = [age] + ([f"{reconnects} reconnects"] if reconnects else [])
        if row.get("last_error"):
            detail.append(str(row["last_error"])[:120])
        lines.append(f"{row.get('collector', '?')} {row.get('target')}: {row.get('state')} ({', '.join(detail)})")
        if len(lines) == limit:
            break
    return lines

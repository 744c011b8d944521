"""MAC-table changes from two consecutive FDB snapshots of one switch.

gNMI gives planewatch the whole MAC table every ``fdb_interval`` (SAMPLE); the churn
detectors want the *changes* (a MAC learned, moved to another port, aged out). Diffing
snapshots gives them without asking switches for per-entry ON_CHANGE streams, which
many implementations do not support for the FDB. Changes carry the later snapshot's
timestamp: the switch does not say when inside the interval a MAC moved.
"""

from __future__ import annotations

from planewatch.schemas.records import FdbChange, FdbSnapshot


def _table(snapshot: FdbSnapshot) -> dict[tuple[str, int], str]:
    return {(mac, vlan): port for mac, vlan, port in zip(snapshot.macs, snapshot.vlans, snapshot.ports)}


def diff_fdb(previous: FdbSnapshot | None, current: FdbSnapshot) -> list[FdbChange]:
    """``learned``/``moved``/``aged`` changes from ``previous`` to ``current`` (none for a first snapshot).

    A first snapshot yields nothing: reporting 20,000 "learned" MACs because the collector
    started would drown the real churn signal.
    """
    if previous is None:
        return []
    before, after = _table(previous), _table(current)
    common = dict(ts=current.ts, plane=current.plane, device=current.device)
    changes: list[FdbChange] = []
    for (mac, vlan), port in after.items():
        old = before.get((mac, vlan))
        if old is None:
            changes.append(FdbChange(**common, mac=mac, vlan=vlan, port=port, change="learned"))
        elif old != port:
            changes.append(FdbChange(**common, mac=mac, vlan=vlan, port=port, change="moved", previous_port=old))
    for (mac, vlan), port in before.items():
        if (mac, vlan) not in after:
            changes.append(FdbChange(**common, mac=mac, vlan=vlan, port=port, change="aged"))
    return changes

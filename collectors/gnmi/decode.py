"""pygnmi notifications -> planewatch records, for one switch.

A gNMI notification carries leaves and one timestamp; a record needs a whole sample.
Devices differ in how they cut a sample into notifications (one per interface, one per
leaf, …), so leaves are grouped per (interface, timestamp) and the group becomes one
:class:`PortCounters` when it is **complete**: all twelve counters arrived, the stream
moved on to a newer sample of that interface, the target sent ``sync_response``, or the
stream went quiet for a while (:meth:`DeviceDecoder.flush`). FDB entries are grouped
per timestamp into one :class:`FdbSnapshot` the same way (there is no "all counters
arrived" for a MAC table).

The decoder outlives sessions: after a reconnect the target re-sends its current state
with the *same* timestamps, and those repeats are dropped, so every record is published
once. It also rates the counters (:mod:`planewatch.counters`) to count resets
and wraps for the status view — the records themselves stay raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from planewatch.counters import CounterEvent, RateTracker
from planewatch.collectors.gnmi.fdb import diff_fdb
from planewatch.collectors.gnmi.paths import Elem, join
from planewatch.schemas.records import FdbSnapshot, InterfaceStatus, PortCounters, Record

COUNTER_LEAVES: dict[str, str] = {
    "in-octets": "in_octets",
    "out-octets": "out_octets",
    "in-unicast-pkts": "in_unicast_pkts",
    "out-unicast-pkts": "out_unicast_pkts",
    "in-broadcast-pkts": "in_broadcast_pkts",
    "out-broadcast-pkts": "out_broadcast_pkts",
    "in-multicast-pkts": "in_multicast_pkts",
    "out-multicast-pkts": "out_multicast_pkts",
    "in-discards": "in_discards",
    "out-discards": "out_discards",
    "in-errors": "in_errors",
    "out-errors": "out_errors",
}
REQUIRED_COUNTERS = ("in_octets", "out_octets", "in_unicast_pkts", "out_unicast_pkts")
"""PortCounters cannot be built without these; a sample lacking one is counted ``incomplete``."""


def seconds(ts_ns: int) -> float:
    """gNMI nanoseconds -> record seconds (int / int division is correctly rounded, so
    a float timestamp survives the ns round trip exactly)."""
    return ts_ns / 1_000_000_000


def _flatten(path: list[Elem], value: Any) -> Iterator[tuple[list[Elem], Any]]:
    """JSON-encoded subtrees (``{"in-octets": "12"}``) into leaves; leaf-lists are skipped."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _flatten(path + [Elem(str(key).split(":", 1)[-1], {})], child)
    elif not isinstance(value, list):
        yield path, value


def _as_counter(value: Any) -> int | None:
    """uint_val ints, or RFC 7951 JSON's uint64-as-string; anything else is not a counter."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _names(path: list[Elem]) -> tuple[str, ...]:
    return tuple(e.name for e in path)


_COUNTERS_PATH = ("interfaces", "interface", "state", "counters")
_OPER_PATH = ("interfaces", "interface", "state", "oper-status")
_FDB_ENTRY = ("network-instances", "network-instance", "fdb", "mac-table", "entries", "entry")
_FDB_PORT = ("interface", "interface-ref", "state", "interface")


@dataclass
class _Pending:
    values: dict[str, Any]
    seen: float


@dataclass
class DecoderStats:
    """What the decoder did with what it read (shown per target in ``status()``)."""

    records: int = 0
    duplicates: int = 0
    incomplete: int = 0
    unparsable: int = 0
    counter_resets: int = 0
    counter_wraps: int = 0
    fdb_changes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class DeviceDecoder:
    """Turns one switch's pygnmi messages into records (see the module docstring)."""

    device: str
    plane: int
    stats: DecoderStats = field(default_factory=DecoderStats)

    def __post_init__(self) -> None:
        self._counters: dict[tuple[str, int], _Pending] = {}
        self._fdb: dict[int, _Pending] = {}
        self._last_counters: dict[str, float] = {}
        self._last_status: dict[str, float] = {}
        self._last_fdb: FdbSnapshot | None = None
        self._rates: RateTracker[tuple[str, str]] = RateTracker()

    # -- input --------------------------------------------------------------------------
    def feed(self, message: dict[str, Any] | None, now: float) -> list[Record]:
        """Records completed by one message (as pygnmi's ``telemetryParser`` returns it).

        ``None`` is what pygnmi returns for a message it could not parse (e.g. a zero
        timestamp); it is counted, not raised.
        """
        if message is None:
            self.stats.unparsable += 1
            return []
        if "sync_response" in message:
            return self.flush()
        notification = message.get("update")
        if not isinstance(notification, dict):
            return []
        ts_ns = notification.get("timestamp") or 0
        if not ts_ns:
            self.stats.unparsable += 1
            return []
        out: list[Record] = []
        prefix = notification.get("prefix")
        for update in notification.get("update") or ():
            for path, value in _flatten(join(prefix, update.get("path")), update.get("val")):
                self._leaf(path, value, ts_ns, now, out)
        return out

    def _leaf(self, path: list[Elem], value: Any, ts_ns: int, now: float, out: list[Record]) -> None:
        names = _names(path)
        if names[:4] == _COUNTERS_PATH and len(names) == 5:
            port = path[1].keys.get("name")
            name = COUNTER_LEAVES.get(names[4])
            counter = _as_counter(value)
            if port is None or name is None or counter is None:
                return
            for (p, t) in [k for k in self._counters if k[0] == port and k[1] != ts_ns]:
                self._emit_counters(p, t, out)
            pending = self._counters.setdefault((port, ts_ns), _Pending({}, now))
            pending.values[name] = counter
            pending.seen = now
            if len(pending.values) == len(COUNTER_LEAVES):
                self._emit_counters(port, ts_ns, out)
        elif names == _OPER_PATH:
            port = path[1].keys.get("name")
            if port is not None and isinstance(value, str):
                self._emit_status(port, value.split(":", 1)[-1], ts_ns, out)
        elif names[:6] == _FDB_ENTRY and names[6:] == _FDB_PORT:
            keys = path[5].keys
            mac, vlan = keys.get("mac-address"), keys.get("vlan")
            if mac is None or vlan is None or not vlan.isdigit() or not isinstance(value, str):
                return
            for t in [t for t in self._fdb if t != ts_ns]:
                self._emit_fdb(t, out)
            pending = self._fdb.setdefault(ts_ns, _Pending({}, now))
            pending.values[(mac.lower(), int(vlan))] = value
            pending.seen = now

    # -- completion ---------------------------------------------------------------------
    def flush(self, older_than: float | None = None) -> list[Record]:
        """Emit pending samples (all, or only those last touched before ``older_than``)."""
        out: list[Record] = []
        for (port, ts_ns), pending in list(self._counters.items()):
            if older_than is None or pending.seen < older_than:
                self._emit_counters(port, ts_ns, out)
        for ts_ns, pending in list(self._fdb.items()):
            if older_than is None or pending.seen < older_than:
                self._emit_fdb(ts_ns, out)
        return out

    @property
    def pending(self) -> int:
        return len(self._counters) + len(self._fdb)

    # -- output -------------------------------------------------------------------------
    def _emit_counters(self, port: str, ts_ns: int, out: list[Record]) -> None:
        values = self._counters.pop((port, ts_ns)).values
        ts = seconds(ts_ns)
        if any(name not in values for name in REQUIRED_COUNTERS):
            self.stats.incomplete += 1
            return
        if ts <= self._last_counters.get(port, float("-inf")):
            self.stats.duplicates += 1
            return
        self._last_counters[port] = ts
        reset = False
        for name, value in values.items():
            event = self._rates.update((port, name), ts, value).event
            reset |= event is CounterEvent.RESET
            self.stats.counter_wraps += event is CounterEvent.WRAP
        self.stats.counter_resets += reset
        out.append(PortCounters(ts=ts, plane=self.plane, device=self.device, port=port, **values))
        self.stats.records += 1

    def _emit_status(self, port: str, status: str, ts_ns: int, out: list[Record]) -> None:
        ts = seconds(ts_ns)
        if ts <= self._last_status.get(port, float("-inf")):
            self.stats.duplicates += 1
            return
        self._last_status[port] = ts
        out.append(InterfaceStatus(ts=ts, plane=self.plane, device=self.device, port=port, oper_status=status))
        self.stats.records += 1

    def _emit_fdb(self, ts_ns: int, out: list[Record]) -> None:
        entries = self._fdb.pop(ts_ns).values
        ts = seconds(ts_ns)
        if self._last_fdb is not None and ts <= self._last_fdb.ts:
            self.stats.duplicates += 1
            return
        snapshot = FdbSnapshot(
            ts=ts, plane=self.plane, device=self.device,
            macs=[mac for mac, _ in entries], vlans=[vlan for _, vlan in entries], ports=list(entries.values()),
        )
        changes = diff_fdb(self._last_fdb, snapshot)
        self._last_fdb = snapshot
        out.append(snapshot)
        out.extend(changes)
        self.stats.records += 1 + len(changes)
        self.stats.fdb_changes += len(changes)

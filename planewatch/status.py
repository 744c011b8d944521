"""Live per-plane status for ``planewatch up``: sessions up, ports up, traffic share, broadcast.

This is a *view* of the latest records, not a detector: it never raises findings. It
keeps one small entry per session and per server-facing port, so its memory follows the
fabric's size, not time.
"""

from __future__ import annotations

import dataclasses

from planewatch.counters import RateTracker
from planewatch.inventory import Inventory
from planewatch.schemas import BgpSession, InterfaceStatus, PortCounters, Record


@dataclasses.dataclass
class PlaneStatus:
    plane: int
    name: str
    sessions_up: int = 0
    sessions: int = 0
    ports_up: int = 0
    ports: int = 0
    bytes_per_s: float = 0.0
    broadcast_pps: float = 0.0
    share: float = 0.0


@dataclasses.dataclass
class _PortRate:
    plane: int
    ts: float
    bytes_per_s: float = 0.0
    flood_pps: float = 0.0


class FabricStatus:
    """Folds records into the latest per-plane picture."""

    def __init__(self, inventory: Inventory, stale_after: float = 30.0):
        self.inventory = inventory
        self.stale_after = stale_after
        self.now = 0.0
        self._sessions: dict[tuple[str, str], tuple[int, float, bool]] = {}
        self._ports: dict[tuple[str, str], tuple[int, float, bool]] = {}
        self._rates: dict[tuple[str, str], _PortRate] = {}
        self._counters: RateTracker[tuple[str, str, str]] = RateTracker()

    def update(self, record: Record) -> None:
        self.now = max(self.now, record.ts)
        if isinstance(record, BgpSession):
            key = (record.node, record.peer_ip)
            previous = self._sessions.get(key)
            if previous is None or previous[1] <= record.ts:
                self._sessions[key] = (record.plane, record.ts, record.established)
        elif isinstance(record, InterfaceStatus):
            if self.inventory.is_server_port(record.device, record.port):
                key = (record.device, record.port)
                previous = self._ports.get(key)
                if previous is None or previous[1] <= record.ts:
                    self._ports[key] = (record.plane, record.ts, record.is_up)
        elif isinstance(record, PortCounters):
            if self.inventory.is_server_port(record.device, record.port):
                self._count(record)

    def _count(self, record: PortCounters) -> None:
        """Latest byte and broadcast+multicast rates of a server port (resets and wraps handled)."""
        octets = record.in_octets + record.out_octets
        flood = None
        if record.in_broadcast_pkts is not None and record.in_multicast_pkts is not None:
            flood = record.in_broadcast_pkts + record.in_multicast_pkts
        port = self._rates.get((record.device, record.port))
        if port is None:
            port = self._rates[(record.device, record.port)] = _PortRate(record.plane, record.ts)
        byte_rate = self._counters.update((record.device, record.port, "octets"), record.ts, octets)
        flood_rate = self._counters.update((record.device, record.port, "flood"), record.ts, flood)
        port.ts = max(port.ts, record.ts)
        if byte_rate.per_second is not None:
            port.bytes_per_s = byte_rate.per_second
        if flood_rate.per_second is not None:
            port.flood_pps = flood_rate.per_second

    def planes(self) -> list[PlaneStatus]:
        """The per-plane picture now (rates from ports heard from in the last ``stale_after`` s)."""
        view = {p: PlaneStatus(p, self.inventory.plane_name(p)) for p in self.inventory.plane_ids}
        for plane, _, up in self._sessions.values():
            if plane in view:
                view[plane].sessions += 1
                view[plane].sessions_up += up
        for plane, _, up in self._ports.values():
            if plane in view:
                view[plane].ports += 1
                view[plane].ports_up += up
        for port in self._rates.values():
            if port.plane in view and self.now - port.ts <= self.stale_after:
                view[port.plane].bytes_per_s += port.bytes_per_s
                view[port.plane].broadcast_pps += port.flood_pps
        total = sum(p.bytes_per_s for p in view.values())
        for status in view.values():
            status.share = status.bytes_per_s / total if total else 0.0
        return list(view.values())

"""A small hand-built fabric for detector tests, and a record factory that models it.

4 planes (blue, green, orange, red) × 2 racks × 4 servers; per plane one ToR per rack
(server ``s-r{rack}-{n}`` sits on port ``eth{n}``, uplink ``eth49``), one spine and two
route reflectors. :class:`Fabric` builds the records the collectors would publish, with
explicit event times, so every scenario is deterministic and independent of the simulator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pytest

from planewatch.inventory import Inventory, parse_inventory
from planewatch.schemas.records import BgpSession, Finding, InterfaceStatus, PortCounters, Record, Watermark

PLANES = {1: "blue", 2: "green", 3: "orange", 4: "red"}
RACKS = (1, 2)
PER_RACK = 4
UPLINK = "eth49"


def inventory_document() -> dict:
    switches, rrs, servers = [], [], []
    for p in PLANES:
        switches.append({"name": f"spine-p{p}", "plane": p, "role": "spine", "address": f"192.168.{p}.100"})
        for r in RACKS:
            switches.append({
                "name": f"tor-p{p}-r{r}", "plane": p, "role": "tor", "rack": f"r{r}",
                "address": f"192.168.{p}.{r}", "uplinks": [UPLINK],
            })
        for k in (1, 2):
            rrs.append({"name": f"rr-p{p}-{k}", "plane": p, "address": f"10.{p}.255.{k}"})
    for r in RACKS:
        for n in range(1, PER_RACK + 1):
            servers.append({
                "name": f"s-r{r}-{n}", "rack": f"r{r}",
                "addresses": {p: f"10.{p}.{r}.{n}" for p in PLANES},
            })
    return {
        "fabric": "test",
        "planes": [{"id": p, "name": name, "subnets": [f"10.{p}.0.0/16"]} for p, name in PLANES.items()],
        "switches": switches,
        "route_reflectors": rrs,
        "servers": servers,
    }


class Fabric:
    """Makes the records of the test fabric; keeps cumulative octet counters per port."""

    HEALTHY = {p: 1000.0 for p in PLANES}
    """Per-port bytes/s: every plane carries a quarter of the traffic."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        self.servers = [f"s-r{r}-{n}" for r in RACKS for n in range(1, PER_RACK + 1)]
        self.octets: dict[tuple[str, str], int] = defaultdict(int)

    @staticmethod
    def port_of(server: str, plane: int) -> tuple[str, str]:
        _, rack, n = server.split("-")
        return f"tor-p{plane}-{rack}", f"eth{n}"

    def sessions(self, ts: float, state: str, *, planes: Iterable[int] = PLANES,
                 servers: Iterable[str] | None = None, step: float = 0.0) -> list[BgpSession]:
        """Both RR sessions of each server on each plane; ``step`` staggers servers in time."""
        out = []
        for k, server in enumerate(servers or self.servers):
            for p in planes:
                for rr in (1, 2):
                    peer = f"10.{p}.255.{rr}"
                    out.append(BgpSession(
                        ts=ts + k * step + (rr - 1) * step / 2, plane=p, node=server,
                        protocol=f"Node_{peer.replace('.', '_')}", peer_ip=peer, state=state,
                    ))
        return out

    def ports(self, ts: float, status: str, *, planes: Iterable[int] = PLANES,
              servers: Iterable[str] | None = None, step: float = 0.0) -> list[InterfaceStatus]:
        out = []
        for k, server in enumerate(servers or self.servers):
            for p in planes:
                device, port = self.port_of(server, p)
                out.append(InterfaceStatus(ts=ts + k * step, plane=p, device=device, port=port, oper_status=status))
        return out

    def uplinks(self, ts: float, status: str, *, planes: Iterable[int] = PLANES) -> list[InterfaceStatus]:
        return [InterfaceStatus(ts=ts, plane=p, device=f"tor-p{p}-r{r}", port=UPLINK, oper_status=status)
                for p in planes for r in RACKS]

    def counters(self, ts: float, rate: dict[int, float], interval: float = 10.0,
                 *, planes: Iterable[int] = PLANES, reset: Iterable[int] = ()) -> list[PortCounters]:
        """One sample of every server port (and ToR uplink) on ``planes``, advanced by
        ``rate[plane]`` bytes/s per port over ``interval``; planes in ``reset`` restart from 0."""
        out = []
        reset = set(reset)
        for p in planes:
            for server in self.servers:
                key = self.port_of(server, p)
                if p in reset:
                    self.octets[key] = 0
                self.octets[key] += int(rate.get(p, 0.0) * interval)
                total = self.octets[key]
                out.append(PortCounters(ts=ts, plane=p, device=key[0], port=key[1], in_octets=total // 2,
                                        out_octets=total - total // 2, in_unicast_pkts=0, out_unicast_pkts=0))
            for r in RACKS:
                out.append(PortCounters(ts=ts, plane=p, device=f"tor-p{p}-r{r}", port=UPLINK, in_octets=0,
                                        out_octets=0, in_unicast_pkts=0, out_unicast_pkts=0))
        return out

    def initial(self, ts: float) -> list[Record]:
        """What the collectors report when they connect: every session up, every port up."""
        return [*self.sessions(ts, "Established"), *self.ports(ts, "UP"), *self.uplinks(ts, "UP")]

    @staticmethod
    def run(detector, records: Iterable[Record]) -> list[Finding]:
        """Feed records in event-time order (stable for ties) and collect every finding."""
        findings: list[Finding] = []
        for record in sorted(records, key=lambda r: r.ts):
            findings += detector.feed(record)
        return findings

    def traffic(self, start: float, end: float, rates, *, silent: Iterable[int] = (),
                interval: float = 10.0, watermark_every: float = 5.0) -> list[Record]:
        """Counters every ``interval`` and watermarks every ``watermark_every`` in [start, end).

        ``rates`` is a dict or a function of time returning one.
        """
        out: list[Record] = []
        silent = set(silent)
        t = start
        while t < end:
            if round(t / interval, 6).is_integer():
                now_rates = rates(t) if callable(rates) else rates
                out += self.counters(t, now_rates, interval, planes=[p for p in PLANES if p not in silent])
            out.append(Watermark(ts=t + 0.001, plane=0))
            t += watermark_every
        return out


@pytest.fixture
def inventory() -> Inventory:
    return parse_inventory(inventory_document(), "test-fabric")


@pytest.fixture
def fabric(inventory: Inventory) -> Fabric:
    return Fabric(inventory)

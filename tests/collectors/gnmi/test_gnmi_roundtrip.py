"""Collector <-> simulated target over real gRPC and TLS: the records that come out are the simulator's."""

from __future__ import annotations

import asyncio

from gnmi_lab import SAMPLE, contains_all, running, served, simulator, small_fabric, until, with_gnmi

from planewatch.collectors.gnmi import GnmiCollector, GnmiOptions
from planewatch.inventory import GnmiTarget
from planewatch.schemas.records import FdbChange, FdbSnapshot, InterfaceStatus, PortCounters


def test_gnmi_mtls_round_trip_reproduces_simulator_records(pki, speakers) -> None:
    """Every switch over mutual TLS: counters, oper-status and FDB equal the simulator's, each once."""
    inventory = with_gnmi(small_fabric(), GnmiTarget(
        ca_file=pki.ca_file, cert_file=pki.client_cert, key_file=pki.client_key,
        sample_interval=SAMPLE, fdb_interval=2 * SAMPLE,
    ))
    sim = simulator(inventory)
    speaker = speakers(inventory.switches, tls=pki.server_tls(require_client_cert=True))
    produced = []
    collector = GnmiCollector(inventory, endpoints=speaker.endpoints, options=GnmiOptions(connect_timeout=5))

    async def scenario() -> list:
        async with running(collector) as records:
            for _ in range(4):
                step = sim.step()
                produced.extend(step)
                speaker.update(step)
                expected = served(step)
                await until(lambda e=expected: contains_all(records, e), 10, f"the records of step ending {sim.now}")
            return list(records)

    records = asyncio.run(scenario())
    kinds = (PortCounters, InterfaceStatus, FdbSnapshot)
    simulated = [r for r in produced if isinstance(r, kinds)]
    collected = [r for r in records if isinstance(r, kinds)]
    assert collected, "nothing collected"
    assert all(r in simulated for r in collected), [r for r in collected if r not in simulated][:3]
    keys = {(type(r), r.device, getattr(r, "port", None), r.ts) for r in collected}
    assert len(collected) == len(keys), "a record came twice"
    assert {r.device for r in collected} == set(inventory.switches)
    assert not [r for r in records if isinstance(r, FdbChange)], "a steady FDB produced changes"
    statuses = collector.status()
    assert all(s["state"] == "connected" and s["transport"] == "mtls" and s["errors"] == 0 for s in statuses), statuses


def test_gnmi_fdb_changes_are_diffed_from_snapshots_end_to_end(pki, speakers) -> None:
    """A MAC learned, one moved and one aged between two snapshots arrive as FdbChange records."""
    inventory = with_gnmi(small_fabric(), GnmiTarget(ca_file=pki.ca_file, sample_interval=SAMPLE, fdb_interval=SAMPLE))
    tor = next(name for name, s in inventory.switches.items() if s.role == "tor")
    sim = simulator(inventory)
    speaker = speakers([tor], tls=pki.server_tls())
    first = next(r for r in sim.step() if isinstance(r, FdbSnapshot) and r.device == tor)
    speaker.update([first])
    macs, vlans, ports = list(first.macs), list(first.vlans), list(first.ports)
    moved_mac, aged_mac, old_port = macs[0], macs[1], ports[0]
    # entry 0 moves to another port, entry 1 ages out, a new MAC is learned
    macs = macs[:1] + macs[2:] + ["02:00:00:00:00:99"]
    vlans = vlans[:1] + vlans[2:] + [vlans[0]]
    ports = ["Ethernet99"] + ports[2:] + [ports[2]]
    second = FdbSnapshot(ts=first.ts + 2, plane=first.plane, device=tor, macs=macs, vlans=vlans, ports=ports)
    collector = GnmiCollector(inventory, switches=[tor], endpoints=speaker.endpoints)

    async def scenario() -> list:
        async with running(collector) as records:
            await until(lambda: first in records, 10, "the first snapshot")
            speaker.update([second])
            await until(lambda: second in records and any(isinstance(r, FdbChange) for r in records), 10, "the changes")
            return list(records)

    changes = {(c.change, c.mac): c for c in asyncio.run(scenario()) if isinstance(c, FdbChange)}
    assert set(changes) == {("moved", moved_mac), ("aged", aged_mac), ("learned", "02:00:00:00:00:99")}
    assert changes[("moved", moved_mac)].previous_port == old_port and changes[("moved", moved_mac)].port == "Ethernet99"
    assert changes[("aged", aged_mac)].port == first.ports[1]
    assert all(c.ts == second.ts and c.device == tor and c.plane == first.plane for c in changes.values())


def test_gnmi_server_tls_with_ca_only_verifies_the_target(pki, speakers) -> None:
    """A CA without a client certificate is server-authenticated TLS (pygnmi would otherwise trust any certificate)."""
    inventory = with_gnmi(small_fabric(), GnmiTarget(ca_file=pki.ca_file, sample_interval=SAMPLE))
    name = next(iter(inventory.switches))
    sim = simulator(inventory)
    speaker = speakers([name], tls=pki.server_tls())
    speaker.update(sim.step())
    collector = GnmiCollector(inventory, switches=[name], endpoints=speaker.endpoints)

    async def scenario() -> list:
        async with running(collector) as records:
            await until(lambda: any(isinstance(r, PortCounters) for r in records), 10, "counters")
            return list(records)

    assert asyncio.run(scenario())
    assert collector.status()[0]["transport"] == "tls"

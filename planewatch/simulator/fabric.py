"""Build the inventory of a simulated multi-plane Calico fabric.

The simulator, the demo (``planewatch up`` without an inventory), load tests and
scenario tests all need a fabric that looks like the one in the Calico note: N planes,
each its own subnet and VLAN, one ToR per rack per plane, a few spines per plane, route
reflectors per plane, and servers with one address and one MAC on every plane. Names
and addresses follow fixed conventions (below) so a human reading an alert can tell
where ``p2-tor-r07`` or ``10.2.7.15`` is without looking anything up.

Conventions (plane ``p``, rack ``r``, server slot ``n``, spine ``s``, RR ``k``; all 1-based):

* plane names ``blue, green, orange, red`` then ``plane-5``, ``plane-6`` …;
  subnets ``10.p.0.0/16`` and ``fd00:p::/64``; VLAN ``100 + p``.
* ToR ``p{p}-tor-r{r:02d}`` (server ``n`` on port ``Ethernet{n}``, as its ``ports`` say; uplink
  to spine ``s`` on port ``Ethernet{uplink_base + s}``, ``uplink_base`` = 48 or the next multiple of 8 above
  the rack size); spine ``p{p}-spine{s}`` (rack ``r`` on ``Ethernet{r}``, RR ``k`` on
  ``Ethernet{racks + k}``).
* server ``r{r:02d}-s{n:02d}`` at ``10.p.r.(n+10)`` with MAC ``02:pp:SS:rr:00:nn``
  (locally administered; ``SS`` = seed byte); RR ``p{p}-rr{k}`` at ``10.p.255.k`` with MAC
  ``02:pp:SS:ff:00:kk``.
* switch management (and sFlow agent) addresses in ``172.16.0.0/12``: never contacted.
"""

from __future__ import annotations

import ipaddress

from planewatch.inventory import (
    GnmiTarget,
    Inventory,
    InventoryFile,
    Plane,
    RouteReflector,
    Server,
    Switch,
)

PLANE_NAMES = ("blue", "green", "orange", "red")
MAX_PLANES = 255
MAX_RACKS = 254
"""Rack ``r`` is the third octet of ``10.p.r.x``; 255 is kept for route reflectors."""
MAX_SERVERS_PER_RACK = 240
"""Server ``n`` is the fourth octet ``n + 10``."""
_MGMT_BASE = int(ipaddress.IPv4Address("172.16.0.0"))


def plane_name(plane: int) -> str:
    """Colour for the first four planes (as in the Calico note), ``plane-<id>`` after."""
    return PLANE_NAMES[plane - 1] if plane <= len(PLANE_NAMES) else f"plane-{plane}"


def tor_name(plane: int, rack: int) -> str:
    return f"p{plane}-tor-r{rack:02d}"


def spine_name(plane: int, spine: int) -> str:
    return f"p{plane}-spine{spine}"


def rack_name(rack: int) -> str:
    return f"r{rack:02d}"


def server_name(rack: int, slot: int) -> str:
    return f"r{rack:02d}-s{slot:02d}"


def rr_name(plane: int, k: int) -> str:
    return f"p{plane}-rr{k}"


def server_address(plane: int, rack: int, slot: int) -> str:
    return f"10.{plane}.{rack}.{slot + 10}"


def server_port(slot: int) -> str:
    """ToR port of server slot ``n`` (the same on every plane's ToR of the rack)."""
    return f"Ethernet{slot}"


def rr_address(plane: int, k: int) -> str:
    return f"10.{plane}.255.{k}"


def server_mac(plane: int, rack: int, slot: int, seed: int = 0) -> str:
    """Locally administered (``02:``) and unique per plane, rack, slot and seed."""
    return f"02:{plane:02x}:{seed & 0xFF:02x}:{rack:02x}:00:{slot:02x}"


def rr_mac(plane: int, k: int, seed: int = 0) -> str:
    return f"02:{plane:02x}:{seed & 0xFF:02x}:ff:00:{k:02x}"


def uplink_base(servers_per_rack: int) -> int:
    """Port number just below the first uplink: 48 for racks of up to 48 servers, else the next multiple of 8."""
    return max(48, -(-servers_per_rack // 8) * 8)


def management_address(plane: int, index: int) -> str:
    """Management address of the ``index``-th switch of ``plane`` (ToRs 1..254, spines from 1025)."""
    return str(ipaddress.IPv4Address(_MGMT_BASE + (plane << 12) + index))


def _check(planes: int, racks: int, servers_per_rack: int, route_reflectors_per_plane: int, spines_per_plane: int) -> None:
    limits = (
        ("planes", planes, 1, MAX_PLANES),
        ("racks", racks, 1, MAX_RACKS),
        ("servers_per_rack", servers_per_rack, 1, MAX_SERVERS_PER_RACK),
        ("route_reflectors_per_plane", route_reflectors_per_plane, 1, 254),
        ("spines_per_plane", spines_per_plane, 1, 64),
    )
    for name, value, low, high in limits:
        if not low <= value <= high:
            raise ValueError(f"{name}={value} is out of range: use {low}..{high} (the address plan 10.plane.rack.slot needs it)")


def build_fabric(
    planes: int = 4,
    racks: int = 8,
    servers_per_rack: int = 16,
    route_reflectors_per_plane: int = 2,
    spines_per_plane: int = 2,
    seed: int = 0,
) -> Inventory:
    """A validated :class:`Inventory` of a simulated fabric (see the module docstring for names).

    ``seed`` only changes the MAC addresses' third octet, so fabrics built with different
    seeds can share one store without MAC collisions. Fast enough for 20,000 servers:
    the models are built field by field (each validated by pydantic once) and the
    fabric-wide checks of :func:`~planewatch.inventory.parse_inventory` are skipped,
    because the address plan above makes duplicates impossible.
    """
    _check(planes, racks, servers_per_rack, route_reflectors_per_plane, spines_per_plane)
    plane_ids = range(1, planes + 1)
    base = uplink_base(servers_per_rack)
    uplinks = [f"Ethernet{base + s}" for s in range(1, spines_per_plane + 1)]
    plane_models = [
        Plane(
            id=p,
            name=plane_name(p),
            subnets=[ipaddress.ip_network(f"10.{p}.0.0/16"), ipaddress.ip_network(f"fd00:{p:x}::/64")],
            vlan=100 + p,
        )
        for p in plane_ids
    ]
    gnmi = GnmiTarget()
    switches: list[Switch] = []
    for p in plane_ids:
        for r in range(1, racks + 1):
            address = management_address(p, r)
            switches.append(Switch(
                name=tor_name(p, r), plane=p, rack=rack_name(r), role="tor",
                address=address, sflow_agent=address, uplinks=uplinks, gnmi=gnmi,
            ))
        for s in range(1, spines_per_plane + 1):
            address = management_address(p, 1024 + s)
            switches.append(Switch(
                name=spine_name(p, s), plane=p, role="spine", address=address, sflow_agent=address, gnmi=gnmi,
            ))
    reflectors = [
        RouteReflector(name=rr_name(p, k), plane=p, address=rr_address(p, k), mac=rr_mac(p, k, seed))
        for p in plane_ids
        for k in range(1, route_reflectors_per_plane + 1)
    ]
    servers = [
        Server(
            name=server_name(r, n),
            rack=rack_name(r),
            addresses={p: ipaddress.IPv4Address(server_address(p, r, n)) for p in plane_ids},
            macs={p: server_mac(p, r, n, seed) for p in plane_ids},
            ports={p: f"{tor_name(p, r)}:{server_port(n)}" for p in plane_ids},
        )
        for r in range(1, racks + 1)
        for n in range(1, servers_per_rack + 1)
    ]
    document = InventoryFile(
        fabric=f"sim-{planes}x{racks}x{servers_per_rack}" + (f"-s{seed}" if seed else ""),
        planes=plane_models,
        switches=switches,
        route_reflectors=reflectors,
        servers=servers,
    )
    return Inventory(document)

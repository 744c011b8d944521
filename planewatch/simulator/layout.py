"""Index an inventory into the flat, integer-addressed topology the simulator steps over.

The engine touches every server port and every BGP session many times per simulated
minute; doing that through dicts of pydantic models would be slow at 20,000 servers.
:class:`FabricLayout` resolves names once into lists indexed by small integers
(plane index, rack index, server index, RR index), so the hot loops only do list lookups.

It works for any inventory whose servers have a ``rack`` and whose racks have one ToR per
plane — not only for :func:`~planewatch.simulator.fabric.build_fabric` output. Because an
inventory does not say which ToR port a server uses, the ``n``-th server of a rack (in
inventory order) is on port ``Ethernet{n}``; spine ``s`` reaches rack ``r`` on
``Ethernet{r}`` and route reflector ``k`` on ``Ethernet{racks + k}``.
"""

from __future__ import annotations

import dataclasses

from planewatch.inventory import Inventory, normalise_mac


class LayoutError(ValueError):
    """The inventory cannot be simulated; the message says what to add."""


def port_index(port: str) -> int:
    """sFlow ifIndex of a port: the number in ``Ethernet12`` (0 if there is none)."""
    digits = "".join(ch for ch in port if ch.isdigit())
    return int(digits) if digits else 0


@dataclasses.dataclass
class PlaneLayout:
    """Everything of one plane, by index: its ToRs per rack, spines and route reflectors."""

    id: int
    name: str
    vlan: int
    tors: list[str]
    """ToR name per rack index."""
    tor_uplinks: list[list[str]]
    """Uplink port names per rack index (uplink ``u`` faces spine ``u % spines``)."""
    spines: list[str]
    rr_names: list[str]
    rr_addresses: list[str]
    rr_macs: list[str]
    protocols: list[str]
    """BIRD protocol name per RR (Calico's ``Node_10_1_255_1``)."""
    server_macs: list[str]
    """This plane's MAC of every server, by server index."""
    agents: dict[str, str]
    """sFlow agent address of every switch of the plane."""


@dataclasses.dataclass
class FabricLayout:
    """The topology as parallel lists; server ``i`` is ``servers[i]`` everywhere."""

    planes: list[PlaneLayout]
    racks: list[str]
    servers: list[str]
    server_rack: list[int]
    """Rack index of every server."""
    server_port: list[str]
    """ToR port name of every server (the same on every plane)."""
    rack_members: list[list[int]]
    """Server indices of every rack, in port order."""
    spine_rack_ports: list[str]
    """Spine port facing rack ``r`` (same on every spine)."""
    spine_rr_ports: list[str]
    """Spine port facing route reflector ``k``."""

    @property
    def plane_ids(self) -> list[int]:
        return [p.id for p in self.planes]

    def plane_index(self, plane_id: int) -> int:
        for index, plane in enumerate(self.planes):
            if plane.id == plane_id:
                return index
        raise KeyError(plane_id)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> FabricLayout:
        """Resolve every name once; raises :class:`LayoutError` saying what the inventory lacks."""
        servers = list(inventory.servers.values())
        if not servers:
            raise LayoutError("the inventory lists no servers; the simulator needs them one by one (use build_fabric())")
        racks: list[str] = []
        rack_index: dict[str, int] = {}
        rack_members: list[list[int]] = []
        server_rack: list[int] = []
        server_port: list[str] = []
        for i, server in enumerate(servers):
            if server.rack is None:
                raise LayoutError(f"server {server.name!r} has no rack; the simulator needs it to find its ToRs")
            if server.rack not in rack_index:
                rack_index[server.rack] = len(racks)
                racks.append(server.rack)
                rack_members.append([])
            r = rack_index[server.rack]
            rack_members[r].append(i)
            server_rack.append(r)
            server_port.append(f"Ethernet{len(rack_members[r])}")
        rr_count = max((sum(1 for rr in inventory.route_reflectors if inventory.plane_id(rr.plane) == p)
                        for p in inventory.plane_ids), default=0)
        planes = [cls._plane(inventory, p, servers, racks, rack_index) for p in inventory.plane_ids]
        return cls(
            planes=planes,
            racks=racks,
            servers=[s.name for s in servers],
            server_rack=server_rack,
            server_port=server_port,
            rack_members=rack_members,
            spine_rack_ports=[f"Ethernet{r + 1}" for r in range(len(racks))],
            spine_rr_ports=[f"Ethernet{len(racks) + k + 1}" for k in range(rr_count)],
        )

    @staticmethod
    def _plane(inventory: Inventory, p: int, servers: list, racks: list[str], rack_index: dict[str, int]) -> PlaneLayout:
        plane = inventory.planes[p]
        tors: list[str | None] = [None] * len(racks)
        uplinks: list[list[str]] = [[] for _ in racks]
        spines: list[str] = []
        agents: dict[str, str] = {}
        for switch in inventory.switches_in(p):
            agents[switch.name] = str(switch.sflow_agent or switch.address)
            if switch.role == "spine":
                spines.append(switch.name)
            elif switch.rack in rack_index:
                tors[rack_index[switch.rack]] = switch.name
                uplinks[rack_index[switch.rack]] = list(switch.uplinks)
        for r, ports in enumerate(uplinks):
            if not ports:  # a hand-written inventory may omit uplinks: one per spine, after 48 server ports
                ports.extend(f"Ethernet{48 + s}" for s in range(1, max(1, len(spines)) + 1))
        missing = [racks[r] for r, tor in enumerate(tors) if tor is None]
        if missing:
            raise LayoutError(f"plane {plane.name} has no ToR for rack(s) {', '.join(missing[:5])}; add a switch with role tor and that rack")
        reflectors = [rr for rr in inventory.route_reflectors if inventory.plane_id(rr.plane) == p]
        if not reflectors:
            raise LayoutError(f"plane {plane.name} has no route reflector; every server peers with its plane's RRs")
        rr_macs = [normalise_mac(rr.mac) if rr.mac else f"02:{p:02x}:ee:ff:00:{k + 1:02x}" for k, rr in enumerate(reflectors)]
        server_macs = []
        for i, server in enumerate(servers):
            mac = server.macs.get(p) or server.macs.get(plane.name) or server.macs.get(str(p))
            server_macs.append(normalise_mac(mac) if mac else f"02:{p:02x}:ee:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}")
        return PlaneLayout(
            id=p,
            name=plane.name,
            vlan=plane.vlan or 100 + p,
            tors=[t for t in tors if t is not None],
            tor_uplinks=uplinks,
            spines=spines,
            rr_names=[rr.name for rr in reflectors],
            rr_addresses=[str(rr.address) for rr in reflectors],
            rr_macs=rr_macs,
            protocols=["Node_" + str(rr.address).replace(".", "_").replace(":", "_") for rr in reflectors],
            server_macs=server_macs,
            agents=agents,
        )

"""The fabric inventory: planes, switches, route reflectors and servers, validated.

The inventory is what makes per-plane correlation possible: it maps a BGP peer address,
a switch, an sFlow agent or a MAC to its plane, and says which MACs a plane's tables
*should* hold (about one per server per plane, plus route reflectors and routers).

:func:`load_inventory` reports **every** problem at once, each with the field path that
holds it (``servers[3].addresses.green``), because fixing a 20,000-line YAML file one
error per run is nobody's idea of fun.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from pathlib import Path
from typing import Iterable, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plane(_Model):
    """One independent Ethernet plane: its own L2 domain, subnet and fault domain."""

    id: int = Field(ge=1, le=255)
    name: str = Field(min_length=1)
    subnets: list[IPNetwork] = Field(min_length=1)
    vlan: int | None = Field(default=None, ge=1, le=4094)


class GnmiTarget(_Model):
    """How to reach a switch's gNMI server. TLS unless ``insecure`` is set explicitly."""

    port: int = Field(default=57400, ge=1, le=65535)
    insecure: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username_env: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    sample_interval: float = Field(default=10.0, gt=0)
    fdb_interval: float = Field(default=60.0, gt=0)


class Switch(_Model):
    """A ToR or spine switch (or a port-VLAN logical switch) belonging to exactly one plane."""

    name: str = Field(min_length=1)
    plane: int | str
    rack: str | None = None
    role: Literal["tor", "spine"]
    address: IPAddress
    """Management address (gNMI)."""
    gnmi: GnmiTarget = GnmiTarget()
    sflow_agent: IPAddress | None = None
    uplinks: list[str] = []
    """Ports facing spines; every other ToR port is treated as server-facing."""


class RouteReflector(_Model):
    name: str = Field(min_length=1)
    plane: int | str
    address: IPAddress
    mac: str | None = None


class Router(_Model):
    """A border router attached to one plane (its MAC legitimately appears in that plane's tables)."""

    name: str = Field(min_length=1)
    plane: int | str
    address: IPAddress
    mac: str | None = None


class Server(_Model):
    """A compute server: one address (and optionally one MAC) on every plane, keyed by plane id or name."""

    name: str = Field(min_length=1)
    rack: str | None = None
    addresses: dict[int | str, IPAddress]
    macs: dict[int | str, str] = {}


class InventoryFile(_Model):
    """The YAML document as written by the user."""

    fabric: str = "fabric"
    planes: list[Plane] = Field(min_length=1)
    switches: list[Switch] = []
    route_reflectors: list[RouteReflector] = []
    routers: list[Router] = []
    servers: list[Server] = []
    expected_servers: int | None = Field(default=None, ge=0)
    """Used when servers are not listed one by one."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with an inventory, at a field path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InventoryError(ValueError):
    """The inventory cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def normalise_mac(mac: str) -> str:
    """``00-1B-21-aa-bb-cc`` / ``001b.21aa.bbcc`` -> ``00:1b:21:aa:bb:cc``; raises ValueError."""
    digits = "".join(ch for ch in mac.lower() if ch in "0123456789abcdef")
    stripped = mac.lower().replace(":", "").replace("-", "").replace(".", "")
    if len(digits) != 12 or stripped != digits:
        raise ValueError(f"{mac!r} is not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


class Inventory:
    """A validated inventory with the lookups detectors and collectors need."""

    def __init__(self, document: InventoryFile):
        self.document = document
        self.fabric = document.fabric
        self.planes: dict[int, Plane] = {p.id: p for p in document.planes}
        self._plane_by_key: dict[int | str, int] = {}
        for plane in document.planes:
            self._plane_by_key[plane.id] = plane.id
            self._plane_by_key[str(plane.id)] = plane.id
            self._plane_by_key[plane.name] = plane.id
        self.switches: dict[str, Switch] = {s.name: s for s in document.switches}
        self.servers: dict[str, Server] = {s.name: s for s in document.servers}
        self.route_reflectors = list(document.route_reflectors)
        self.routers = list(document.routers)
        self._switch_plane = {s.name: self.plane_id(s.plane) for s in document.switches}
        self._agent_switch = {str(s.sflow_agent): s.name for s in document.switches if s.sflow_agent}
        self._address_plane: dict[str, int] = {}
        self._address_owner: dict[str, str] = {}
        self._mac_owner: dict[str, str] = {}
        self._expected_macs: dict[int, set[str]] = {p: set() for p in self.planes}
        for server in document.servers:
            for key, address in server.addresses.items():
                self._address_plane[str(address)] = self.plane_id(key)
                self._address_owner[str(address)] = server.name
            for key, mac in server.macs.items():
                mac = normalise_mac(mac)
                self._mac_owner[mac] = server.name
                self._expected_macs[self.plane_id(key)].add(mac)
        for node in [*document.route_reflectors, *document.routers]:
            plane = self.plane_id(node.plane)
            self._address_plane[str(node.address)] = plane
            self._address_owner[str(node.address)] = node.name
            if node.mac:
                mac = normalise_mac(node.mac)
                self._mac_owner[mac] = node.name
                self._expected_macs[plane].add(mac)

    # -- lookups -------------------------------------------------------------------
    def plane_id(self, key: int | str) -> int:
        """Plane id for a plane id or name as written in the inventory."""
        return self._plane_by_key[key]

    @property
    def plane_ids(self) -> list[int]:
        return sorted(self.planes)

    def plane_name(self, plane: int) -> str:
        return self.planes[plane].name if plane in self.planes else f"plane-{plane}"

    @functools.lru_cache(maxsize=65536)
    def plane_of_ip(self, address: str) -> int:
        """Plane whose subnet holds ``address`` (a BGP peer, a server address); 0 if none."""
        if address in self._address_plane:
            return self._address_plane[address]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return 0
        for plane in self.planes.values():
            if any(ip.version == net.version and ip in net for net in plane.subnets):
                return plane.id
        return 0

    def owner_of_ip(self, address: str) -> str | None:
        """Name of the server, route reflector or router that holds ``address``."""
        return self._address_owner.get(address)

    def plane_of_switch(self, name: str) -> int:
        return self._switch_plane.get(name, 0)

    def switch_of_agent(self, agent: str) -> Switch | None:
        """The switch whose sFlow agent address is ``agent`` (the sFlow allow-list)."""
        name = self._agent_switch.get(agent)
        return self.switches[name] if name else None

    def owner_of_mac(self, mac: str) -> str | None:
        """Server, route reflector or router that owns ``mac`` (any notation)."""
        try:
            return self._mac_owner.get(normalise_mac(mac))
        except ValueError:
            return None

    def expected_macs(self, plane: int) -> set[str]:
        """MACs the plane's tables should hold: servers', RRs' and routers' on that plane."""
        return set(self._expected_macs.get(plane, ()))

    @property
    def server_count(self) -> int:
        return len(self.servers) or (self.document.expected_servers or 0)

    def switches_in(self, plane: int) -> list[Switch]:
        return [s for s in self.switches.values() if self._switch_plane[s.name] == plane]

    def is_server_port(self, switch: str, port: str) -> bool:
        """True for a ToR port that is not an uplink (i.e. faces a server)."""
        sw = self.switches.get(switch)
        return bool(sw and sw.role == "tor" and port not in sw.uplinks)


# -- validation ------------------------------------------------------------------------


def _semantic_problems(doc: InventoryFile) -> list[Problem]:
    problems: list[Problem] = []
    keys: dict[int | str, int] = {}
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for i, plane in enumerate(doc.planes):
        if plane.id in seen_ids:
            problems.append(Problem(f"planes[{i}].id", f"duplicate plane id {plane.id} (also planes[{seen_ids[plane.id]}])"))
        seen_ids.setdefault(plane.id, i)
        if plane.name in seen_names:
            problems.append(Problem(f"planes[{i}].name", f"duplicate plane name {plane.name!r} (also planes[{seen_names[plane.name]}])"))
        seen_names.setdefault(plane.name, i)
        keys.update({plane.id: plane.id, str(plane.id): plane.id, plane.name: plane.id})
    for i, a in enumerate(doc.planes):
        for si, net_a in enumerate(a.subnets):
            for j, b in enumerate(doc.planes):
                for sj, net_b in enumerate(b.subnets):
                    if (j, sj) <= (i, si) or net_a.version != net_b.version:
                        continue
                    if net_a.overlaps(net_b):
                        problems.append(Problem(
                            f"planes[{j}].subnets[{sj}]",
                            f"{net_b} overlaps {net_a} of planes[{i}] ({a.name}); each plane needs its own subnet",
                        ))

    def plane_key(path: str, key: int | str) -> int | None:
        if key in keys:
            return keys[key]
        known = ", ".join(p.name for p in doc.planes)
        problems.append(Problem(path, f"unknown plane {key!r} (known planes: {known})"))
        return None

    def in_plane(path: str, plane: int | None, address: IPAddress) -> None:
        if plane is None:
            return
        nets = next(p.subnets for p in doc.planes if p.id == plane)
        if not any(address.version == n.version and address in n for n in nets):
            problems.append(Problem(path, f"{address} is not in plane {plane}'s subnets ({', '.join(map(str, nets))})"))

    addresses: dict[str, str] = {}

    def unique_address(path: str, address: IPAddress | None) -> None:
        if address is None:
            return
        if str(address) in addresses:
            problems.append(Problem(path, f"duplicate address {address} (also {addresses[str(address)]})"))
        else:
            addresses[str(address)] = path

    macs: dict[str, str] = {}

    def unique_mac(path: str, mac: str | None) -> None:
        if mac is None:
            return
        try:
            mac = normalise_mac(mac)
        except ValueError as error:
            problems.append(Problem(path, str(error)))
            return
        if mac in macs:
            problems.append(Problem(path, f"duplicate MAC {mac} (also {macs[mac]})"))
        else:
            macs[mac] = path

    names: dict[str, str] = {}

    def unique_name(path: str, name: str, what: str) -> None:
        if name in names:
            problems.append(Problem(path, f"duplicate {what} name {name!r} (also {names[name]})"))
        else:
            names[name] = path

    for i, sw in enumerate(doc.switches):
        unique_name(f"switches[{i}].name", sw.name, "switch")
        plane_key(f"switches[{i}].plane", sw.plane)
        unique_address(f"switches[{i}].address", sw.address)
        unique_address(f"switches[{i}].sflow_agent", sw.sflow_agent if sw.sflow_agent != sw.address else None)
        if sw.role == "tor" and not sw.rack:
            problems.append(Problem(f"switches[{i}].rack", "a tor switch needs the rack it serves"))
        if not sw.gnmi.insecure and sw.gnmi.ca_file is None:
            pass  # system trust store is a sensible default; nothing to report
    for kind, nodes in (("route_reflectors", doc.route_reflectors), ("routers", doc.routers)):
        for i, node in enumerate(nodes):
            unique_name(f"{kind}[{i}].name", node.name, kind[:-1].replace("_", " "))
            plane = plane_key(f"{kind}[{i}].plane", node.plane)
            in_plane(f"{kind}[{i}].address", plane, node.address)
            unique_address(f"{kind}[{i}].address", node.address)
            unique_mac(f"{kind}[{i}].mac", node.mac)
    for p in doc.planes:
        if not any(keys.get(rr.plane) == p.id for rr in doc.route_reflectors) and doc.route_reflectors:
            problems.append(Problem("route_reflectors", f"plane {p.name} has no route reflector"))
    for i, server in enumerate(doc.servers):
        unique_name(f"servers[{i}].name", server.name, "server")
        covered: set[int] = set()
        for key, address in server.addresses.items():
            plane = plane_key(f"servers[{i}].addresses.{key}", key)
            if plane is not None:
                if plane in covered:
                    problems.append(Problem(f"servers[{i}].addresses.{key}", f"second address on plane {plane}"))
                covered.add(plane)
            in_plane(f"servers[{i}].addresses.{key}", plane, address)
            unique_address(f"servers[{i}].addresses.{key}", address)
        for p in doc.planes:
            if p.id not in covered:
                problems.append(Problem(f"servers[{i}].addresses", f"server {server.name!r} has no address on plane {p.name} (every server links into every plane)"))
        for key, mac in server.macs.items():
            plane_key(f"servers[{i}].macs.{key}", key)
            unique_mac(f"servers[{i}].macs.{key}", mac)
    if not doc.servers and doc.expected_servers is None:
        problems.append(Problem("servers", "list the servers or give expected_servers"))
    return problems


def parse_inventory(data: object, source: str = "inventory") -> Inventory:
    """Validate an already-parsed YAML/JSON document; raises :class:`InventoryError` with every problem."""
    try:
        document = InventoryFile.model_validate(data)
    except pydantic.ValidationError as error:
        problems = [Problem(_path(e["loc"]), e["msg"]) for e in error.errors()]
        raise InventoryError(source, problems) from None
    problems = _semantic_problems(document)
    if problems:
        raise InventoryError(source, problems)
    return Inventory(document)


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory YAML file; raises :class:`InventoryError` with every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise InventoryError(str(path), [Problem("(file)", f"cannot read: {error.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise InventoryError(str(path), [Problem(where, f"not valid YAML: {getattr(error, 'problem', error)}")]) from None
    if not isinstance(data, dict):
        raise InventoryError(str(path), [Problem("(top)", "expected a mapping with planes, switches, servers …")])
    return parse_inventory(data, str(path))

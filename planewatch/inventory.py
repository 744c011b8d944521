"""The fabric inventory: planes, switches, route reflectors and servers, validated.

The inventory is what makes per-plane correlation possible: it maps a BGP peer address,
a switch, an sFlow agent or a MAC to its plane, and says which MACs a plane's tables
*should* hold (about one per server per plane, plus route reflectors and routers).

:func:`load_inventory` reports **every** problem at once, each with the field path that
holds it (``servers[3].addresses.green``) and, when read from a file, its line, because
fixing a 20,000-line YAML file one error per run is nobody's idea of fun. A structural
error in one entry (a bad address, an unknown key) does not hide the semantic problems
of the other entries: entries that are structurally valid are still cross-checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

# -- field types with messages a person can act on ---------------------------------------


def _validate_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("ip_address", "{value} is not an IP address", {"value": repr(value)})


def _validate_network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value.strip())
        except ValueError as error:
            if "host bits set" in str(error):
                fixed = ipaddress.ip_network(value.strip(), strict=False)
                raise PydanticCustomError(
                    "ip_network", "{value} has host bits set (did you mean {fixed}?)",
                    {"value": value, "fixed": str(fixed)},
                ) from None
    raise PydanticCustomError("ip_network", "{value} is not a subnet (expected e.g. 10.1.0.0/16)", {"value": repr(value)})


def _validate_plane_key(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise PydanticCustomError("plane_key", "{value} is not a plane id or name", {"value": repr(value)})


def _validate_mac(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "mac_address",
            "YAML read this unquoted MAC as the number {value}; put the MAC in quotes",
            {"value": value},
        )
    if isinstance(value, str):
        try:
            return normalise_mac(value)
        except ValueError:
            pass
    raise PydanticCustomError("mac_address", "{value} is not a MAC address", {"value": repr(value)})


def _validate_port_ref(value: object) -> str:
    if isinstance(value, str):
        switch, sep, port = value.strip().partition(":")
        if sep and switch.strip() and port.strip():
            return f"{switch.strip()}:{port.strip()}"
    raise PydanticCustomError(
        "port_ref", "{value} is not a switch port; write it as switch:port (e.g. tor-r1-blue:Ethernet1)",
        {"value": repr(value)},
    )


IPAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, PlainValidator(_validate_ip)]
IPNetwork = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_validate_network)]
PlaneKey = Annotated[int | str, PlainValidator(_validate_plane_key)]
"""A plane's id (``1``) or name (``blue``), as the user wrote it."""
MacAddress = Annotated[str, PlainValidator(_validate_mac)]
"""A MAC in any common notation, stored as ``00:1b:21:aa:bb:cc``."""
PortRef = Annotated[str, PlainValidator(_validate_port_ref)]
"""A switch port written ``switch:port`` (split at the first colon), e.g. ``tor-r1-blue:Ethernet1``."""


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
    plane: PlaneKey
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
    plane: PlaneKey
    address: IPAddress
    mac: MacAddress | None = None


class Router(_Model):
    """A border router attached to one plane (its MAC legitimately appears in that plane's tables)."""

    name: str = Field(min_length=1)
    plane: PlaneKey
    address: IPAddress
    mac: MacAddress | None = None


class Server(_Model):
    """A compute server: one address (and optionally one MAC) on every plane, keyed by plane id or name."""

    name: str = Field(min_length=1)
    rack: str | None = None
    addresses: dict[PlaneKey, IPAddress]
    macs: dict[PlaneKey, MacAddress] = {}
    ports: dict[PlaneKey, PortRef] = {}
    """The ToR port facing this server on each plane, ``switch:port``; lets detectors attribute
    a ToR port's traffic to its server (optional: planes left out are simply not attributed)."""


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
    """One thing wrong with an inventory, at a field path (and, when read from a file, a line)."""

    path: str
    message: str
    line: int | None = None
    """1-based line in the YAML file, when known."""

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None and not self.path.startswith("line ") else ""
        return f"{self.path}: {self.message}{where}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "message": self.message, "line": self.line}


class InventoryError(ValueError):
    """The inventory cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class InventoryFileError(InventoryError):
    """The file could not be read, or is not YAML at all (as opposed to a YAML inventory with mistakes)."""


def normalise_mac(mac: str) -> str:
    """``00-1B-21-aa-bb-cc`` / ``001b.21aa.bbcc`` -> ``00:1b:21:aa:bb:cc``; raises ValueError."""
    if not isinstance(mac, str):
        raise ValueError(f"{mac!r} is not a MAC address")
    lowered = mac.strip().lower()
    digits = "".join(ch for ch in lowered if ch in "0123456789abcdef")
    stripped = lowered.replace(":", "").replace("-", "").replace(".", "")
    if len(digits) != 12 or stripped != digits:
        raise ValueError(f"{mac!r} is not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


_DICT_FIELDS = {"addresses", "macs", "ports"}
"""Fields keyed by plane: their keys print as ``.green`` / ``.1``, not as list indices."""


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    previous: int | str | None = None
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the dict key itself is wrong"
            continue
        if isinstance(part, int) and previous not in _DICT_FIELDS:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top)"


def _split_path(path: str) -> list[str | int]:
    """``servers[3].addresses.green`` -> ``["servers", 3, "addresses", "green"]``."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return parts


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
        self._plane_cache: dict[str, int] = {}
        self._server_port: dict[tuple[str, int], tuple[str, str]] = {}
        self._port_server: dict[tuple[str, str], str] = {}
        for server in document.servers:
            for key, ref in server.ports.items():
                switch, _, port = ref.partition(":")
                self._server_port[(server.name, self.plane_id(key))] = (switch, port)
                self._port_server[(switch, port)] = server.name
            for key, address in server.addresses.items():
                self._address_plane[str(address)] = self.plane_id(key)
                self._address_owner[str(address)] = server.name
            for key, mac in server.macs.items():
                mac = normalise_mac(mac)  # already normalised by the model; kept for hand-built documents
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

    _PLANE_CACHE_SIZE = 65536

    def plane_of_ip(self, address: str) -> int:
        """Plane whose subnet holds ``address`` (a BGP peer, a server address); 0 if none.

        Any notation ``ipaddress`` accepts (``2001:DB8::1`` or ``2001:db8::1``); garbage -> 0.
        Results are cached per inventory (a reloaded inventory starts with an empty cache).
        """
        address = str(address)
        cached = self._plane_cache.get(address)
        if cached is not None:
            return cached
        plane = self._address_plane.get(address)
        if plane is None:
            plane = self._plane_of_subnet(address)
        if len(self._plane_cache) >= self._PLANE_CACHE_SIZE:
            self._plane_cache.clear()
        self._plane_cache[address] = plane
        return plane

    def _plane_of_subnet(self, address: str) -> int:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return 0
        if str(ip) in self._address_plane:
            return self._address_plane[str(ip)]
        for plane in self.planes.values():
            if any(ip.version == net.version and ip in net for net in plane.subnets):
                return plane.id
        return 0

    def owner_of_ip(self, address: str) -> str | None:
        """Name of the server, route reflector or router that holds ``address`` (any notation)."""
        return self._address_owner.get(str(address)) or self._address_owner.get(_canonical_ip(address))

    def plane_of_switch(self, name: str) -> int:
        """Plane of the named switch; 0 if the switch is not in the inventory."""
        return self._switch_plane.get(name, 0)

    def switch_of_agent(self, agent: str) -> Switch | None:
        """The switch whose sFlow agent address is ``agent`` (the sFlow allow-list)."""
        name = self._agent_switch.get(str(agent)) or self._agent_switch.get(_canonical_ip(agent))
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
        """Servers in the pod: ``expected_servers`` when given (lists may be partial), else the listed ones."""
        return max(len(self.servers), self.document.expected_servers or 0)

    def switches_in(self, plane: int) -> list[Switch]:
        return [s for s in self.switches.values() if self._switch_plane[s.name] == plane]

    def is_server_port(self, switch: str, port: str) -> bool:
        """True for a ToR port that is not an uplink (i.e. faces a server)."""
        sw = self.switches.get(switch)
        return bool(sw and sw.role == "tor" and port not in sw.uplinks)

    def port_of(self, server: str, plane: int | str) -> tuple[str, str] | None:
        """``(switch, port)`` of the ToR port facing ``server`` on ``plane`` (id or name); None if not listed."""
        plane_id = self._plane_by_key.get(plane)
        return None if plane_id is None else self._server_port.get((server, plane_id))

    def server_on_port(self, switch: str, port: str) -> str | None:
        """Name of the server whose ``ports`` lists ``switch:port``; None for uplinks and unlisted ports."""
        return self._port_server.get((switch, port))



def _canonical_ip(address: object) -> str:
    try:
        return str(ipaddress.ip_address(str(address).strip()))
    except ValueError:
        return ""

# -- validation ------------------------------------------------------------------------

_SECTIONS: dict[str, type[_Model]] = {
    "planes": Plane,
    "switches": Switch,
    "route_reflectors": RouteReflector,
    "routers": Router,
    "servers": Server,
}
_FIELD_ORDER = list(InventoryFile.model_fields)


@dataclasses.dataclass
class _Parts:
    """The structurally valid entries of a document, each with its index in the file."""

    planes: list[tuple[int, Plane]]
    switches: list[tuple[int, Switch]]
    route_reflectors: list[tuple[int, RouteReflector]]
    routers: list[tuple[int, Router]]
    servers: list[tuple[int, Server]]
    expected_servers: int | None
    servers_section: bool
    """The document says something about servers (a list or a count), even if broken."""
    broken_plane_keys: set[int | str] = dataclasses.field(default_factory=set)
    """Ids/names of planes that failed validation: references to them are not "unknown"."""
    planes_usable: bool = True
    """False when the planes section itself is missing or broken: plane references are not checked."""
    broken_switch_names: set[str] = dataclasses.field(default_factory=set)
    """Names of switches that failed validation: server ports on them are not "unknown switch"."""
    switches_usable: bool = True
    """False when the switches section itself is broken: server port references are not checked."""

    @classmethod
    def of(cls, doc: InventoryFile) -> _Parts:
        return cls(
            planes=list(enumerate(doc.planes)),
            switches=list(enumerate(doc.switches)),
            route_reflectors=list(enumerate(doc.route_reflectors)),
            routers=list(enumerate(doc.routers)),
            servers=list(enumerate(doc.servers)),
            expected_servers=doc.expected_servers,
            servers_section=bool(doc.servers) or doc.expected_servers is not None,
        )

    @classmethod
    def salvage(cls, data: dict[Any, Any], errors: list[Any]) -> _Parts:
        """Keep the entries pydantic had nothing to say about, so they can still be cross-checked."""
        # section -> entry index -> the entry's fields that have errors (None: the entry as a whole)
        bad_fields: dict[str, dict[int, set[Any] | None]] = {name: {} for name in _SECTIONS}
        bad_sections: set[str] = set()
        for error in errors:
            loc = error["loc"]
            if loc and loc[0] in _SECTIONS:
                if len(loc) >= 2 and isinstance(loc[1], int):
                    fields = bad_fields[loc[0]].setdefault(loc[1], set())
                    if len(loc) == 2 or fields is None:
                        bad_fields[loc[0]][loc[1]] = None
                    else:
                        fields.add(loc[2])
                else:
                    bad_sections.add(loc[0])
        sections: dict[str, list[tuple[int, Any]]] = {}
        unusable: dict[str, set[int]] = {name: set() for name in _SECTIONS}
        for name, model in _SECTIONS.items():
            raw = data.get(name)
            sections[name] = []
            if not isinstance(raw, list) or name in bad_sections:
                continue
            for i, item in enumerate(raw):
                if i in bad_fields[name]:
                    # Drop the fields with errors; if what is left is still a valid entry
                    # (the broken fields were optional, or unknown keys), cross-check it.
                    fields = bad_fields[name][i]
                    if fields is None or not isinstance(item, dict):
                        unusable[name].add(i)
                        continue
                    item = {key: value for key, value in item.items() if key not in fields}
                try:
                    sections[name].append((i, model.model_validate(item)))
                except pydantic.ValidationError:
                    unusable[name].add(i)
        broken_keys: set[int | str] = set()
        raw_planes = data.get("planes")
        for i in unusable["planes"]:
            entry = raw_planes[i] if isinstance(raw_planes, list) and i < len(raw_planes) else None
            if isinstance(entry, dict):
                for value in (entry.get("id"), entry.get("name")):
                    if isinstance(value, (int, str)) and not isinstance(value, bool):
                        broken_keys.update({value, str(value)})
        raw_switches = data.get("switches")
        broken_switches = {
            entry["name"] for i in unusable["switches"]
            if isinstance(raw_switches, list) and i < len(raw_switches)
            and isinstance(entry := raw_switches[i], dict) and isinstance(entry.get("name"), str)
        }
        expected = data.get("expected_servers")
        return cls(
            planes=sections["planes"],
            switches=sections["switches"],
            route_reflectors=sections["route_reflectors"],
            routers=sections["routers"],
            servers=sections["servers"],
            expected_servers=expected if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0 else None,
            servers_section=bool(data.get("servers")) or "expected_servers" in data,
            broken_plane_keys=broken_keys,
            planes_usable=isinstance(raw_planes, list) and "planes" not in bad_sections,
            broken_switch_names=broken_switches,
            switches_usable="switches" not in bad_sections and (raw_switches is None or isinstance(raw_switches, list)),
        )


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` (to list its allowed fields)."""
    model: type[BaseModel] = InventoryFile
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if model is InventoryFile and part in _SECTIONS:
            model = _SECTIONS[str(part)]
            if parts and isinstance(parts[0], int):
                parts.pop(0)
        elif model is Switch and part == "gnmi":
            model = GnmiTarget
        else:
            return None
    return model


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _structural_problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    path = _path(loc)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = f"unknown field {str(loc[-1])!r}"
        if hint:
            message += f" (did you mean {hint[0]!r}?)"
        if allowed:
            message += f"; allowed here: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required field is missing"
    elif kind in {"ip_address", "ip_network", "plane_key", "mac_address", "port_ref"}:
        message = error["msg"]
    else:
        text = error["msg"]
        if text.startswith("Input should"):
            text = text[len("Input ") :]
        message = f"{text} (got {_short(error.get('input'))})"
    if "[key]" in loc:
        message = f"bad plane key: {message}"
    return Problem(path, message)


def _section_rank(problem: Problem) -> tuple[int, int]:
    """Sort problems in document order: by top-level section, then entry index."""
    parts = _split_path(problem.path)
    head = parts[0] if parts else ""
    rank = _FIELD_ORDER.index(head) if head in _FIELD_ORDER else -1
    index = parts[1] if len(parts) > 1 and isinstance(parts[1], int) else -1
    return rank, index


def _semantic_problems(doc: _Parts) -> list[Problem]:
    problems: list[Problem] = []
    keys: dict[int | str, int] = {}
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for i, plane in doc.planes:
        if plane.id in seen_ids:
            problems.append(Problem(f"planes[{i}].id", f"duplicate plane id {plane.id} (also planes[{seen_ids[plane.id]}])"))
        seen_ids.setdefault(plane.id, i)
        if plane.name in seen_names:
            problems.append(Problem(f"planes[{i}].name", f"duplicate plane name {plane.name!r} (also planes[{seen_names[plane.name]}])"))
        seen_names.setdefault(plane.name, i)
        keys.setdefault(plane.id, plane.id)
        keys.setdefault(str(plane.id), plane.id)
    for i, plane in doc.planes:
        if plane.name in keys and keys[plane.name] != plane.id:
            problems.append(Problem(
                f"planes[{i}].name",
                f"plane name {plane.name!r} is also plane {keys[plane.name]}'s id; references would be ambiguous",
            ))
        keys.setdefault(plane.name, plane.id)
    plane_by_id = {p.id: p for _, p in doc.planes}
    for n, (i, a) in enumerate(doc.planes):
        for j, b in doc.planes[n + 1 :]:
            for si, net_a in enumerate(a.subnets):
                for sj, net_b in enumerate(b.subnets):
                    if net_a.version == net_b.version and net_a.overlaps(net_b):
                        problems.append(Problem(
                            f"planes[{j}].subnets[{sj}]",
                            f"{net_b} overlaps {net_a} of planes[{i}] ({a.name}); each plane needs its own subnet",
                        ))

    def plane_key(path: str, key: int | str) -> int | None:
        if key in keys:
            return keys[key]
        if doc.planes_usable and key not in doc.broken_plane_keys:
            known = ", ".join(f"{p.id}/{p.name}" for _, p in doc.planes)
            problems.append(Problem(path, f"unknown plane {key!r} (known planes: {known})"))
        return None

    def describe(plane: int) -> str:
        return f"{plane} ({plane_by_id[plane].name})"

    def in_plane(path: str, plane: int | None, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if plane is None:
            return
        nets = plane_by_id[plane].subnets
        if not any(address.version == n.version and address in n for n in nets):
            problems.append(Problem(path, f"{address} is not in plane {plane}'s subnets ({', '.join(map(str, nets))})"))

    addresses: dict[str, str] = {}

    def unique_address(path: str, address: object | None) -> None:
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
        mac = normalise_mac(mac)
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

    switch_by_name = {sw.name: sw for _, sw in reversed(doc.switches)}
    ports_used: dict[str, str] = {}

    def server_port(path: str, plane: int | None, ref: str) -> None:
        """A server's ``switch:port`` on ``plane``: a ToR of that plane, not an uplink, not another server's."""
        name, _, port = ref.partition(":")
        switch = switch_by_name.get(name)
        if switch is None:
            if doc.switches_usable and name not in doc.broken_switch_names:
                hint = difflib.get_close_matches(name, list(switch_by_name), n=1)
                problems.append(Problem(path, f"unknown switch {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")))
            return
        if switch.role != "tor":
            problems.append(Problem(path, f"{name} is a {switch.role}; a server's port is on a ToR of that plane"))
        switch_plane = keys.get(switch.plane)
        if plane is not None and switch_plane is not None and switch_plane != plane:
            problems.append(Problem(path, f"{name} belongs to plane {describe(switch_plane)}, not plane {describe(plane)}"))
        if port in switch.uplinks:
            problems.append(Problem(path, f"{port} is an uplink of {name}, not a server port"))
        if ref in ports_used:
            problems.append(Problem(path, f"port {ref} is already used by {ports_used[ref]}"))
        else:
            ports_used[ref] = path

    for i, sw in doc.switches:
        unique_name(f"switches[{i}].name", sw.name, "switch")
        plane_key(f"switches[{i}].plane", sw.plane)
        unique_address(f"switches[{i}].address", sw.address)
        unique_address(f"switches[{i}].sflow_agent", sw.sflow_agent if sw.sflow_agent != sw.address else None)
        if sw.role == "tor" and not sw.rack:
            problems.append(Problem(f"switches[{i}].rack", "a tor switch needs the rack it serves"))
        gnmi = sw.gnmi
        tls_files = [f for f in ("ca_file", "cert_file", "key_file") if getattr(gnmi, f) is not None]
        if gnmi.insecure and tls_files:
            problems.append(Problem(
                f"switches[{i}].gnmi.insecure",
                f"insecure: true turns TLS off, but {', '.join(tls_files)} is set; drop one or the other",
            ))
        if (gnmi.cert_file is None) != (gnmi.key_file is None):
            problems.append(Problem(f"switches[{i}].gnmi", "client TLS needs both cert_file and key_file"))
        if gnmi.password_env and gnmi.password_file:
            problems.append(Problem(f"switches[{i}].gnmi", "give password_env or password_file, not both"))
    for kind, nodes in (("route_reflectors", doc.route_reflectors), ("routers", doc.routers)):
        what = "route reflector" if kind == "route_reflectors" else "router"
        for i, node in nodes:
            unique_name(f"{kind}[{i}].name", node.name, what)
            plane = plane_key(f"{kind}[{i}].plane", node.plane)
            in_plane(f"{kind}[{i}].address", plane, node.address)
            unique_address(f"{kind}[{i}].address", node.address)
            unique_mac(f"{kind}[{i}].mac", node.mac)
    if doc.route_reflectors:
        for _, p in doc.planes:
            if not any(keys.get(rr.plane) == p.id for _, rr in doc.route_reflectors):
                problems.append(Problem("route_reflectors", f"plane {describe(p.id)} has no route reflector"))
    for i, server in doc.servers:
        unique_name(f"servers[{i}].name", server.name, "server")
        covered: dict[int, str] = {}
        for key, address in server.addresses.items():
            path = f"servers[{i}].addresses.{key}"
            plane = plane_key(path, key)
            if plane is not None:
                if plane in covered:
                    problems.append(Problem(path, f"second address on plane {describe(plane)} (also addresses.{covered[plane]})"))
                covered.setdefault(plane, str(key))
            in_plane(path, plane, address)
            unique_address(path, address)
        for _, p in doc.planes:
            if p.id not in covered:
                problems.append(Problem(
                    f"servers[{i}].addresses",
                    f"server {server.name!r} has no address on plane {describe(p.id)} (every server links into every plane)",
                ))
        mac_planes: dict[int, str] = {}
        for key, mac in server.macs.items():
            path = f"servers[{i}].macs.{key}"
            plane = plane_key(path, key)
            if plane is not None:
                if plane in mac_planes:
                    problems.append(Problem(path, f"second MAC on plane {describe(plane)} (also macs.{mac_planes[plane]})"))
                mac_planes.setdefault(plane, str(key))
            unique_mac(path, mac)
        port_planes: dict[int, str] = {}
        for key, ref in server.ports.items():
            path = f"servers[{i}].ports.{key}"
            plane = plane_key(path, key)
            if plane is not None:
                if plane in port_planes:
                    problems.append(Problem(path, f"second port on plane {describe(plane)} (also ports.{port_planes[plane]})"))
                port_planes.setdefault(plane, str(key))
            server_port(path, plane, ref)
    if not doc.servers_section:
        problems.append(Problem("servers", "list the servers or give expected_servers"))
    if doc.expected_servers is not None and doc.expected_servers < len(doc.servers):
        problems.append(Problem(
            "expected_servers",
            f"{doc.expected_servers} is fewer than the {len(doc.servers)} servers listed",
        ))
    return problems


def _check(data: object) -> tuple[InventoryFile | None, list[Problem]]:
    """Every structural and semantic problem of a parsed document (and the document if there are none)."""
    if data is None:
        return None, [Problem("(top)", "the document is empty; expected a mapping with planes, switches, servers …")]
    if not isinstance(data, dict):
        return None, [Problem("(top)", f"expected a mapping with planes, switches, servers …, not a {type(data).__name__}")]
    try:
        document = InventoryFile.model_validate(data)
    except pydantic.ValidationError as error:
        errors = error.errors()
        problems = list(dict.fromkeys(_structural_problem(e) for e in errors))
        problems += _semantic_problems(_Parts.salvage(data, errors))
        return None, sorted(problems, key=_section_rank)
    problems = _semantic_problems(_Parts.of(document))
    return (None if problems else document), sorted(problems, key=_section_rank)


def parse_inventory(data: object, source: str = "inventory") -> Inventory:
    """Validate an already-parsed YAML/JSON document; raises :class:`InventoryError` with every problem."""
    document, problems = _check(data)
    if problems or document is None:
        raise InventoryError(source, problems)
    return Inventory(document)


# -- reading YAML with line numbers ------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error(source: str, error: yaml.YAMLError) -> InventoryFileError:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    message = f"not valid YAML: {problem}"
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        message += f" ({context} that starts at line {context_mark.line + 1})"
    if mark is None:
        return InventoryFileError(source, [Problem("(file)", message)])
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return InventoryFileError(source, [Problem(where, message, line=mark.line + 1)])


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[Problem]:
    """YAML silently keeps the last of two equal keys; an inventory must not lose entries that way."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            child = f"{path}.{name}" if path else str(name)
            if name is not None:
                if name in seen and name != "<<":
                    problems.append(Problem(
                        child,
                        f"key {name!r} appears twice in the same mapping (also line {seen[name]}); YAML keeps only the last",
                        line=key.start_mark.line + 1,
                    ))
                seen.setdefault(name, key.start_mark.line + 1)
            problems += _duplicate_keys(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, f"{path}[{i}]")
    return problems


def _line_of(root: yaml.Node | None, path: str) -> int | None:
    """The line of the deepest YAML node on ``path`` (the key's line for mapping entries)."""
    if root is None:
        return None
    node, line = root, None
    for part in _split_path(path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory YAML file; raises :class:`InventoryError` with every problem.

    Problems carry the line they refer to. :class:`InventoryFileError` (a subclass) means the
    file could not be read or is not YAML at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryFileError(str(path), [Problem("(file)", f"cannot read: {error.strerror or error}")]) from None
    except UnicodeDecodeError as error:
        raise InventoryFileError(str(path), [Problem("(file)", f"not a text file: {error.reason}")]) from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        raise _yaml_error(str(path), error) from None
    finally:
        loader.dispose()
    document, problems = _check(data)
    problems = [
        p if p.line is not None else dataclasses.replace(p, line=_line_of(root, p.path))
        for p in problems
    ]
    problems = _duplicate_keys(root) + problems if root is not None else problems
    if problems or document is None:
        raise InventoryError(str(path), sorted(problems, key=lambda p: (*_section_rank(p), p.line or 0)))
    return Inventory(document)

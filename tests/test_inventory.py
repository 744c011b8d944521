"""The inventory: every problem reported with its field path, and the lookups detectors use."""

from __future__ import annotations

import copy
import ipaddress
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from planewatch.inventory import (
    Inventory,
    InventoryError,
    InventoryFileError,
    Problem,
    load_inventory,
    normalise_mac,
    parse_inventory,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "examples" / "inventory.yaml"
BROKEN = ROOT / "deploy" / "examples" / "broken-inventory.yaml"

BASE: dict[str, Any] = {
    "fabric": "test",
    "planes": [
        {"id": 1, "name": "blue", "subnets": ["10.1.0.0/16", "2001:db8:1::/64"]},
        {"id": 2, "name": "green", "subnets": ["10.2.0.0/16"], "vlan": 102},
    ],
    "switches": [
        {"name": "tor-blue", "plane": "blue", "role": "tor", "rack": "r1", "address": "192.168.0.1",
         "sflow_agent": "192.168.0.101", "uplinks": ["Ethernet49"]},
        {"name": "tor-green", "plane": 2, "role": "tor", "rack": "r1", "address": "192.168.0.2"},
        {"name": "spine-blue", "plane": 1, "role": "spine", "address": "192.168.0.3"},
    ],
    "route_reflectors": [
        {"name": "rr-blue", "plane": "blue", "address": "10.1.255.1", "mac": "52:54:00:01:ff:01"},
        {"name": "rr-green", "plane": "green", "address": "10.2.255.1"},
    ],
    "routers": [{"name": "border-blue", "plane": 1, "address": "10.1.255.254", "mac": "52:54:00:01:ff:fe"}],
    "servers": [
        {"name": "s1", "rack": "r1", "addresses": {"blue": "10.1.1.1", "green": "10.2.1.1"},
         "macs": {"blue": "52:54:00:01:01:01", "green": "52:54:00:02:01:01"}},
        {"name": "s2", "rack": "r1", "addresses": {1: "10.1.1.2", 2: "10.2.1.2"}},
    ],
}


def document(change: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if change:
        change(data)
    return data


def problems_of(data: object) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(data)
    return caught.value.problems


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# -- valid documents ---------------------------------------------------------------------


def test_base_document_is_valid():
    inventory = parse_inventory(document())
    assert inventory.fabric == "test"
    assert inventory.plane_ids == [1, 2]


def test_example_file_is_valid():
    inventory = load_inventory(EXAMPLE)
    assert inventory.plane_ids == [1, 2, 3, 4]
    assert [inventory.plane_name(p) for p in inventory.plane_ids] == ["blue", "green", "orange", "red"]
    assert inventory.server_count == 4
    for plane in inventory.plane_ids:
        roles = sorted(s.role for s in inventory.switches_in(plane))
        assert roles == ["spine", "tor", "tor"]
        assert sum(inventory.plane_id(rr.plane) == plane for rr in inventory.route_reflectors) == 2
        # 4 servers + 2 RRs + 1 border router, MACs written in three notations
        assert len(inventory.expected_macs(plane)) == 7
    lab = inventory.switches["spine-red"]
    assert lab.gnmi.insecure is True
    assert inventory.switches["tor-r1-blue"].gnmi.ca_file == Path("/etc/planewatch/fabric-ca.pem")
    assert inventory.switches["tor-r2-red"].gnmi.password_env == "GNMI_PASSWORD"  # via the YAML alias


# -- one problem at a time, each at its field path -----------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``a.b[2].c`` (dict keys may be ints when the segment is ``#1``)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[_key(part)]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[_key(last)] = value

    return change


def _key(part: str) -> int | str:
    return int(part[1:]) if part.startswith("#") else part


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[_key(part)]
        del target[int(last) if isinstance(target, list) else _key(last)]

    return change


CASES = {
    # unknown plane, wherever a plane is referenced
    "unknown plane in switch": (_set("switches/0/plane", "purple"), "switches[0].plane", "unknown plane 'purple'"),
    "unknown plane id in switch": (_set("switches/1/plane", 7), "switches[1].plane", "unknown plane 7"),
    "unknown plane in RR": (_set("route_reflectors/1/plane", "gren"), "route_reflectors[1].plane", "unknown plane 'gren'"),
    "unknown plane in router": (_set("routers/0/plane", 9), "routers[0].plane", "unknown plane 9"),
    "unknown plane in server addresses": (
        _set("servers/0/addresses/red", "10.1.1.9"), "servers[0].addresses.red", "unknown plane 'red'"),
    "unknown plane in server macs": (
        _set("servers/0/macs/red", "52:54:00:09:01:01"), "servers[0].macs.red", "unknown plane 'red'"),
    # the planes themselves
    "overlapping subnets": (
        _set("planes/1/subnets", ["10.2.0.0/16", "10.1.128.0/17"]), "planes[1].subnets[1]", "overlaps 10.1.0.0/16"),
    "duplicate plane id": (_set("planes/1/id", 1), "planes[1].id", "duplicate plane id 1"),
    "duplicate plane name": (_set("planes/1/name", "blue"), "planes[1].name", "duplicate plane name 'blue'"),
    "plane name that is another plane's id": (_set("planes/0/name", "2"), "planes[0].name", "ambiguous"),
    "subnet with host bits": (_set("planes/0/subnets/0", "10.1.0.1/16"), "planes[0].subnets[0]", "did you mean 10.1.0.0/16"),
    "not a subnet": (_set("planes/0/subnets/0", "blue-net"), "planes[0].subnets[0]", "is not a subnet"),
    "no planes": (_set("planes", []), "planes", "at least 1 item"),
    "planes missing": (_delete("planes"), "planes", "required field is missing"),
    # names, addresses, MACs
    "duplicate switch name": (_set("switches/1/name", "tor-blue"), "switches[1].name", "duplicate switch name 'tor-blue'"),
    "duplicate switch mgmt address": (
        _set("switches/2/address", "192.168.0.1"), "switches[2].address", "duplicate address 192.168.0.1 (also switches[0].address)"),
    "duplicate sflow agent": (
        _set("switches/2/sflow_agent", "192.168.0.101"), "switches[2].sflow_agent", "duplicate address 192.168.0.101"),
    "duplicate server address": (
        _set("servers/1/addresses/#1", "10.1.1.1"), "servers[1].addresses.1", "duplicate address 10.1.1.1 (also servers[0].addresses.blue)"),
    "server address equals RR": (
        _set("servers/1/addresses/#2", "10.2.255.1"), "servers[1].addresses.2", "duplicate address 10.2.255.1 (also route_reflectors[1].address)"),
    "duplicate RR address": (
        _set("route_reflectors/1/address", "10.1.255.1"), "route_reflectors[1].address", "duplicate address 10.1.255.1"),
    "duplicate MAC, other notation": (
        _set("servers/1/macs", {"blue": "5254.0001.0101"}), "servers[1].macs.blue", "duplicate MAC 52:54:00:01:01:01 (also servers[0].macs.blue)"),
    "duplicate MAC between RR and server": (
        _set("route_reflectors/1/mac", "52-54-00-02-01-01"), "servers[0].macs.green", "duplicate MAC 52:54:00:02:01:01 (also route_reflectors[1].mac)"),
    "second address on a plane": (
        _set("servers/0/addresses/#1", "10.1.1.7"), "servers[0].addresses.1", "second address on plane 1 (blue)"),
    "server missing a plane": (
        _delete("servers/0/addresses/green"), "servers[0].addresses", "has no address on plane 2 (green)"),
    "server address outside its plane": (
        _set("servers/0/addresses/green", "10.9.0.1"), "servers[0].addresses.green", "10.9.0.1 is not in plane 2's subnets (10.2.0.0/16)"),
    "RR address outside its plane": (
        _set("route_reflectors/0/address", "10.2.255.9"), "route_reflectors[0].address", "is not in plane 1's subnets"),
    "router address outside its plane": (
        _set("routers/0/address", "10.2.255.254"), "routers[0].address", "is not in plane 1's subnets"),
    "IPv6 address outside its plane": (
        _set("servers/0/addresses/blue", "2001:db8:2::1"), "servers[0].addresses.blue", "is not in plane 1's subnets"),
    "plane without a route reflector": (_delete("route_reflectors/1"), "route_reflectors", "plane 2 (green) has no route reflector"),
    "tor without rack": (_delete("switches/0/rack"), "switches[0].rack", "needs the rack"),
    "no servers and no count": (_set("servers", []), "servers", "list the servers or give expected_servers"),
    "expected_servers below listed": (_set("expected_servers", 1), "expected_servers", "fewer than the 2 servers listed"),
    # structural (pydantic) errors, with their loc paths
    "bad IP": (_set("servers/0/addresses/blue", "10.1.1.300"), "servers[0].addresses.blue", "'10.1.1.300' is not an IP address"),
    "bad switch IP": (_set("switches/0/address", "tor1.example"), "switches[0].address", "is not an IP address"),
    "bad MAC": (_set("servers/0/macs/blue", "52:54:00:01:01"), "servers[0].macs.blue", "is not a MAC address"),
    "MAC read as a number": (_set("servers/0/macs/blue", 41135054461), "servers[0].macs.blue", "put the MAC in quotes"),
    "bad RR MAC": (_set("route_reflectors/0/mac", "zz:54:00:01:ff:01"), "route_reflectors[0].mac", "is not a MAC address"),
    "wrong type: plane": (_set("switches/0/plane", [1]), "switches[0].plane", "is not a plane id or name"),
    "wrong type: plane key": (
        _set("servers/0/addresses", {None: "10.1.1.1"}), "servers[0].addresses.None", "bad plane key: None is not a plane"),
    "wrong type: port": (_set("switches/0/gnmi", {"port": "gnmi"}), "switches[0].gnmi.port", "valid integer"),
    "wrong type: servers": (_set("servers", {"s1": {}}), "servers", "valid list"),
    "bad role": (_set("switches/0/role", "leaf"), "switches[0].role", "'tor' or 'spine'"),
    "vlan out of range": (_set("planes/0/vlan", 5000), "planes[0].vlan", "less than or equal to 4094"),
    "missing field": (_delete("switches/0/address"), "switches[0].address", "required field is missing"),
    "unknown key": (_set("servers/0/adresses", {}), "servers[0].adresses", "unknown field 'adresses' (did you mean 'addresses'?)"),
    "unknown top-level key": (_set("plane", []), "plane", "unknown field 'plane' (did you mean 'planes'?)"),
    "unknown gnmi key": (_set("switches/0/gnmi", {"ca": "x"}), "switches[0].gnmi.ca", "unknown field 'ca'"),
    # gNMI settings that contradict each other
    "insecure with a CA": (
        _set("switches/0/gnmi", {"insecure": True, "ca_file": "/ca.pem"}), "switches[0].gnmi.insecure", "turns TLS off"),
    "cert without key": (_set("switches/0/gnmi", {"cert_file": "/c.pem"}), "switches[0].gnmi", "both cert_file and key_file"),
    "two password sources": (
        _set("switches/0/gnmi", {"password_env": "P", "password_file": "/p"}), "switches[0].gnmi", "not both"),
}


@pytest.mark.parametrize("change, path, message", list(CASES.values()), ids=list(CASES))
def test_problem_is_reported_at_its_path(change, path, message):
    problems = problems_of(document(change))
    matching = [p for p in problems if p.path == path and message in p.message]
    assert matching, f"expected {path}: …{message}… in\n" + "\n".join(map(str, problems))


def test_problem_text_is_path_colon_message():
    problem = Problem("servers[3].addresses.green", "10.9.0.1 is not in plane 3's subnets (10.3.0.0/16)")
    assert str(problem) == "servers[3].addresses.green: 10.9.0.1 is not in plane 3's subnets (10.3.0.0/16)"
    assert str(Problem("servers[3].name", "x", line=12)) == "servers[3].name: x (line 12)"
    assert str(Problem("line 4, column 2", "not valid YAML: x", line=4)) == "line 4, column 2: not valid YAML: x"


def test_unknown_plane_is_not_reported_again_as_a_missing_plane():
    problems = problems_of(document(lambda d: d["servers"][0].update(addresses={"blue": "10.1.1.1", "grene": "10.2.1.1"})))
    assert paths(problems) == ["servers[0].addresses.grene", "servers[0].addresses"]


# -- every problem at once ---------------------------------------------------------------


def test_many_problems_are_all_reported():
    def break_everything(data: dict[str, Any]) -> None:
        data["planes"][1]["subnets"].append("10.1.200.0/24")  # overlaps blue
        data["switches"][1]["plane"] = "grene"  # unknown plane
        data["switches"][2]["name"] = "tor-blue"  # duplicate name
        data["switches"][2]["address"] = "192.168.0.2"  # duplicate mgmt address
        data["route_reflectors"][1]["address"] = "10.1.255.1"  # duplicate + outside green
        data["routers"][0]["mac"] = "52:54:00:01:ff:01"  # duplicate MAC (the RR's)
        data["servers"][0]["addresses"]["green"] = "10.9.1.1"  # outside green
        del data["servers"][1]["addresses"][2]  # missing green
        data["servers"].append({"name": "s1", "addresses": {"blue": "10.1.1.3", "green": "10.2.1.3"}})  # dup name

    problems = problems_of(document(break_everything))
    assert [(p.path, p.message.split(" (")[0]) for p in problems] == [
        ("planes[1].subnets[1]", "10.1.200.0/24 overlaps 10.1.0.0/16 of planes[0]"),
        ("switches[1].plane", "unknown plane 'grene'"),
        ("switches[2].name", "duplicate switch name 'tor-blue'"),
        ("switches[2].address", "duplicate address 192.168.0.2"),
        ("route_reflectors[1].address", "10.1.255.1 is not in plane 2's subnets"),
        ("route_reflectors[1].address", "duplicate address 10.1.255.1"),
        ("routers[0].mac", "duplicate MAC 52:54:00:01:ff:01"),
        ("servers[0].addresses.green", "10.9.1.1 is not in plane 2's subnets"),
        ("servers[1].addresses", "server 's2' has no address on plane 2"),
        ("servers[2].name", "duplicate server name 's1'"),
    ]


def test_all_structural_errors_are_listed_together():
    def break_structure(data: dict[str, Any]) -> None:
        data["planes"][0]["subnets"][0] = "10.1.0.0/33"
        data["switches"][0]["role"] = "leaf"
        data["switches"][1]["address"] = "nope"
        data["route_reflectors"][0]["mac"] = "nope"
        data["servers"][0]["addresses"]["green"] = "10.2.1"
        data["servers"][1]["colour"] = "red"
        data["expected_servers"] = -1

    problems = problems_of(document(break_structure))
    assert paths(problems) == [
        "planes[0].subnets[0]",
        "switches[0].role",
        "switches[1].address",
        "route_reflectors[0].mac",
        "servers[0].addresses.green",
        "servers[1].colour",
        "expected_servers",
    ]


def test_structural_errors_do_not_hide_semantic_problems_elsewhere():
    def mixed(data: dict[str, Any]) -> None:
        data["switches"][0]["address"] = "not-an-ip"  # structural
        data["switches"][1]["plane"] = "purple"  # semantic, another entry
        data["servers"][0]["macs"]["blue"] = "bad"  # structural
        data["servers"][1]["addresses"][2] = "10.9.1.2"  # semantic, another entry

    problems = problems_of(document(mixed))
    assert paths(problems) == [
        "switches[0].address",
        "switches[1].plane",
        "servers[0].macs.blue",
        "servers[1].addresses.2",
    ]


def test_a_broken_plane_does_not_flood_its_references_with_unknown_plane():
    problems = problems_of(document(_set("planes/1/subnets", ["10.2.0.0/99"])))
    # green is broken, so nothing can be checked against it: one problem, not one per reference
    assert paths(problems) == ["planes[1].subnets[0]"]


def test_missing_planes_section_is_one_problem():
    problems = problems_of(document(_delete("planes")))
    assert paths(problems) == ["planes"]


@pytest.mark.parametrize("data, message", [
    (None, "the document is empty"),
    ([1, 2], "expected a mapping"),
    ("planes", "expected a mapping"),
])
def test_document_that_is_not_a_mapping(data, message):
    [problem] = problems_of(data)
    assert problem.path == "(top)"
    assert message in problem.message


# -- reading files -----------------------------------------------------------------------


def test_yaml_syntax_error_has_its_line(tmp_path):
    path = write(tmp_path, """\
        fabric: pod1
        planes:
          - id: 1
           name: blue
        """)
    with pytest.raises(InventoryFileError) as caught:
        load_inventory(path)
    [problem] = caught.value.problems
    assert problem.line == 4
    assert problem.path == "line 4, column 4"
    assert problem.message.startswith("not valid YAML:")
    assert caught.value.source == str(path)


def test_missing_file_is_a_file_error(tmp_path):
    with pytest.raises(InventoryFileError) as caught:
        load_inventory(tmp_path / "nope.yaml")
    assert caught.value.problems[0].message == "cannot read: No such file or directory"


def test_file_problems_carry_their_lines(tmp_path):
    path = write(tmp_path, """\
        planes:
          - {id: 1, name: blue, subnets: [10.1.0.0/16]}
        route_reflectors:
          - {name: rr1, plane: blue, address: 10.1.255.1}
        servers:
          - name: s1
            addresses:
              blue: 10.9.0.1
            macs:
              blue: 52:54:00:01:01:01
          - name: s1
            adresses: {}
        """)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    # servers[0] has a structural error (its MAC) but its addresses are still cross-checked
    assert [(p.path, p.line) for p in caught.value.problems] == [
        ("servers[0].addresses.blue", 8),
        ("servers[0].macs.blue", 10),
        ("servers[1].addresses", 11),
        ("servers[1].adresses", 12),
    ]
    by_path = {p.path: p for p in caught.value.problems}
    assert "put the MAC in quotes" in by_path["servers[0].macs.blue"].message
    assert str(by_path["servers[1].adresses"]).endswith("(line 12)")


def test_duplicate_yaml_keys_are_reported(tmp_path):
    path = write(tmp_path, """\
        planes:
          - {id: 1, name: blue, subnets: [10.1.0.0/16]}
        expected_servers: 10
        servers:
          - name: s1
            addresses:
              blue: 10.1.0.1
              blue: 10.1.0.2
        """)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    [problem] = caught.value.problems
    assert problem.path == "servers[0].addresses.blue"
    assert problem.line == 8
    assert "appears twice" in problem.message and "line 7" in problem.message


def test_broken_example_reports_every_deliberate_mistake():
    with pytest.raises(InventoryError) as caught:
        load_inventory(BROKEN)
    assert not isinstance(caught.value, InventoryFileError)
    assert paths(caught.value.problems) == [
        "planes[3].subnets[1]",
        "switches[1].plane",
        "switches[4].name",
        "switches[7].uplink",
        "switches[9].address",
        "switches[10].role",
        "route_reflectors[3].address",
        "servers[0].addresses.orange",
        "servers[0].macs.red",
        "servers[1].addresses.green",
        "servers[2].addresses",
        "servers[3].macs.1",
    ]
    assert all(p.line is not None for p in caught.value.problems)
    # every mistake in the file is marked, and every marked line is reported
    text = BROKEN.read_text().splitlines()
    marked = {n for n, line in enumerate(text, 1) if "# MISTAKE" in line and not line.startswith("#")}
    reported = {p.line for p in caught.value.problems}
    assert marked <= reported | {n - 1 for n in reported} | {n + 1 for n in reported}


# -- lookups -----------------------------------------------------------------------------


@pytest.fixture
def inventory() -> Inventory:
    return parse_inventory(document())


def test_plane_of_ip(inventory):
    assert inventory.plane_of_ip("10.1.1.1") == 1  # a known server address
    assert inventory.plane_of_ip("10.2.255.1") == 2  # a known RR
    assert inventory.plane_of_ip("10.2.77.7") == 2  # subnet fallback
    assert inventory.plane_of_ip("2001:db8:1::42") == 1  # IPv6 subnet
    assert inventory.plane_of_ip("2001:DB8:1:0::42") == 1  # any IPv6 notation
    assert inventory.plane_of_ip(" 10.1.1.1") == 1
    assert inventory.plane_of_ip(ipaddress.ip_address("10.2.0.9")) == 2  # type: ignore[arg-type]
    assert inventory.plane_of_ip("10.9.0.1") == 0  # in no plane
    assert inventory.plane_of_ip("192.168.0.1") == 0  # a switch's management address
    assert inventory.plane_of_ip("garbage") == 0
    assert inventory.plane_of_ip("") == 0
    assert inventory.plane_of_ip("10.1.1.1") == 1  # cached answer is the same


def test_plane_of_ip_cache_is_per_inventory():
    blue_first = parse_inventory(document())
    swapped = parse_inventory(document(lambda d: d["planes"].reverse()))
    assert blue_first.plane_of_ip("10.1.3.3") == swapped.plane_of_ip("10.1.3.3") == 1
    other = parse_inventory(document(_set("planes/0/subnets", ["10.7.0.0/16"])) | {"servers": [], "expected_servers": 1,
                                                                                   "route_reflectors": [], "routers": []})
    assert other.plane_of_ip("10.1.3.3") == 0
    assert other.plane_of_ip("10.7.3.3") == 1


def test_owner_of_ip(inventory):
    assert inventory.owner_of_ip("10.1.1.1") == "s1"
    assert inventory.owner_of_ip("10.2.1.2") == "s2"  # keyed by plane id in the file
    assert inventory.owner_of_ip("10.1.255.1") == "rr-blue"
    assert inventory.owner_of_ip("10.1.255.254") == "border-blue"
    assert inventory.owner_of_ip("10.1.9.9") is None
    assert inventory.owner_of_ip("garbage") is None


def test_owner_of_ipv6_in_any_notation():
    inv = parse_inventory(document(_set("servers/0/addresses/blue", "2001:db8:1::a")))
    assert inv.owner_of_ip("2001:db8:1::a") == "s1"
    assert inv.owner_of_ip("2001:DB8:1:0:0:0:0:A") == "s1"
    assert inv.plane_of_ip("2001:DB8:1:0:0:0:0:A") == 1


def test_plane_of_switch(inventory):
    assert inventory.plane_of_switch("tor-blue") == 1
    assert inventory.plane_of_switch("tor-green") == 2  # plane given by id
    assert inventory.plane_of_switch("spine-blue") == 1
    assert inventory.plane_of_switch("nope") == 0
    assert [s.name for s in inventory.switches_in(1)] == ["tor-blue", "spine-blue"]


def test_switch_of_agent(inventory):
    switch = inventory.switch_of_agent("192.168.0.101")
    assert switch is not None and switch.name == "tor-blue"
    assert inventory.switch_of_agent("192.168.0.1") is None  # its management address is not its agent
    assert inventory.switch_of_agent("192.168.0.2") is None  # no sflow_agent configured
    assert inventory.switch_of_agent("garbage") is None


@pytest.mark.parametrize("notation", [
    "52:54:00:01:01:01", "52-54-00-01-01-01", "5254.0001.0101", "525400010101", "52:54:00:01:01:01".upper(), " 52:54:00:01:01:01 ",
])
def test_owner_of_mac_in_any_notation(inventory, notation):
    assert inventory.owner_of_mac(notation) == "s1"


def test_owner_of_mac_for_nodes_and_unknowns(inventory):
    assert inventory.owner_of_mac("52:54:00:01:ff:01") == "rr-blue"
    assert inventory.owner_of_mac("5254.0001.fffe") == "border-blue"
    assert inventory.owner_of_mac("52:54:00:09:09:09") is None
    assert inventory.owner_of_mac("not a mac") is None


def test_expected_macs_per_plane(inventory):
    assert inventory.expected_macs(1) == {"52:54:00:01:01:01", "52:54:00:01:ff:01", "52:54:00:01:ff:fe"}
    assert inventory.expected_macs(2) == {"52:54:00:02:01:01"}  # rr-green has no MAC given
    assert inventory.expected_macs(9) == set()
    inventory.expected_macs(1).clear()  # a copy: callers cannot corrupt the inventory
    assert len(inventory.expected_macs(1)) == 3


def test_is_server_port(inventory):
    assert inventory.is_server_port("tor-blue", "Ethernet1")
    assert not inventory.is_server_port("tor-blue", "Ethernet49")  # uplink
    assert not inventory.is_server_port("spine-blue", "Ethernet1")  # spines face no servers
    assert not inventory.is_server_port("nope", "Ethernet1")


def test_server_count(inventory):
    assert inventory.server_count == 2
    counted = parse_inventory(document(lambda d: d.update(servers=[], expected_servers=20000)))
    assert counted.server_count == 20000
    partial = parse_inventory(document(lambda d: d.update(expected_servers=20000)))
    assert partial.server_count == 20000  # a partial list does not shrink the pod
    assert len(partial.servers) == 2


def test_plane_names_and_ids(inventory):
    assert inventory.plane_id("blue") == 1
    assert inventory.plane_id(2) == inventory.plane_id("2") == 2
    assert inventory.plane_name(2) == "green"
    assert inventory.plane_name(7) == "plane-7"


@pytest.mark.parametrize("raw, expected", [
    ("00-1B-21-aa-bb-cc", "00:1b:21:aa:bb:cc"),
    ("001b.21aa.bbcc", "00:1b:21:aa:bb:cc"),
    ("001B21AABBCC", "00:1b:21:aa:bb:cc"),
])
def test_normalise_mac(raw, expected):
    assert normalise_mac(raw) == expected


@pytest.mark.parametrize("raw", ["00:1b:21:aa:bb", "00:1b:21:aa:bb:cc:dd", "00:1b:21:aa:bb:gg", "00 1b 21 aa bb cc", "", 12])
def test_normalise_mac_rejects(raw):
    with pytest.raises(ValueError):
        normalise_mac(raw)


def test_entry_with_an_unknown_key_or_bad_optional_field_is_still_cross_checked():
    def change(data: dict[str, Any]) -> None:
        data["switches"][2].update(name="tor-blue", colour="red")  # unknown key + duplicate name
        data["servers"][1]["macs"] = {"blue": "nope"}  # bad optional field ...
        data["servers"][1]["addresses"][2] = "10.9.1.2"  # ... does not hide this

    assert paths(problems_of(document(change))) == [
        "switches[2].colour",
        "switches[2].name",
        "servers[1].macs.blue",
        "servers[1].addresses.2",
    ]


# -- server ports: which ToR port faces which server --------------------------------------


def _with_ports(ports: dict[str, dict[Any, str]]) -> Callable[[dict[str, Any]], None]:
    """Give servers (by index) ``ports``; BASE's green ToR gets an uplink to test against."""

    def change(data: dict[str, Any]) -> None:
        data["switches"][1]["uplinks"] = ["Ethernet49"]
        for index, value in ports.items():
            data["servers"][int(index)]["ports"] = value

    return change


PORTED = _with_ports({"0": {"blue": "tor-blue:Ethernet1", 2: "tor-green:Ethernet1"},
                      "1": {1: "tor-blue:Ethernet2", "green": " tor-green : Ethernet2 "}})


def test_server_ports_are_optional_and_looked_up_both_ways():
    inv = parse_inventory(document(PORTED))
    assert inv.port_of("s1", 1) == ("tor-blue", "Ethernet1")
    assert inv.port_of("s1", "green") == inv.port_of("s1", "2") == ("tor-green", "Ethernet1")
    assert inv.port_of("s2", 2) == ("tor-green", "Ethernet2")  # whitespace around the parts is dropped
    assert inv.server_on_port("tor-green", "Ethernet2") == "s2"
    assert inv.server_on_port("tor-blue", "Ethernet1") == "s1"
    assert inv.server_on_port("tor-blue", "Ethernet49") is None  # an uplink
    assert inv.server_on_port("nope", "Ethernet1") is None
    assert inv.port_of("s1", 9) is None and inv.port_of("s1", "purple") is None and inv.port_of("nope", 1) is None
    plain = parse_inventory(document())  # without ports nothing is attributed
    assert plain.port_of("s1", 1) is None and plain.server_on_port("tor-blue", "Ethernet1") is None


def test_server_ports_round_trip_through_model_dump():
    inv = parse_inventory(document(PORTED))
    again = parse_inventory(inv.document.model_dump(mode="json"))
    assert again.port_of("s2", "green") == ("tor-green", "Ethernet2")


PORT_CASES = {
    "unknown plane": ({"0": {"red": "tor-blue:Ethernet3"}}, "servers[0].ports.red", "unknown plane 'red'"),
    "unknown switch": ({"0": {"blue": "tor-bleu:Ethernet1"}}, "servers[0].ports.blue",
                       "unknown switch 'tor-bleu' (did you mean 'tor-blue'?)"),
    "switch of another plane": ({"0": {"blue": "tor-green:Ethernet7"}}, "servers[0].ports.blue",
                                "tor-green belongs to plane 2 (green), not plane 1 (blue)"),
    "a spine": ({"0": {"blue": "spine-blue:Ethernet1"}}, "servers[0].ports.blue", "spine-blue is a spine"),
    "an uplink": ({"0": {"green": "tor-green:Ethernet49"}}, "servers[0].ports.green", "Ethernet49 is an uplink of tor-green"),
    "port of another server": ({"0": {"blue": "tor-blue:Ethernet1"}, "1": {"blue": "tor-blue:Ethernet1"}},
                               "servers[1].ports.blue", "port tor-blue:Ethernet1 is already used by servers[0].ports.blue"),
    "second port on a plane": ({"0": {"blue": "tor-blue:Ethernet1", 1: "tor-blue:Ethernet5"}}, "servers[0].ports.1",
                               "second port on plane 1 (blue) (also ports.blue)"),
    "not switch:port": ({"0": {"blue": "Ethernet1"}}, "servers[0].ports.blue", "write it as switch:port"),
    "empty port": ({"0": {"blue": "tor-blue:"}}, "servers[0].ports.blue", "is not a switch port"),
    "not a string": ({"0": {"blue": 7}}, "servers[0].ports.blue", "is not a switch port"),
}


@pytest.mark.parametrize("ports, path, message", list(PORT_CASES.values()), ids=list(PORT_CASES))
def test_server_port_problem_is_reported_at_its_path(ports, path, message):
    problems = problems_of(document(_with_ports(ports)))
    assert path in paths(problems), problems
    assert any(p.path == path and message in p.message for p in problems), problems


def test_a_broken_switch_does_not_make_its_server_ports_unknown():
    def change(data: dict[str, Any]) -> None:
        _with_ports({"0": {"blue": "tor-blue:Ethernet1"}})(data)
        data["switches"][0]["address"] = "not-an-ip"

    assert paths(problems_of(document(change))) == ["switches[0].address"]

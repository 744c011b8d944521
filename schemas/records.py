"""Record types: what collectors publish and detectors read, versioned, with event time and plane.

Conventions every record follows:

* ``ts`` is the **event time** in seconds since the Unix epoch (UTC): when the device
  says the thing happened or was measured, not when planewatch received it.
* ``plane`` is the plane id from the inventory (1..N); 0 means "not mapped to a plane"
  (e.g. a device missing from the inventory) so nothing is silently discarded.
* ``fabric`` names the fabric (pod) the record comes from: the inventory's ``fabric``.
  Collectors leave it empty; the transport that knows the fabric (the Kafka publisher's
  key, the embedded pipeline) stamps it with :func:`with_fabric`, so one ClickHouse
  can hold several pods without their planes and switch names colliding.
* ``ORDER_BY`` is the record's **identity**: two rows with equal ORDER BY columns are the
  same observation. Tables are ``ReplacingMergeTree`` on it, so a batch replayed after a
  crash (at-least-once delivery) leaves no duplicate rows once merged, and reads with
  ``FINAL`` never see one.
* Counters are what the device reports (cumulative); rates are the detectors' business.
  ``None`` means the device does not know that counter (sFlow's all-ones "unknown").
* Each class carries ``VERSION`` (bumped on any incompatible change; it is part of the
  Kafka topic name) and ``TABLE`` (its ClickHouse table; ``None`` for control records).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Iterable, TypeVar

import msgspec

from planewatch.schemas.columns import JSON_TEXT, Column

if TYPE_CHECKING:
    from planewatch.inventory import Inventory

Timestamp = Annotated[float, Column("DateTime64(3, 'UTC')", codec="DoubleDelta, ZSTD(1)")]
OptionalTimestamp = Annotated[float | None, Column("Nullable(DateTime64(3, 'UTC'))")]
PlaneId = Annotated[int, Column("UInt8")]
Name = Annotated[str, Column("LowCardinality(String)")]
Text = Annotated[str, Column("String", codec="ZSTD(1)")]
Counter = Annotated[int, Column("UInt64", codec="T64, ZSTD(1)")]
OptionalCounter = Annotated[int | None, Column("Nullable(UInt64)")]
Small = Annotated[int, Column("UInt32", codec="T64, ZSTD(1)")]
Flag = Annotated[bool, Column("Bool")]


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="record"):
    """Base of every record: event time and plane."""

    VERSION: ClassVar[int] = 1
    TABLE: ClassVar[str | None] = None
    ORDER_BY: ClassVar[tuple[str, ...]] = ("fabric", "plane", "ts")
    TTL_DAYS: ClassVar[int] = 30

    ts: Timestamp
    plane: PlaneId
    fabric: Name = ""


class PortCounters(Record, frozen=True, kw_only=True, tag="port_counters"):
    """OpenConfig ``/interfaces/interface/state/counters`` of one switch port (gNMI SAMPLE)."""

    TABLE = "port_counters"
    ORDER_BY = ("fabric", "plane", "device", "port", "ts")
    TTL_DAYS = 30

    device: Name
    port: Name
    in_octets: Counter
    out_octets: Counter
    in_unicast_pkts: Counter
    out_unicast_pkts: Counter
    in_broadcast_pkts: OptionalCounter = None
    out_broadcast_pkts: OptionalCounter = None
    in_multicast_pkts: OptionalCounter = None
    out_multicast_pkts: OptionalCounter = None
    in_discards: OptionalCounter = None
    out_discards: OptionalCounter = None
    in_errors: OptionalCounter = None
    out_errors: OptionalCounter = None


class InterfaceStatus(Record, frozen=True, kw_only=True, tag="interface_status"):
    """Oper-status of one switch port (gNMI ON_CHANGE): OpenConfig ``UP``, ``DOWN``, ``LOWER_LAYER_DOWN`` …"""

    TABLE = "interface_status"
    ORDER_BY = ("fabric", "plane", "device", "port", "ts", "oper_status")
    TTL_DAYS = 180

    device: Name
    port: Name
    oper_status: Name

    @property
    def is_up(self) -> bool:
        return self.oper_status == "UP"


class FdbSnapshot(Record, frozen=True, kw_only=True, tag="fdb_snapshot"):
    """A whole MAC table of one switch at one time (parallel arrays: entry i is macs[i], vlans[i], ports[i])."""

    TABLE = "fdb_snapshots"
    ORDER_BY = ("fabric", "plane", "device", "ts")
    TTL_DAYS = 14

    device: Name
    macs: Annotated[list[str], Column("Array(String)", codec="ZSTD(3)")]
    vlans: Annotated[list[int], Column("Array(UInt16)", codec="ZSTD(3)")]
    ports: Annotated[list[str], Column("Array(LowCardinality(String))", codec="ZSTD(3)")]


class FdbChange(Record, frozen=True, kw_only=True, tag="fdb_change"):
    """One MAC-table change on one switch: ``learned``, ``moved`` (with the previous port) or ``aged``."""

    TABLE = "fdb_changes"
    ORDER_BY = ("fabric", "plane", "device", "mac", "ts", "change")
    TTL_DAYS = 90

    device: Name
    mac: Annotated[str, Column("String")]
    vlan: Annotated[int, Column("UInt16")]
    port: Name
    change: Name
    previous_port: Annotated[str | None, Column("Nullable(String)")] = None


class SflowCounterSample(Record, frozen=True, kw_only=True, tag="sflow_counters"):
    """sFlow v5 generic (and, when present, ethernet) interface counters of one agent's interface."""

    TABLE = "sflow_counters"
    ORDER_BY = ("fabric", "plane", "device", "if_index", "ts", "sequence")
    TTL_DAYS = 30

    agent: Name
    device: Name
    sequence: Small
    if_index: Small
    if_speed: OptionalCounter = None
    if_oper_up: Annotated[bool | None, Column("Nullable(Bool)")] = None
    in_octets: OptionalCounter = None
    in_ucast_pkts: OptionalCounter = None
    in_mcast_pkts: OptionalCounter = None
    in_bcast_pkts: OptionalCounter = None
    in_discards: OptionalCounter = None
    in_errors: OptionalCounter = None
    out_octets: OptionalCounter = None
    out_ucast_pkts: OptionalCounter = None
    out_mcast_pkts: OptionalCounter = None
    out_bcast_pkts: OptionalCounter = None
    out_discards: OptionalCounter = None
    out_errors: OptionalCounter = None


class SflowFlowSample(Record, frozen=True, kw_only=True, tag="sflow_flow"):
    """L2 summary of one sampled frame: who sent it to whom, and whether it floods."""

    TABLE = "sflow_flows"
    ORDER_BY = ("fabric", "plane", "device", "ts", "sequence", "input_if", "output_if", "src_mac", "dst_mac")
    TTL_DAYS = 7

    agent: Name
    device: Name
    sequence: Small
    sampling_rate: Small
    input_if: Small
    output_if: Small
    src_mac: Annotated[str, Column("String")]
    dst_mac: Annotated[str, Column("String")]
    vlan: Annotated[int | None, Column("Nullable(UInt16)")]
    ethertype: Annotated[int, Column("UInt16")]
    frame_class: Name
    """``broadcast``, ``multicast`` or ``unicast`` (from the destination MAC)."""
    frame_length: Small


class BgpSession(Record, frozen=True, kw_only=True, tag="bgp_session"):
    """A BGP session's state as BIRD reports it; ``ts`` is BIRD's own time of the last transition."""

    TABLE = "bgp_sessions"
    ORDER_BY = ("fabric", "plane", "node", "peer_ip", "ts", "state")
    TTL_DAYS = 365

    node: Name
    """The server (calico-node) whose BIRD holds the session."""
    protocol: Name
    """BIRD protocol name, e.g. Calico's ``Node_10_1_255_1``."""
    peer_ip: Annotated[str, Column("String")]
    state: Name
    """BGP state: ``Established``, ``Idle``, ``Active``, ``Connect``, ``OpenSent``, ``OpenConfirm``."""
    info: Text = ""

    @property
    def established(self) -> bool:
        return self.state == "Established"


class BgpRouteCounters(Record, frozen=True, kw_only=True, tag="bgp_route_counters"):
    """One poll of a session's route counts and the update/withdraw deltas since the previous poll."""

    TABLE = "bgp_route_counters"
    ORDER_BY = ("fabric", "plane", "node", "peer_ip", "ts")
    TTL_DAYS = 90

    node: Name
    protocol: Name
    peer_ip: Annotated[str, Column("String")]
    routes_imported: Small
    routes_exported: Small
    import_updates: Small
    import_withdraws: Small
    export_updates: Small
    export_withdraws: Small


class Finding(Record, frozen=True, kw_only=True, tag="finding"):
    """A detector's conclusion at one point of its lifecycle (``firing`` or ``resolved``).

    ``ts`` is the event time of this transition; ``started_at`` the event time the fault
    began (kept identical across the finding's transitions); ``fingerprint`` is stable
    for the same fault so stores and pagers can deduplicate.
    """

    TABLE = "findings"
    ORDER_BY = ("fabric", "plane", "kind", "fingerprint", "ts", "status")
    TTL_DAYS = 730

    fingerprint: Annotated[str, Column("String")]
    kind: Name
    subject: Name = ""
    """What the finding is about below the plane (a switch, server, MAC); empty for a whole plane."""
    severity: Name
    status: Name
    started_at: Timestamp
    ended_at: OptionalTimestamp = None
    summary: Text = ""
    evidence: Annotated[dict[str, Any], Column("String", codec="ZSTD(3)"), JSON_TEXT] = {}


class PlaneInventory(Record, frozen=True, kw_only=True, tag="plane_inventory"):
    """A plane as the inventory describes it, written whenever planewatch starts with an inventory.

    Dashboards, forensic queries and reports run in SQL and cannot read the YAML: this is
    how they learn plane names and what a healthy plane holds. The latest row per plane
    (by ``ts``) is current. Not sent over Kafka: whoever holds the inventory writes it.
    """

    TABLE = "planes"
    ORDER_BY = ("fabric", "plane", "ts")
    TTL_DAYS = 730

    name: Name
    switches: Small
    servers: Small
    """Servers in the pod (the inventory's ``expected_servers`` when larger than its list)."""
    expected_macs: Small
    """MACs the plane's tables should hold (servers', route reflectors' and routers')."""


class SwitchInventory(Record, frozen=True, kw_only=True, tag="switch_inventory"):
    """A switch as the inventory describes it: which ToR ports face spines (the rest face servers)."""

    TABLE = "switches"
    ORDER_BY = ("fabric", "plane", "device", "ts")
    TTL_DAYS = 730

    device: Name
    role: Name
    """``tor`` or ``spine``."""
    rack: Name = ""
    uplinks: Annotated[list[str], Column("Array(String)")] = []


class ServerInventory(Record, frozen=True, kw_only=True, tag="server_inventory"):
    """A server on one plane as the inventory describes it: its address, MAC and ToR port there.

    Lets SQL name the server behind a ToR port or a MAC (the forensics dashboard's server
    filter, "what does this port face"). ``device``/``port``/``mac`` are empty when the
    inventory leaves them out.
    """

    TABLE = "servers"
    ORDER_BY = ("fabric", "plane", "server", "ts")
    TTL_DAYS = 730

    server: Name
    address: Annotated[str, Column("String")]
    mac: Annotated[str, Column("String")] = ""
    device: Name = ""
    port: Name = ""


def inventory_records(inventory: "Inventory", ts: float) -> list[Record]:
    """The inventory's planes, switches and servers as rows stamped ``ts`` (and the inventory's fabric)."""
    from planewatch.inventory import normalise_mac

    records: list[Record] = []
    for plane_id, plane in inventory.planes.items():
        switches = inventory.switches_in(plane_id)
        records.append(PlaneInventory(
            ts=ts, plane=plane_id, fabric=inventory.fabric, name=plane.name, switches=len(switches),
            servers=inventory.server_count, expected_macs=len(inventory.expected_macs(plane_id)),
        ))
        records.extend(
            SwitchInventory(ts=ts, plane=plane_id, fabric=inventory.fabric, device=switch.name, role=switch.role,
                            rack=switch.rack or "", uplinks=list(switch.uplinks))
            for switch in switches
        )
    for server in inventory.servers.values():
        for key, address in server.addresses.items():
            plane_id = inventory.plane_id(key)
            device, port = inventory.port_of(server.name, plane_id) or ("", "")
            mac = next((normalise_mac(m) for k, m in server.macs.items() if inventory.plane_id(k) == plane_id), "")
            records.append(ServerInventory(ts=ts, plane=plane_id, fabric=inventory.fabric, server=server.name,
                                           address=str(address), mac=mac, device=device, port=port))
    return records


class Watermark(Record, frozen=True, kw_only=True, tag="watermark"):
    """Control record: event time has reached ``ts`` (lets detectors notice silence). Not stored."""


R = TypeVar("R", bound=Record)


def with_fabric(records: Iterable[R], fabric: str) -> list[R]:
    """The records stamped with their fabric (those already stamped keep theirs)."""
    return [r if r.fabric or not fabric else msgspec.structs.replace(r, fabric=fabric) for r in records]


STORED_RECORDS: tuple[type[Record], ...] = (
    PortCounters,
    InterfaceStatus,
    FdbSnapshot,
    FdbChange,
    SflowCounterSample,
    SflowFlowSample,
    BgpSession,
    BgpRouteCounters,
    Finding,
    PlaneInventory,
    SwitchInventory,
    ServerInventory,
)
INVENTORY_RECORDS: tuple[type[Record], ...] = (PlaneInventory, SwitchInventory, ServerInventory)
"""Stored, never transported: written by the process that holds the inventory."""
ALL_RECORDS: tuple[type[Record], ...] = tuple(r for r in STORED_RECORDS if r not in INVENTORY_RECORDS) + (Watermark,)
"""Every record that travels (Kafka topics, JSON lines): measurements, findings and watermarks."""

"""Data contracts: every record planewatch moves, and the ClickHouse tables that keep them.

One definition per record (``planewatch.schemas.records``) drives its wire format
(msgspec JSON/MessagePack for the bus), its Arrow batch layout and its ClickHouse
columns (``planewatch.schemas.columns``), so they cannot drift apart.
"""

from planewatch.schemas.records import (
    ALL_RECORDS,
    INVENTORY_RECORDS,
    STORED_RECORDS,
    BgpRouteCounters,
    BgpSession,
    FdbChange,
    FdbSnapshot,
    Finding,
    InterfaceStatus,
    PlaneInventory,
    PortCounters,
    Record,
    ServerInventory,
    SflowCounterSample,
    SflowFlowSample,
    SwitchInventory,
    Watermark,
    inventory_records,
)

__all__ = [
    "ALL_RECORDS",
    "INVENTORY_RECORDS",
    "STORED_RECORDS",
    "BgpRouteCounters",
    "BgpSession",
    "FdbChange",
    "FdbSnapshot",
    "Finding",
    "InterfaceStatus",
    "PlaneInventory",
    "PortCounters",
    "Record",
    "ServerInventory",
    "SflowCounterSample",
    "SflowFlowSample",
    "SwitchInventory",
    "Watermark",
    "inventory_records",
]

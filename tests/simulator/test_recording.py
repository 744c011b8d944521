"""A recorded scenario holds what an operator's store would: raw records, findings, and the inventory as rows."""

from __future__ import annotations

from planewatch.simulator import build_fabric
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore


def test_the_recording_holds_findings_and_the_inventory_as_rows(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
) -> None:
    inventory = build_fabric(planes=4, racks=4, servers_per_rack=8)
    planes = plane_down_store.query(
        "SELECT plane, argMax(name, ts) AS name, argMax(servers, ts) AS servers, argMax(expected_macs, ts) AS macs "
        "FROM planes GROUP BY plane ORDER BY plane"
    ).to_pylist()
    assert [(p["plane"], p["name"]) for p in planes] == [(i, inventory.plane_name(i)) for i in inventory.plane_ids]
    assert all(p["servers"] == 32 and p["macs"] == len(inventory.expected_macs(p["plane"])) for p in planes)

    switches = plane_down_store.query(
        "SELECT device, argMax(role, ts) AS role, argMax(uplinks, ts) AS uplinks FROM switches GROUP BY device"
    ).to_pylist()
    assert {s["device"] for s in switches} == set(inventory.switches)
    for row in switches:
        switch = inventory.switches[row["device"]]
        assert (row["role"], row["uplinks"]) == (switch.role, list(switch.uplinks))

    servers = plane_down_store.query(
        "SELECT server, plane, argMax(device, ts) AS device, argMax(port, ts) AS port, argMax(mac, ts) AS mac "
        "FROM servers GROUP BY server, plane"
    ).to_pylist()
    assert len(servers) == 32 * 4
    for row in servers:
        assert (row["device"], row["port"]) == inventory.port_of(row["server"], row["plane"])
        assert inventory.owner_of_mac(row["mac"]) == row["server"]

    stored = plane_down_store.query("SELECT kind, plane, status FROM findings ORDER BY ts").to_pylist()
    assert [(f.kind, f.plane, f.status) for f in plane_down_recording.findings] == [
        (r["kind"], r["plane"], r["status"]) for r in stored
    ] == [("plane_failure", 2, "firing"), ("plane_failure", 2, "resolved")]
    assert plane_down_recording.end - plane_down_recording.start == 300

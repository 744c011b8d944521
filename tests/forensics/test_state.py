"""``asof``: each plane's state at one moment, read back from a recorded plane-2 outage.

The ``plane_down_store`` fixture holds 300 s of a 4-plane fabric (4 racks x 8 servers,
2 route reflectors per plane) in which plane 2 fails at +60 s for 120 s.
"""

from __future__ import annotations

import pytest

from planewatch.forensics import ASOF_SCHEMA, asof, asof_detail
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore

SESSIONS_PER_PLANE = 32 * 2  # every server peers with both of the plane's route reflectors
SERVER_PORTS_PER_PLANE = 32


def by_plane(table) -> dict[int, dict]:
    return {row["plane"]: row for row in table.to_pylist()}


def test_before_the_outage_every_plane_is_healthy_and_carries_a_quarter(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    state = asof(plane_down_store, plane_down_recording.start + 30)
    assert state.schema == ASOF_SCHEMA
    planes = by_plane(state)
    assert sorted(planes) == [1, 2, 3, 4]
    for row in planes.values():
        assert (row["sessions_up"], row["sessions"]) == (SESSIONS_PER_PLANE, SESSIONS_PER_PLANE)
        assert (row["server_ports_down"], row["server_ports"]) == (0, SERVER_PORTS_PER_PLANE)
        assert row["share"] == pytest.approx(0.25, abs=0.03)
        assert row["macs"] == row["expected_macs"] and row["expected_macs"] > 0
        assert row["firing"] == ""
    assert planes[2]["name"] == "green"
    assert sum(row["share"] for row in planes.values()) == pytest.approx(1.0, abs=1e-3)


def test_mid_outage_plane_2_has_no_sessions_no_server_ports_no_traffic_and_is_paged(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    planes = by_plane(asof(plane_down_store, plane_down_recording.start + 120))
    down = planes[2]
    assert (down["sessions_up"], down["sessions"]) == (0, SESSIONS_PER_PLANE)
    assert (down["server_ports_down"], down["server_ports"]) == (SERVER_PORTS_PER_PLANE, SERVER_PORTS_PER_PLANE)
    assert down["share"] < 0.01
    assert down["macs"] < down["expected_macs"] / 2  # the ToRs' tables emptied
    assert "plane_failure" in down["firing"]
    for plane in (1, 3, 4):
        assert planes[plane]["sessions_up"] == SESSIONS_PER_PLANE
        assert planes[plane]["share"] == pytest.approx(1 / 3, abs=0.04)
        assert planes[plane]["firing"] == ""


def test_after_recovery_plane_2_is_back(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    planes = by_plane(asof(plane_down_store, plane_down_recording.start + 280))
    assert planes[2]["sessions_up"] == SESSIONS_PER_PLANE and planes[2]["server_ports_down"] == 0
    assert planes[2]["share"] == pytest.approx(0.25, abs=0.03)
    assert planes[2]["firing"] == ""  # resolved by then


def test_one_plane_is_one_row_with_its_share_of_every_plane(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    at = plane_down_recording.start + 30
    only = asof(plane_down_store, at, plane=3).to_pylist()
    assert len(only) == 1 and only[0]["plane"] == 3
    assert only[0] == by_plane(asof(plane_down_store, at))[3]


def test_before_anything_was_recorded_there_is_nothing_to_report(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    for row in asof(plane_down_store, plane_down_recording.start - 3600).to_pylist():
        assert row["sessions"] == 0 and row["server_ports"] == 0
        assert row["share"] is None and row["macs"] is None, "no samples is unknown, not zero"


def test_detail_lists_every_session_and_port_that_was_down_and_the_finding(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    assert asof_detail(plane_down_store, plane_down_recording.start + 30).num_rows == 0
    rows = asof_detail(plane_down_store, plane_down_recording.start + 120).to_pylist()
    assert {row["plane"] for row in rows} == {2}
    sessions = [row for row in rows if row["source"] == "bgp"]
    ports = [row for row in rows if row["source"] == "port"]
    assert len(sessions) == SESSIONS_PER_PLANE and {row["state"] for row in sessions} == {"Active"}
    assert len({row["subject"] for row in sessions}) == SESSIONS_PER_PLANE
    assert sum(row["detail"] == "server" for row in ports) == SERVER_PORTS_PER_PLANE
    assert {row["state"] for row in ports} == {"DOWN"}
    findings = [row for row in rows if row["source"] == "finding"]
    assert [row["subject"] for row in findings] == ["plane_failure"]
    outage = plane_down_recording.start + 60
    assert all(outage <= row["since"].timestamp() <= outage + 10 for row in sessions + ports)


@pytest.mark.parametrize("bad", [
    {"at": "1; DROP TABLE scenario_plane_down.findings"},
    {"at": float("nan")},
    {"plane": "1; DROP TABLE scenario_plane_down.findings"},
    {"plane": 256},
    {"plane": -1},
    {"lookback": 0},
])
def test_values_that_are_not_a_time_or_a_plane_are_refused_before_any_sql(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording, bad: dict
):
    args = {"at": plane_down_recording.start + 30, "plane": 0, **bad}
    lookback = args.pop("lookback", 900.0)
    with pytest.raises(ValueError, match="must be"):
        asof(plane_down_store, args["at"], args["plane"], lookback=lookback)
    if "lookback" not in bad:
        with pytest.raises(ValueError, match="must be"):
            asof_detail(plane_down_store, args["at"], args["plane"])
    assert plane_down_store.query("SELECT count() AS n FROM findings").column("n")[0].as_py() > 0

"""Parser and session rules on real ``show protocols all`` captured from BIRD 1.6.8 and 2.0.12.

The fixtures were captured on 2026-11-26 (UTC) from the namespaces of ``bird_lab``; their
short ``since`` values (``05:55:44``) only make sense with that day as "now".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from planewatch.collectors.bird.client import parse_reply
from planewatch.collectors.bird.parse import RouteStats, parse_protocols, parse_since, parse_status
from planewatch.collectors.bird.sessions import NodeSessions, counters_of, peer_ip_from_name, record_state
from planewatch.inventory import parse_inventory
from planewatch.schemas.records import BgpRouteCounters, BgpSession

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bird"
NOW = dt.datetime(2026, 11, 26, 6, 0, 0, tzinfo=dt.timezone.utc).timestamp()


def at(hms: str, day: int = 26) -> float:
    h, m, s = hms.split(":")
    sec = float(s)
    return dt.datetime(2026, 11, day, int(h), int(m), tzinfo=dt.timezone.utc).timestamp() + sec


def fixture(name: str) -> str:
    raw = (FIXTURES / name).read_text()
    return parse_reply(raw.split("\n", 1)[1]).text  # drop the greeting


def protocols(name: str) -> dict[str, object]:
    return {p.name: p for p in parse_protocols(fixture(name), now=NOW)}


def test_bird16_established() -> None:
    p = protocols("bird16_server_established.raw")
    assert list(p) == ["device1", "workloads", "Node_10_2_255_1"]
    bgp = p["Node_10_2_255_1"]
    assert (bgp.proto, bgp.table, bgp.state, bgp.since_text, bgp.since, bgp.since_precise) == ("BGP", "master", "up", "05:55:44", at("05:55:44"), True)
    assert (bgp.info_state, bgp.info_error, bgp.bgp_state, bgp.neighbor_address, bgp.neighbor_as, bgp.last_error) == (
        "Established", "", "Established", "10.2.255.1", 64512, None)
    assert bgp.description == "Connection to BGP peer" and bgp.source_address == "10.2.0.11"
    (channel,) = bgp.channels
    assert (channel.name, channel.table, channel.routes_imported, channel.routes_exported, channel.routes_preferred) == (None, "master", 3, 2, 3)
    assert channel.import_updates == RouteStats(3, 0, 0, 0, 3)
    assert channel.import_withdraws == RouteStats(0, 0, None, 0, 0)
    assert channel.export_updates == RouteStats(5, 3, 0, None, 2)  # routes offered back to their source: rejected
    assert channel.export_withdraws == RouteStats(0, None, None, None, 0)
    assert not p["workloads"].is_bgp and p["workloads"].routes_imported == 2


def test_bird16_iso_long_and_disabled() -> None:
    p = protocols("bird16_isolong_disabled.raw")
    bgp = p["Node_10_2_255_1"]
    assert (bgp.state, bgp.since_text, bgp.since, bgp.info, bgp.bgp_state) == ("down", "2026-11-26 05:56:16", at("05:56:16"), "", "Down")
    assert not bgp.has_stats and counters_of(bgp) is None  # BIRD prints no statistics for a down protocol
    assert record_state(bgp) == ("Idle", "protocol down (disabled or shut down in BIRD)")
    assert p["device1"].since_text == "2026-11-26 05:54:11"


def test_bird16_hold_timer_expired() -> None:
    bgp = protocols("bird16_hold_timer_expired.raw")["Node_10_2_255_1"]
    assert (bgp.state, bgp.info_state, bgp.info_error, bgp.bgp_state, bgp.last_error) == (
        "start", "OpenSent", "BGP Error: Hold timer expired", "OpenSent", "BGP Error: Hold timer expired")
    assert record_state(bgp) == ("OpenSent", "BGP Error: Hold timer expired")


def test_bird16_route_reflector_side() -> None:
    p = protocols("bird16_rr.raw")
    assert [(n, x.neighbor_address, x.bgp_state) for n, x in p.items() if x.is_bgp] == [
        ("Node_10_2_0_11", "10.2.0.11", "Established"), ("Node_10_2_0_12", "10.2.0.12", "Established")]


def test_bird2_established_channels() -> None:
    p = protocols("bird2_server_established.raw")
    bgp = p["Node_10_2_255_1"]
    assert (bgp.table, bgp.state, bgp.since_text, bgp.since) == ("---", "up", "05:56:03.189", pytest.approx(at("05:56:03.189")))
    (channel,) = bgp.channels
    assert (channel.name, channel.table, channel.state, channel.routes_imported, channel.routes_exported) == ("ipv4", "master4", "UP", 2, 2)
    assert channel.export_updates == RouteStats(4, 2, 0, None, 2)
    assert (bgp.routes_imported, bgp.stat("import_updates", "received")) == (2, 2)
    assert p["device1"].channels == () and p["device1"].table == "---"


def test_bird2_disabled_and_hold_timer() -> None:
    down = protocols("bird2_disabled.raw")["Node_10_2_255_1"]
    assert (down.state, down.bgp_state, down.has_stats, down.channels[0].state) == ("down", "Down", False, "DOWN")
    expired = protocols("bird2_hold_timer_expired.raw")["Node_10_2_255_1"]
    assert record_state(expired) == ("OpenSent", "BGP Error: Hold timer expired")
    assert expired.since == pytest.approx(at("05:56:21.397"))


@pytest.mark.parametrize("name, version, reboot", [
    ("bird16_show_status.raw", "1.6.8", at("05:54:11")),
    ("bird2_show_status.raw", "2.0.12", at("05:55:57.395")),
])
def test_show_status(name: str, version: str, reboot: float) -> None:
    status = parse_status(fixture(name), now=NOW)
    assert (status.version, status.router_id) == (version, "10.2.0.11")
    assert status.last_reboot == pytest.approx(reboot)


@pytest.mark.parametrize("text, expected, precise", [
    ("05:41:01", at("05:41:01"), True),
    ("05:41:01.250", at("05:41:01.250"), True),
    ("23:59:58", at("23:59:58", day=25), True),  # printed yesterday evening, read after midnight
    ("2026-11-20 05:41:01", dt.datetime(2026, 11, 20, 5, 41, 1, tzinfo=dt.timezone.utc).timestamp(), True),
    ("2026-11-20", dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp(), False),
    ("05:41", at("05:41:00"), False),
    ("Nov20", dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp(), False),
    ("Dec31", dt.datetime(2025, 12, 31, tzinfo=dt.timezone.utc).timestamp(), False),
    ("1795672451", 1795672451.0, True),
    ("garbage", None, False),
    ("25:61:00", None, False),
])
def test_parse_since(text: str, expected: float | None, precise: bool) -> None:
    value, is_precise = parse_since(text, now=NOW)
    assert (value, is_precise) == (pytest.approx(expected) if expected is not None else None, precise)


def test_parse_since_in_a_local_time_zone() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    assert parse_since("06:41:01", now=NOW, tz=cet)[0] == at("05:41:01")


@pytest.mark.parametrize("name, ip", [
    ("Node_10_1_255_1", "10.1.255.1"), ("Mesh_10_0_0_2", "10.0.0.2"), ("Global_192_168_1_1", "192.168.1.1"),
    ("Node_fd00__1", "fd00::1"), ("Mesh_2001_db8_0_0_0_0_0_5", "2001:db8::5"),
    ("bgp1", None), ("Node_banana", None), ("Node_10_1_255", None),
])
def test_peer_ip_from_calico_names(name: str, ip: str | None) -> None:
    assert peer_ip_from_name(name) == ip


def test_unreadable_protocol_line_is_loud() -> None:
    with pytest.raises(ValueError, match="not a BIRD protocol line"):
        parse_protocols("name proto table state since info\nbroken line\n", now=NOW)


# -- the session rules, on fixtures -------------------------------------------------------

INVENTORY = parse_inventory({
    "planes": [{"id": 1, "name": "blue", "subnets": ["10.1.0.0/16"]}, {"id": 2, "name": "green", "subnets": ["10.2.0.0/16"]}],
    "servers": [{"name": "s1", "addresses": {1: "10.1.0.11", 2: "10.2.0.11"}}],
})


def test_sessions_initial_then_transition_then_restart() -> None:
    node = NodeSessions("s1", INVENTORY)
    first = node.observe(parse_protocols(fixture("bird16_server_established.raw"), now=NOW), NOW, boot=at("05:54:11"))
    assert first == [
        BgpSession(ts=at("05:55:44"), plane=2, node="s1", protocol="Node_10_2_255_1", peer_ip="10.2.255.1", state="Established"),
        BgpRouteCounters(ts=NOW, plane=2, node="s1", protocol="Node_10_2_255_1", peer_ip="10.2.255.1",
                         routes_imported=3, routes_exported=2, import_updates=0, import_withdraws=0, export_updates=0, export_withdraws=0),
    ]
    again = node.observe(parse_protocols(fixture("bird16_server_established.raw"), now=NOW), NOW + 5)
    assert [type(r) for r in again] == [BgpRouteCounters] and again[0].import_updates == 0

    expired = node.observe(parse_protocols(fixture("bird16_hold_timer_expired.raw"), now=NOW), NOW + 10)
    assert expired[0] == BgpSession(ts=at("05:56:21"), plane=2, node="s1", protocol="Node_10_2_255_1", peer_ip="10.2.255.1",
                                    state="OpenSent", info="BGP Error: Hold timer expired")
    assert (expired[1].routes_imported, expired[1].import_updates, expired[1].import_withdraws) == (0, 0, 0)

    back = node.observe(parse_protocols(fixture("bird16_server_established.raw"), now=NOW), NOW + 15)
    assert back[0].state == "Established"
    assert (back[1].import_updates, back[1].export_updates) == (3, 2)  # counted from zero since the session restarted


def test_counters_going_backwards_rebaseline() -> None:
    text = fixture("bird16_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW)
    lower = text.replace("Import updates:              3", "Import updates:              1")
    records = node.observe(parse_protocols(lower, now=NOW), NOW + 5)
    assert [type(r) for r in records] == [BgpRouteCounters] and records[0].import_updates == 0
    assert node.counter_resets == 1


def test_bird_restart_rebaselines_and_unknown_planes_are_counted() -> None:
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(fixture("bird16_hold_timer_expired.raw"), now=NOW), NOW, boot=at("05:50:00"))
    records = node.observe(parse_protocols(fixture("bird16_server_established.raw"), now=NOW), NOW + 5, boot=at("05:54:11"))
    assert records[0].state == "Established" and records[1].import_updates == 0 and node.bird_restarts == 1

    rr = NodeSessions("rr", parse_inventory({"planes": [{"id": 1, "name": "blue", "subnets": ["10.1.0.0/16"]}], "expected_servers": 0}))
    out = rr.observe(parse_protocols(fixture("bird16_rr.raw"), now=NOW), NOW)
    assert {r.plane for r in out} == {0} and rr.unknown_plane == 2


def test_protocol_removed_from_configuration_is_reported() -> None:
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(fixture("bird16_server_established.raw"), now=NOW), NOW)
    gone = node.observe([], NOW + 5)
    assert gone == [BgpSession(ts=NOW + 5, plane=2, node="s1", protocol="Node_10_2_255_1", peer_ip="10.2.255.1",
                               state="Idle", info="protocol no longer in BIRD's configuration")]


def test_bird_restart_always_reports_the_session() -> None:
    """Restarted BIRD whose session came back with the same printed ``since``: still a new session."""
    text = fixture("bird16_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW, boot=at("05:40:00"))
    records = node.observe(parse_protocols(text, now=NOW), NOW + 5, boot=at("05:54:11"))
    assert [type(r) for r in records] == [BgpSession, BgpRouteCounters] and records[0].ts == at("05:55:44")
    assert records[1].import_updates == 0 and node.bird_restarts == 1


# BIRD 1.6 prints a stored time as now_real - (now - t) in whole seconds, with now_real only
# refreshed when the monotonic second ticks: the same since/Last reboot comes out one second
# apart from one `show` to the next (seen on the real 1.6 lab under CPU load).

def _bump(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def test_bird16_since_jitter_is_not_a_flap() -> None:
    text = fixture("bird16_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW, boot=at("05:54:11"))
    later = _bump(text, "up     05:55:44", "up     05:55:45")
    later = _bump(later, "Import updates:              3          0          0          0          3",
                  "Import updates:              4          0          0          0          4")
    records = node.observe(parse_protocols(later, now=NOW), NOW + 5)
    assert [type(r) for r in records] == [BgpRouteCounters]
    assert (records[0].import_updates, records[0].export_updates) == (1, 0)  # real churn still counted
    back = node.observe(parse_protocols(text.replace("Import updates:              3          0          0          0          3",
                                                      "Import updates:              4          0          0          0          4"),
                                        now=NOW), NOW + 10)
    assert [type(r) for r in back] == [BgpRouteCounters] and back[0].import_updates == 0
    assert node.counter_resets == 0


def test_bird16_last_reboot_jitter_on_reconnect_is_not_a_restart() -> None:
    text = fixture("bird16_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW, boot=at("05:54:11"))
    more = _bump(text, "Import updates:              3          0          0          0          3",
                 "Import updates:              5          0          0          0          5")
    records = node.observe(parse_protocols(more, now=NOW), NOW + 5, boot=at("05:54:12"))  # reconnected: re-read
    assert [type(r) for r in records] == [BgpRouteCounters] and records[0].import_updates == 2
    assert node.bird_restarts == 0
    again = node.observe(parse_protocols(more, now=NOW), NOW + 10, boot=at("05:54:10"))  # a tick the other way
    assert [type(r) for r in again] == [BgpRouteCounters] and node.bird_restarts == 0


def test_session_restart_within_the_jitter_is_told_by_its_counters() -> None:
    """``since`` one second later and counters lower: BIRD zeroed them, the session really restarted."""
    text = fixture("bird16_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW)
    restarted = _bump(text, "up     05:55:44", "up     05:55:45")
    restarted = _bump(restarted, "Import updates:              3          0          0          0          3",
                      "Import updates:              1          0          0          0          1")
    records = node.observe(parse_protocols(restarted, now=NOW), NOW + 5)
    assert [type(r) for r in records] == [BgpSession, BgpRouteCounters]
    assert records[0].ts == at("05:55:45") and records[1].import_updates == 1 and node.counter_resets == 0


def test_bird2_since_tolerance_is_sub_second() -> None:
    text = fixture("bird2_server_established.raw")
    node = NodeSessions("s1", INVENTORY)
    node.observe(parse_protocols(text, now=NOW), NOW)
    jitter = node.observe(parse_protocols(_bump(text, "05:56:03.189", "05:56:03.191"), now=NOW), NOW + 5)
    assert [type(r) for r in jitter] == [BgpRouteCounters]
    flap = node.observe(parse_protocols(_bump(text, "05:56:03.189", "05:56:03.789"), now=NOW), NOW + 10)
    assert [type(r) for r in flap] == [BgpSession, BgpRouteCounters] and flap[0].ts == at("05:56:03.789")

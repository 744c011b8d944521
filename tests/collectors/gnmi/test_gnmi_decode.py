"""pygnmi messages -> records, for device behaviours our simulated target does not show."""

from __future__ import annotations

from planewatch.collectors.gnmi.decode import DeviceDecoder
from planewatch.collectors.gnmi.paths import Elem, parse_path
from planewatch.schemas.records import FdbSnapshot, InterfaceStatus, PortCounters

TS = 1_700_000_000_123_456_789


def _message(prefix: str | None, updates: dict, ts: int = TS) -> dict:
    return {"update": {"timestamp": ts, **({"prefix": prefix} if prefix else {}),
                       "update": [{"path": p, "val": v} for p, v in updates.items()]}}


def test_path_parser_keeps_slashes_inside_keys_and_drops_origins() -> None:
    assert parse_path("openconfig:/interfaces/interface[name=Ethernet1/1]/state") == [
        Elem("interfaces", {}), Elem("interface", {"name": "Ethernet1/1"}), Elem("state", {}),
    ]
    assert parse_path("entry[mac-address=aa:bb:cc:dd:ee:ff][vlan=101]/oc-if:state")[0].keys == {
        "mac-address": "aa:bb:cc:dd:ee:ff", "vlan": "101",
    }
    assert parse_path("a[k=x\\]y]")[0].keys == {"k": "x]y"}


def test_leaves_of_one_sample_split_over_notifications_make_one_record_with_missing_counters_none() -> None:
    """One leaf per notification, full paths, no prefix (how some devices stream)."""
    decoder = DeviceDecoder("tor1", 2)
    base = "interfaces/interface[name=Ethernet1/1]/state/counters/"
    out = []
    for leaf, value in (("in-octets", 10), ("out-octets", 20), ("in-unicast-pkts", 1), ("out-unicast-pkts", 2)):
        out += decoder.feed(_message(None, {base + leaf: value}), now=0.0)
    assert out == []  # incomplete until the stream moves on
    out += decoder.feed(_message(None, {base + "in-octets": 30}, ts=TS + 10**9), now=1.0)
    assert out == [PortCounters(ts=TS / 1e9, plane=2, device="tor1", port="Ethernet1/1",
                                in_octets=10, out_octets=20, in_unicast_pkts=1, out_unicast_pkts=2)]
    assert out[0].in_broadcast_pkts is None and out[0].out_errors is None


def test_json_ietf_subtree_with_uint64_strings_and_module_prefixes() -> None:
    decoder = DeviceDecoder("tor1", 1)
    counters = {"openconfig-interfaces:in-octets": "18446744073709551000", "out-octets": "5",
                "in-unicast-pkts": "1", "out-unicast-pkts": "2", "in-pkts": "3"}
    out = decoder.feed(_message("interfaces/interface[name=Ethernet2]/state", {"counters": counters}), now=0.0)
    out += decoder.feed({"sync_response": True}, now=0.0)
    assert len(out) == 1 and out[0].in_octets == 18446744073709551000


def test_samples_without_required_counters_are_counted_not_invented() -> None:
    decoder = DeviceDecoder("tor1", 1)
    decoder.feed(_message("interfaces/interface[name=Ethernet3]/state/counters", {"in-octets": 1}), now=0.0)
    assert decoder.flush() == [] and decoder.stats.incomplete == 1


def test_quiet_flush_only_emits_samples_older_than_the_grace() -> None:
    decoder = DeviceDecoder("tor1", 1)
    decoder.feed(_message("interfaces/interface[name=E1]/state/counters",
                          {"in-octets": 1, "out-octets": 1, "in-unicast-pkts": 1, "out-unicast-pkts": 1}), now=10.0)
    assert decoder.flush(older_than=9.0) == [] and decoder.pending == 1
    assert len(decoder.flush(older_than=11.0)) == 1 and decoder.pending == 0


def test_repeats_after_reconnect_are_dropped_and_resets_counted() -> None:
    decoder = DeviceDecoder("tor1", 1)
    full = {k: 100 for k in ("in-octets", "out-octets", "in-unicast-pkts", "out-unicast-pkts", "in-broadcast-pkts",
                             "out-broadcast-pkts", "in-multicast-pkts", "out-multicast-pkts", "in-discards",
                             "out-discards", "in-errors", "out-errors")}
    prefix = "interfaces/interface[name=E1]/state/counters"
    assert len(decoder.feed(_message(prefix, full), now=0.0)) == 1  # complete: emitted at once
    assert decoder.feed(_message(prefix, full), now=1.0) == []  # the same sample again (reconnect)
    assert decoder.stats.duplicates == 1
    cleared = {k: 1 for k in full}
    assert len(decoder.feed(_message(prefix, cleared, ts=TS + 10**10), now=2.0)) == 1
    assert decoder.stats.counter_resets == 1


def test_oper_status_and_fdb_chunks_with_one_timestamp() -> None:
    decoder = DeviceDecoder("tor1", 3)
    out = decoder.feed(_message("interfaces/interface[name=E1]/state", {"oper-status": "DOWN"}), now=0.0)
    assert out == [InterfaceStatus(ts=TS / 1e9, plane=3, device="tor1", port="E1", oper_status="DOWN")]
    prefix = "network-instances/network-instance[name=default]/fdb/mac-table/entries"
    leaf = "entry[mac-address={}][vlan=101]/interface/interface-ref/state/interface"
    decoder.feed(_message(prefix, {leaf.format("02:00:00:00:00:01"): "E1"}), now=0.0)
    decoder.feed(_message(prefix, {leaf.format("02:00:00:00:00:02"): "E2"}), now=0.0)
    out = decoder.feed({"sync_response": True}, now=0.0)
    assert out == [FdbSnapshot(ts=TS / 1e9, plane=3, device="tor1", macs=["02:00:00:00:00:01", "02:00:00:00:00:02"],
                               vlans=[101, 101], ports=["E1", "E2"])]


def test_unparsable_messages_are_counted() -> None:
    decoder = DeviceDecoder("tor1", 1)
    assert decoder.feed(None, now=0.0) == []  # pygnmi returns None e.g. for a zero timestamp
    assert decoder.stats.unparsable == 1

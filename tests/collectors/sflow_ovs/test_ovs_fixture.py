"""The committed real OVS capture (tests/fixtures/sflow/ovs-userspace.pcap): no OVS needed.

Pins what the capture holds (see ovs-userspace.README.md next to it) so the decoder is held
to real exporter output on every machine; the tshark comparison runs where tshark is.
Rebuild with make_capture.py, then update the constants below.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import ovslab
import reconcile
import sflow_walk
import tshark_oracle
from decoder_views import (
    RECORDS_WE_SKIP, all_flows, expected_class, flow_view, require_tool, tshark_flow_view, with_frame,
)
from planewatch.collectors.sflow import decode_datagram

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sflow" / "ovs-userspace.pcap"
AGENT = "198.51.100.1"
HOSTS = {"h1": (4, "02:00:00:00:00:01"), "h2": (5, "02:00:00:00:00:02"), "h3": (6, "02:00:00:00:00:03")}
"""host -> (switch-side ifindex, host MAC)."""
LOCAL = 3
"""br0's LOCAL port (a tap, down)."""
FLOODED = 0x80000000 | 3
"""Three other ports (two hosts + LOCAL)."""
DATAGRAMS, FLOWS, COUNTERS = 11, 44, 25
RECORDS = {1: 64, 2: 20, 1001: 44, 1004: 20, 1005: 20, 2203: 5, 2207: 5}
CLASSES = {"multicast": 22, "unicast": 16, "broadcast": 6}
FINAL = {  # ifindex -> (in_ucast, in_octets, out_ucast, out_octets, out_discards) at the last poll
    4: (15, 1290, 26, 2184, 0), 5: (18, 1540, 26, 2256, 0), 6: (11, 966, 21, 1794, 0), LOCAL: (0, 0, 0, 0, 29),
}


@pytest.fixture(scope="module")
def payloads() -> list[bytes]:
    return ovslab.read_pcap_udp_payloads(FIXTURE)


def test_fixture_is_a_small_classic_pcap(payloads) -> None:
    assert FIXTURE.stat().st_size < 200_000
    assert len(payloads) == DATAGRAMS
    # The collector package's own pcap reader sees the same datagrams.
    from planewatch.collectors.sflow.pcap import read_udp

    assert [p.payload for p in read_udp(FIXTURE)] == payloads


def test_decodes_cleanly_and_skips_exactly_the_ovs_records(payloads) -> None:
    records: Counter[int] = Counter()
    flows = counters = 0
    for payload in payloads:
        dgram = decode_datagram(payload)
        assert dgram.problems == [] and dgram.skipped_samples == 0
        assert dgram.header.agent == AGENT and dgram.header.sample_count == dgram.sample_total
        frames = sflow_walk.walk(payload)
        for frame, sample in zip([f for f in frames if f.kind == "flow"], dgram.flow_samples, strict=True):
            assert sample.skipped_records == sum(r != 1 for r in frame.records)
        for frame, sample in zip([f for f in frames if f.kind == "counters"], dgram.counter_samples, strict=True):
            assert sample.skipped_records == sum(r not in (1, 2) for r in frame.records)
        for frame in frames:
            records.update(frame.records)
        flows += len(dgram.flow_samples)
        counters += len(dgram.counter_samples)
    assert (flows, counters) == (FLOWS, COUNTERS)
    assert dict(records) == RECORDS
    assert set(records) - {1, 2} == RECORDS_WE_SKIP


def test_frame_classes_and_flooding(payloads) -> None:
    flows = all_flows(payloads)
    assert Counter(f.raw_header.ethernet.frame_class for f in flows) == CLASSES
    h1, h2, h3 = (HOSTS[h] for h in ("h1", "h2", "h3"))
    bcast_pings = with_frame(flows, src_mac=h2[1], dst_mac="ff:ff:ff:ff:ff:ff", ethertype=0x0800)
    arp = with_frame(flows, src_mac=h1[1], dst_mac="ff:ff:ff:ff:ff:ff", ethertype=0x0806, vlan=None)
    tagged = with_frame(flows, src_mac=h3[1], vlan=10)
    assert (len(bcast_pings), len(arp), len(tagged)) == (2, 3, 2)
    assert {(f.raw_header.ethernet.frame_class, f.raw_header.ethernet.ethertype) for f in tagged} == {
        ("broadcast", 0x0806), ("unicast", 0x0800)}
    echo = with_frame(flows, src_mac=h1[1], dst_mac=h2[1], ethertype=0x0800)
    assert len(echo) == 3 and {(f.input_if, f.output_if) for f in echo} == {(h1[0], h2[0])}
    for f in flows:
        eth = f.raw_header.ethernet
        if eth.frame_class != "unicast":
            assert f.output_if == FLOODED
        if f.output_if & 0x80000000:
            assert f.output_if == FLOODED
        else:
            assert f.output_if in {h[0] for h in HOSTS.values()}
        assert (f.sampling_rate, f.drops, f.raw_header.stripped) == (1, 0, 4)


def test_flows_add_up_to_counters_at_every_poll(payloads) -> None:
    rows = reconcile.reconcile(payloads, {h[0] for h in HOSTS.values()} | {LOCAL})
    assert len(rows) == 20
    for row in rows:
        g = row.counters
        assert (g.in_ucast_pkts, g.in_octets) == (row.in_frames, row.in_bytes), row
        assert g.out_ucast_pkts + g.out_discards == row.out_frames, row
        if g.out_discards == 0:
            assert g.out_octets == row.out_bytes, row
    final = {row.if_index: row.counters for row in rows}
    assert {i: (g.in_ucast_pkts, g.in_octets, g.out_ucast_pkts, g.out_octets, g.out_discards)
            for i, g in final.items()} == FINAL


def test_counters_ovs_does_not_know_are_none(payloads) -> None:
    for payload in payloads:
        for c in decode_datagram(payload).counter_samples:
            if c.source_id_type == 2:  # OVS's bridge-level sample: only 2203/2207, no interface counters
                assert (c.source_id_index, c.generic, c.ethernet, c.skipped_records) == (1000, None, None, 2)
                continue
            g, e = c.generic, c.ethernet
            assert (g.in_bcast_pkts, g.out_bcast_pkts, g.out_mcast_pkts, g.in_unknown_protos) == (None,) * 4
            assert g.in_mcast_pkts == 0  # veths count no rx multicast; OVS passes the kernel's 0 on
            assert g.if_speed == 10_000_000_000 and g.if_type == 6
            assert g.oper_up == (c.source_id_index != LOCAL)
            assert (e.alignment_errors, e.fcs_errors) == (0, 0)
            assert e.single_collision_frames is None and e.symbol_errors is None


def test_fixture_equals_tshark(payloads) -> None:
    require_tool("tshark")
    decoded = tshark_oracle.decode(FIXTURE)
    assert len(decoded) == len(payloads)
    for payload, oracle in zip(payloads, decoded, strict=True):
        dgram = decode_datagram(payload)
        h = dgram.header
        assert (h.agent, h.sub_agent_id, h.sequence, h.uptime_ms, h.sample_count) == (
            oracle.agent, oracle.sub_agent_id, oracle.sequence, oracle.uptime_ms, oracle.sample_count)
        for mine, theirs in zip(dgram.flow_samples, oracle.flows, strict=True):
            assert flow_view(mine) == tshark_flow_view(theirs)
            assert mine.raw_header.ethernet.frame_class == expected_class(theirs)
        for mine, theirs in zip(dgram.counter_samples, oracle.counters, strict=True):
            assert (mine.sequence, mine.source_id_type, mine.source_id_index) == (
                theirs.sequence, theirs.source_id_type, theirs.source_id_index)

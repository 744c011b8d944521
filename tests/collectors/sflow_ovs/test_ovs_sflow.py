"""Real Open vSwitch sFlow, decoded by planewatch, held against tshark, OVS and the kernel.

The lab (conftest.py / ovslab.py) runs OVS's userspace datapath between network
namespaces with sFlow sampling=1 (every frame is sampled) and polling=1, drives counted
unicast, broadcast, VLAN-tagged and IPv6 multicast traffic, and captures the sFlow with
tshark while our own socket receives the same datagrams.

(a) every datagram decodes without problems; the only records skipped are the ones we do
    not read (OVS's 1004/1005/2203/2207, extended switch 1001); every flow-sample field
    equals tshark's decode of the same pcap.
(b) counter samples' generic interface counters lie between the kernel's / OVS's own
    counters read just before and just after they were generated; the counters OVS does
    not know (broadcast, out-multicast, unknown protos: all ones on the wire) are None.
(c) broadcast frames are ``broadcast``, pings ``unicast``, IPv6 ND/MLD/ff02::1
    ``multicast``; flooded frames' output is "multiple interfaces" (0x80000000 | n).
"""

from __future__ import annotations

from collections import Counter

import pytest

import ovslab
import reconcile
import sflow_walk
from decoder_views import RECORDS_WE_SKIP, all_flows, expected_class, flow_view, tshark_flow_view, with_frame
from planewatch.collectors.sflow import decode_datagram  # the decoder under test

MULTIPLE = 0x80000000


# -- the capture itself ------------------------------------------------------------------------


def test_socket_received_what_tshark_captured_without_loss(ovs_capture) -> None:
    cap = ovs_capture
    assert len(cap.payloads) >= 8, "too few datagrams captured"
    # Our socket kept receiving after tshark stopped: the capture is a prefix of it.
    assert cap.received[: len(cap.payloads)] == cap.payloads
    sequences = [decode_datagram(p).header.sequence for p in cap.payloads]
    assert sequences == list(range(1, len(sequences) + 1)), "datagram sequence gap: lost or reordered"


# -- (a) decoding, against tshark ---------------------------------------------------------------


def test_every_datagram_decodes_cleanly_skipping_only_ovs_records(ovs_capture) -> None:
    skipped: Counter[int] = Counter()
    for payload in ovs_capture.payloads:
        dgram = decode_datagram(payload)
        assert dgram.problems == [], dgram.problem_counts()
        assert dgram.header is not None and dgram.header.agent == ovslab.AGENT_ADDRESS
        assert dgram.skipped_samples == 0
        frames = sflow_walk.walk(payload)
        assert dgram.header.sample_count == len(frames) == dgram.sample_total
        flows = iter(dgram.flow_samples)
        counters = iter(dgram.counter_samples)
        for frame in frames:
            sample = next(flows) if frame.kind == "flow" else next(counters)
            read = {1} if frame.kind == "flow" else {1, 2}
            not_read = [r for r in frame.records if r not in read]
            assert sample.skipped_records == len(not_read), (frame, sample)
            assert set(not_read) <= RECORDS_WE_SKIP, f"unexpected record formats {not_read}"
            skipped.update(not_read)
            if frame.kind == "flow":
                assert sample.raw_header is not None and sample.raw_header.ethernet is not None
    # The capture really exercised the skip path for every OVS-specific record.
    assert set(skipped) == RECORDS_WE_SKIP, skipped


def test_flow_samples_equal_tshark(ovs_capture) -> None:
    ours = all_flows(ovs_capture.payloads)
    theirs = [f for d in ovs_capture.tshark for f in d.flows]
    assert len(ours) == len(theirs) > 20
    for mine, oracle in zip(ours, theirs, strict=True):
        assert flow_view(mine) == tshark_flow_view(oracle)
        assert mine.raw_header.ethernet.frame_class == expected_class(oracle)
    # sampling=1: the pool counts every frame, so it equals the sample sequence; nothing dropped.
    assert all(f.sampling_rate == 1 and f.sample_pool == f.sequence and f.drops == 0 for f in ours)
    assert [f.sequence for f in ours] == list(range(1, len(ours) + 1))


def test_datagram_headers_and_counter_sample_headers_equal_tshark(ovs_capture) -> None:
    for payload, oracle in zip(ovs_capture.payloads, ovs_capture.tshark, strict=True):
        dgram = decode_datagram(payload)
        h = dgram.header
        assert (h.agent, h.sub_agent_id, h.sequence, h.uptime_ms, h.sample_count) == (
            oracle.agent, oracle.sub_agent_id, oracle.sequence, oracle.uptime_ms, oracle.sample_count)
        assert len(dgram.counter_samples) == len(oracle.counters)
        for mine, theirs in zip(dgram.counter_samples, oracle.counters, strict=True):
            assert (mine.sequence, mine.source_id_type, mine.source_id_index) == (
                theirs.sequence, theirs.source_id_type, theirs.source_id_index)
            if theirs.ethernet is not None:  # tshark is right up to the first OVS record
                assert mine.ethernet is not None
                values = [getattr(mine.ethernet, name) for name in mine.ethernet.__slots__]
                expected = [None if v == 0xFFFFFFFF else v for v in theirs.ethernet.values()]
                assert values == expected


def test_tshark_flags_only_datagrams_with_ovs_counter_records(ovs_capture) -> None:
    """The quirk that makes tshark no oracle for OVS's generic counters (documented, and watched)."""
    for payload, oracle in zip(ovs_capture.payloads, ovs_capture.tshark, strict=True):
        has_ovs_records = any(set(f.records) & {1004, 1005, 2203, 2207} for f in sflow_walk.walk(payload))
        if not has_ovs_records:
            assert not oracle.malformed
    assert any(d.malformed for d in ovs_capture.tshark), "tshark now decodes OVS records: use it for generic counters"


# -- (b) counters, against OVS and the kernel ---------------------------------------------------

GENERIC_TO_STATS = {
    "in_octets": "rx_bytes", "in_ucast_pkts": "rx_packets", "in_mcast_pkts": "rx_multicast",
    "in_discards": "rx_dropped", "in_errors": "rx_errors", "out_octets": "tx_bytes", "out_ucast_pkts": "tx_packets",
    "out_discards": "tx_dropped", "out_errors": "tx_errors",
}
"""OVS fills ifIn/OutUcastPkts with *all* packets (it cannot tell unicast from the rest)."""
UNKNOWN_TO_OVS = ("in_bcast_pkts", "out_bcast_pkts", "out_mcast_pkts", "in_unknown_protos")


def test_counter_samples_lie_between_kernel_and_ovs_reads(ovs_lab, ovs_counter_window) -> None:
    w = ovs_counter_window
    assert w.pings_in_window > 0, "no traffic during the window: the bracket proves nothing"
    assert set(w.samples) == set(ovs_lab.ports)
    for host, port in ovs_lab.ports.items():
        g = w.samples[host].generic
        assert g is not None, f"{host}: counter sample without generic counters"
        assert g.if_index == port.ifindex
        assert g.if_speed == w.link_speed[host]
        assert g.oper_up and g.admin_up
        for ours, stat in GENERIC_TO_STATS.items():
            lo, hi = w.before_kernel[host][stat], w.after_kernel[host][stat]
            assert lo <= getattr(g, ours) <= hi, f"{host} {ours}={getattr(g, ours)} not in kernel [{lo}, {hi}]"
            if stat in w.before_ofctl[host]:
                # OVS's own port counters bracket the same reads (ofctl read first / last).
                assert w.before_ofctl[host][stat] <= getattr(g, ours) <= w.after_ofctl[host][stat]
        for name in UNKNOWN_TO_OVS:
            assert getattr(g, name) is None, f"{host} {name}: OVS sends all ones, we must say unknown"


def test_counters_only_increase_per_port(ovs_capture, ovs_lab) -> None:
    by_port: dict[int, list] = {}
    for payload in ovs_capture.payloads:
        for c in decode_datagram(payload).counter_samples:
            if c.generic is not None:
                by_port.setdefault(c.source_id_index, []).append(c)
    for port in ovs_lab.ports.values():
        samples = by_port[port.ifindex]
        assert len(samples) >= 2
        assert [s.sequence for s in samples] == sorted(s.sequence for s in samples)
        for a, b in zip(samples, samples[1:]):
            for name in GENERIC_TO_STATS:
                assert getattr(a.generic, name) <= getattr(b.generic, name), (port.name, name)


def test_flow_samples_add_up_to_the_counter_samples(ovs_lab, ovs_capture) -> None:
    """sampling=1: the frames sampled before each poll are what that poll counts (see reconcile.py)."""
    ports = {p.ifindex for p in ovs_lab.ports.values()}
    rows = reconcile.reconcile(ovs_capture.payloads, ports | {ovs_lab.local_ifindex})
    slack = 4  # frames in flight while the counter window's ping runs
    for row in rows:
        g = row.counters
        sent = g.out_ucast_pkts + g.out_discards  # a frame for a down port is a discard
        assert 0 <= g.in_ucast_pkts - row.in_frames <= slack, row  # the kernel counts before OVS samples
        assert 0 <= g.in_octets - row.in_bytes <= slack * 1514, row
        assert 0 <= row.out_frames - sent <= slack, row  # OVS samples before it sends
        if g.out_discards == 0:
            assert 0 <= row.out_bytes - g.out_octets <= slack * 1514, row
    last = {row.if_index: row for row in rows}
    assert set(last) == ports | {ovs_lab.local_ifindex}
    for row in last.values():  # polled in quiet: exact
        g = row.counters
        if row.if_index == ovs_lab.local_ifindex:  # br0's tap is down: every flood to it is a discard
            assert (g.out_discards, g.out_ucast_pkts, g.in_ucast_pkts) == (row.out_frames, 0, 0), row
        else:
            assert g.out_discards == 0, row
            assert (g.in_ucast_pkts, g.in_octets, g.out_ucast_pkts, g.out_octets) == (
                row.in_frames, row.in_bytes, row.out_frames, row.out_bytes), row


# -- (c) frame classes and flooding ---------------------------------------------------------------


def test_sent_frames_are_classified_and_forwarded_as_sent(ovs_lab, ovs_capture) -> None:
    lab, sent = ovs_lab, ovs_lab.sent
    p = lab.ports
    flows = all_flows(ovs_capture.payloads)
    multiple = MULTIPLE | lab.flood_output_count()

    # Unicast pings, exact counts (sampling=1), output = the learned port.
    requests = with_frame(flows, src_mac=p["h1"].mac, dst_mac=p["h2"].mac, ethertype=0x0800, vlan=None)
    replies = with_frame(flows, src_mac=p["h2"].mac, dst_mac=p["h1"].mac, ethertype=0x0800, vlan=None)
    # the counter window's background ping adds to the same pair
    assert len(requests) >= sent.echo_requests[("h1", "h2")] and len(replies) >= sent.echo_requests[("h1", "h2")]
    for f in requests + replies:
        assert f.raw_header.ethernet.frame_class == "unicast"
    assert {f.input_if for f in requests} == {p["h1"].ifindex} and {f.output_if for f in requests} == {p["h2"].ifindex}
    assert {f.input_if for f in replies} == {p["h2"].ifindex} and {f.output_if for f in replies} == {p["h1"].ifindex}

    # IPv4 broadcast pings and ARP requests: broadcast, flooded to every other port (LOCAL too).
    bcast_pings = with_frame(flows, src_mac=p["h2"].mac, dst_mac="ff:ff:ff:ff:ff:ff", ethertype=0x0800, vlan=None)
    assert len(bcast_pings) == sent.broadcast_pings["h2"]
    arp_requests = with_frame(flows, src_mac=p["h1"].mac, dst_mac="ff:ff:ff:ff:ff:ff", ethertype=0x0806, vlan=None)
    assert len(arp_requests) >= sent.arp_requests["h1"] > 0
    for f in bcast_pings + arp_requests:
        assert f.raw_header.ethernet.frame_class == "broadcast"
        assert f.output_if == multiple, hex(f.output_if)

    # 802.1Q frames from h3: tag decoded, ethertype is the inner one, both flooded (trunk ports).
    for src, dst, vlan, ethertype in sent.tagged_frames:
        [f] = with_frame(flows, src_mac=p[src].mac, dst_mac=dst, vlan=vlan, ethertype=ethertype)
        assert f.raw_header.ethernet.frame_class == ("broadcast" if dst == "ff:ff:ff:ff:ff:ff" else "unicast")
        assert f.output_if == multiple and f.input_if == p[src].ifindex

    # IPv6: ff02::1 echo, plus whatever ND/MLD the hosts sent on link-up: multicast, flooded.
    all_nodes = with_frame(flows, src_mac=p["h2"].mac, dst_mac="33:33:00:00:00:01", ethertype=0x86DD)
    assert len(all_nodes) == sent.ipv6_multicast_pings["h2"]
    v6_multicast = [f for f in flows if f.raw_header.ethernet.dst_mac.startswith("33:33:")]
    assert len(v6_multicast) > len(all_nodes), "no ND/MLD frames sampled"
    for f in v6_multicast:
        assert f.raw_header.ethernet.frame_class == "multicast"
        assert f.output_if == multiple

    # Nothing but flooded frames uses the "multiple" form, and only with that count.
    for f in flows:
        if f.output_if & MULTIPLE:
            assert f.output_if == multiple
        else:
            assert f.output_if in {port.ifindex for port in p.values()}


GENERIC_WORDS = ("if_index", "if_type", "if_speed_hi", "if_speed_lo", "if_direction", "if_status",
                 "in_octets_hi", "in_octets_lo", "in_ucast_pkts", "in_mcast_pkts", "in_bcast_pkts", "in_discards",
                 "in_errors", "in_unknown_protos", "out_octets_hi", "out_octets_lo", "out_ucast_pkts",
                 "out_mcast_pkts", "out_bcast_pkts", "out_discards", "out_errors", "promiscuous_mode")
"""The generic interface counters record (format 1) as 32-bit words, for reading the wire directly."""


@pytest.mark.parametrize("field", ["in_bcast_pkts", "out_bcast_pkts", "out_mcast_pkts", "in_unknown_protos"])
def test_ovs_all_ones_on_the_wire_decode_to_none(ovs_capture, ovs_lab, field) -> None:
    """On the wire the word is 0xFFFFFFFF (so None is the decoder's doing, not a missing value)."""
    import struct

    ports = {p.ifindex for p in ovs_lab.ports.values()}
    seen = 0
    for payload in ovs_capture.payloads:
        decoded = [c for c in decode_datagram(payload).counter_samples]
        frames = [f for f in sflow_walk.walk(payload) if f.kind == "counters"]
        for sample, frame in zip(decoded, frames, strict=True):
            if sample.generic is None or sample.source_id_index not in ports:
                continue
            start, length = frame.spans[frame.records.index(1)]
            words = dict(zip(GENERIC_WORDS, struct.unpack_from(">22I", payload, start)))
            assert length == 88 and words["if_index"] == sample.generic.if_index
            assert words[field] == 0xFFFFFFFF
            assert getattr(sample.generic, field) is None
            seen += 1
    assert seen >= 2 * len(ports)

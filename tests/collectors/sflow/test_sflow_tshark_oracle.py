"""The decoder agrees with tshark, field by field, on every record type it reads.

The datagrams come from our encoder, go into a pcap we write ourselves (Ethernet/IPv4/UDP
to port 6343) and are decoded by both tshark (an independent implementation) and us.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sflow_corpus import corpus, require_tool

from planewatch.collectors.sflow import pcap
from planewatch.collectors.sflow.decode import (
    ALL_ONES_32,
    ALL_ONES_64,
    CounterSample,
    Datagram,
    FlowSample,
    decode_datagram,
    standard_interface,
)

Pairs = list[tuple[str, Any]]


def _get(pairs: Pairs, key: str) -> Any:
    for k, v in pairs:
        if k == key:
            return v
    raise KeyError(key)


def _has(pairs: Pairs, key: str) -> bool:
    return any(k == key for k, _ in pairs)


def _int(pairs: Pairs, key: str) -> int:
    return int(_get(pairs, key), 0)


def tshark_packets(path: Path) -> list[Pairs]:
    """tshark's sFlow tree of each packet, as ordered (key, value) pairs (titles repeat, so no dicts)."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "json", "-J", "sflow"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    packets = json.loads(out, object_pairs_hook=lambda pairs: pairs)
    return [_get(_get(_get(p, "_source"), "layers"), "sflow") for p in packets]


def _samples(tree: Pairs) -> tuple[list[tuple[bool, Pairs]], list[tuple[bool, Pairs]]]:
    flows, counters = [], []
    for key, value in tree:
        if key.startswith("Flow sample") or key.startswith("Expanded flow sample"):
            flows.append((key.startswith("Expanded"), value))
        elif key.startswith("Counters sample") or key.startswith("Expanded counters sample"):
            counters.append((key.startswith("Expanded"), value))
    return flows, counters


def _counter(value: int | None, bits: int) -> int:
    """Our ``None`` is the wire's all ones."""
    return (ALL_ONES_32 if bits == 32 else ALL_ONES_64) if value is None else value


def check_header(ours: Datagram, tree: Pairs) -> None:
    h = ours.header
    assert h is not None
    assert h.version == _int(tree, "sflow_245.version")
    if _int(tree, "sflow_245.agenttype") == 1:
        assert h.agent == _get(tree, "sflow_245.agent")
    else:
        assert h.agent == _get(tree, "sflow_245.agent.v6")
    assert h.sub_agent_id == _int(tree, "sflow_245.sub_agent_id")
    assert h.sequence == _int(tree, "sflow_245.sequence_number")
    assert h.uptime_ms == _int(tree, "sflow_245.sysuptime")
    assert h.sample_count == _int(tree, "sflow_245.numsamples")


def check_flow(ours: FlowSample, expanded: bool, t: Pairs) -> None:
    p = "sflow.flow_sample."
    assert ours.expanded == expanded
    assert ours.sequence == _int(t, p + "sequence_number")
    assert ours.sampling_rate == _int(t, p + "sampling_rate")
    assert ours.sample_pool == _int(t, p + "sample_pool")
    assert ours.drops == _int(t, p + "dropped_packets")
    if expanded:
        assert ours.source_id_type == _int(t, p + "source_id_type")
        assert ours.source_id_index == _int(t, p + "source_id_index")
        assert ours.input_if == standard_interface(_int(t, p + "input_interface_format"), _int(t, p + "input_interface_value"))
        assert ours.output_if == standard_interface(_int(t, p + "output_interface.format"), _int(t, p + "output_interface_value"))
    else:
        assert ours.source_id_type == _int(t, p + "source_id_class")
        assert ours.source_id_index == _int(t, p + "index")
        assert ours.input_if == _int(t, p + "input_interface")
        assert ours.output_if == _int(t, p + "output_interface")
    raw, tr = ours.raw_header, _get(t, "Raw packet header")
    assert raw is not None and raw.ethernet is not None
    assert raw.protocol == _int(tr, "sflow_245.header_protocol")
    assert raw.frame_length == _int(tr, "sflow_245.header.frame_length")
    assert raw.stripped == _int(tr, "sflow_245.header.payload_stripped")
    assert raw.header_length == _int(tr, "sflow_245.header.sampled_header_length")
    frame = _get(tr, "sflow_245.header_tree")
    eth = _get(frame, "eth")
    summary = raw.ethernet
    assert summary.dst_mac == _get(eth, "eth.dst")
    assert summary.src_mac == _get(eth, "eth.src")
    if _has(frame, "vlan"):
        assert _int(eth, "eth.type") == 0x8100
        vlan = _get(frame, "vlan")
        assert summary.vlan == _int(vlan, "vlan.id")
        assert summary.ethertype == _int(vlan, "vlan.etype")
    else:
        assert summary.vlan is None
        assert summary.ethertype == _int(eth, "eth.type")
    group = _int(_get(eth, "eth.dst_tree"), "eth.dst.ig") == 1
    tshark_class = ("broadcast" if _get(eth, "eth.dst") == "ff:ff:ff:ff:ff:ff" else "multicast") if group else "unicast"
    assert summary.frame_class == tshark_class


GENERIC_FIELDS = {  # ours -> (tshark, bits); None for fields that are not counters
    "if_index": ("ifindex", None), "if_type": ("iftype", None), "if_speed": ("ifspeed", 64),
    "if_direction": ("ifdirection", None), "in_octets": ("ifinoct", 64), "in_ucast_pkts": ("ifinpkt", 32),
    "in_mcast_pkts": ("ifinmcast", 32), "in_bcast_pkts": ("ifinbcast", 32), "in_discards": ("ifindisc", 32),
    "in_errors": ("ifinerr", 32), "in_unknown_protos": ("ifinunk", 32), "out_octets": ("ifoutoct", 64),
    "out_ucast_pkts": ("ifoutpkt", 32), "out_mcast_pkts": ("ifoutmcast", 32), "out_bcast_pkts": ("ifoutbcast", 32),
    "out_discards": ("ifoutdisc", 32), "out_errors": ("ifouterr", 32), "promiscuous_mode": ("ifpromisc", None),
}
ETHERNET_FIELDS = {
    "alignment_errors": "AlignmentErrors", "fcs_errors": "FCSErrors", "single_collision_frames": "SingleCollisionFrames",
    "multiple_collision_frames": "MultipleCollisionFrames", "sqe_test_errors": "SQETestErrors",
    "deferred_transmissions": "DeferredTransmissions", "late_collisions": "LateCollisions",
    "excessive_collisions": "ExcessiveCollisions", "internal_mac_transmit_errors": "InternalMacTransmitErrors",
    "carrier_sense_errors": "CarrierSenseErrors", "frame_too_longs": "FrameTooLongs",
    "internal_mac_receive_errors": "InternalMacReceiveErrors", "symbol_errors": "SymbolErrors",
}


def check_counters(ours: CounterSample, expanded: bool, t: Pairs) -> None:
    p = "sflow.counters_sample."
    assert ours.expanded == expanded
    assert ours.sequence == _int(t, p + "sequence_number")
    assert ours.source_id_type == _int(t, p + "source_id_type")
    assert ours.source_id_index == _int(t, p + "source_id_index")
    g, tg = ours.generic, _get(t, "Generic interface counters")
    assert g is not None
    for name, (theirs, bits) in GENERIC_FIELDS.items():
        value = getattr(g, name)
        assert (value if bits is None else _counter(value, bits)) == _int(tg, "sflow_245." + theirs), name
    assert g.admin_up == (_int(tg, "sflow_245.ifadmin_status") == 1)
    assert g.oper_up == (_int(tg, "sflow_245.ifoper_status") == 1)
    if _has(t, "Ethernet interface counters"):
        te = _get(t, "Ethernet interface counters")
        assert ours.ethernet is not None
        for name, theirs in ETHERNET_FIELDS.items():
            assert _counter(getattr(ours.ethernet, name), 32) == _int(te, "sflow_245.dot3Stats" + theirs), name
    else:
        assert ours.ethernet is None


def test_every_decoded_field_matches_tshark(tmp_path: Path) -> None:
    require_tool("tshark")
    datagrams = corpus()
    path = tmp_path / "corpus.pcap"
    pcap.write_pcap(path, datagrams)
    trees = tshark_packets(path)
    assert len(trees) == len(datagrams)
    seen_flows = seen_counters = 0
    for payload, tree in zip(datagrams, trees):
        assert not _has(tree, "_ws.malformed")
        ours = decode_datagram(payload)
        assert ours.problems == []
        check_header(ours, tree)
        flows, counters = _samples(tree)
        assert len(ours.flow_samples) == len(flows) and len(ours.counter_samples) == len(counters)
        for sample, (expanded, t) in zip(ours.flow_samples, flows):
            check_flow(sample, expanded, t)
        for counter, (expanded, t) in zip(ours.counter_samples, counters):
            check_counters(counter, expanded, t)
        seen_flows += len(flows)
        seen_counters += len(counters)
    assert (seen_flows, seen_counters) == (7, 4)
    # what the corpus covers, so the comparison above cannot silently shrink
    decoded = [decode_datagram(d) for d in datagrams]
    summaries = [f.raw_header.ethernet for d in decoded for f in d.flow_samples]  # type: ignore[union-attr]
    assert {s.frame_class for s in summaries} == {"broadcast", "multicast", "unicast"}  # type: ignore[union-attr]
    assert {s.vlan is None for s in summaries} == {True, False}  # type: ignore[union-attr]
    assert {d.header.agent for d in decoded} == {"192.0.2.11", "2001:db8::11"}  # type: ignore[union-attr]
    assert {f.expanded for d in decoded for f in d.flow_samples} == {True, False}
    assert {c.expanded for d in decoded for c in d.counter_samples} == {True, False}
    assert any(c.generic.in_bcast_pkts is None for d in decoded for c in d.counter_samples)  # type: ignore[union-attr]


def _strip_skips(d: Datagram) -> Datagram:
    for f in d.flow_samples:
        f.skipped_records = 0
    for c in d.counter_samples:
        c.skipped_records = 0
    d.skipped_samples = 0
    return d


def test_unknown_records_and_samples_are_skipped_by_length() -> None:
    """The corpus with unknown records/samples in the middle decodes to the same values as the clean one."""
    for clean, noisy in zip(corpus(), corpus(with_unknown=True)):
        got = decode_datagram(noisy)
        assert got.problems == []
        skipped = got.skipped_samples + sum(s.skipped_records for s in [*got.flow_samples, *got.counter_samples])
        assert skipped > 0
        want = decode_datagram(clean)
        want.header.sample_count = got.header.sample_count  # type: ignore[union-attr]
        assert _strip_skips(got) == want


@pytest.mark.parametrize("index", range(4))
def test_tshark_sees_the_noisy_corpus_header_too(tmp_path: Path, index: int) -> None:
    """Datagram headers with unknown samples inside still agree with tshark (it reads headers before any sample)."""
    require_tool("tshark")
    payload = corpus(with_unknown=True)[index]
    path = tmp_path / "noisy.pcap"
    pcap.write_pcap(path, [payload])
    (tree,) = tshark_packets(path)
    check_header(decode_datagram(payload), tree)

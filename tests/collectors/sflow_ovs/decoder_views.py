"""The thin adapter between these tests and the decoder's result types (the one place to edit if they change).

Decoder under test: ``planewatch.collectors.sflow.decode_datagram(payload) -> Datagram``
with ``flow_samples`` / ``counter_samples`` / ``problems`` (collectors/sflow/decode.py).
"""

from __future__ import annotations


import tshark_oracle
from planewatch.collectors.sflow import decode_datagram



from tooling import require_tool  # noqa: E402
"""Skip on a developer machine without the tools; fail in CI (``CI`` set)."""

RECORDS_WE_SKIP = {1001, 1004, 1005, 2203, 2207}
"""Extended switch (flow) and OVS's OpenFlow port, port name, app resources, OVS datapath (counters)."""


def all_flows(payloads: list[bytes]) -> list:
    return [f for p in payloads for f in decode_datagram(p).flow_samples]


def with_frame(flows, **want) -> list:
    """Flow samples whose Ethernet summary has these field values."""
    return [f for f in flows if f.raw_header and f.raw_header.ethernet
            and all(getattr(f.raw_header.ethernet, k) == v for k, v in want.items())]


def flow_view(sample) -> dict:
    """Decoder FlowSample -> the fields tshark also decodes."""
    raw = sample.raw_header
    eth = raw.ethernet if raw else None
    return {
        "sequence": sample.sequence, "source_id_type": sample.source_id_type,
        "source_id_index": sample.source_id_index, "sampling_rate": sample.sampling_rate,
        "sample_pool": sample.sample_pool, "drops": sample.drops,
        "input_if": sample.input_if, "output_if": sample.output_if,
        "frame_length": raw.frame_length if raw else None, "stripped": raw.stripped if raw else None,
        "header_length": raw.header_length if raw else None,
        "dst_mac": eth.dst_mac if eth else None, "src_mac": eth.src_mac if eth else None,
        "ethertype": eth.ethertype if eth else None, "vlan": eth.vlan if eth else None,
    }


def tshark_flow_view(flow: tshark_oracle.TsharkFlow) -> dict:
    return {key: getattr(flow, key) for key in (
        "sequence", "source_id_type", "source_id_index", "sampling_rate", "sample_pool", "drops", "input_if",
        "output_if", "frame_length", "stripped", "header_length", "dst_mac", "src_mac", "ethertype", "vlan")}


def expected_class(tshark_flow: tshark_oracle.TsharkFlow) -> str:
    """The frame class from tshark's own reading of the destination MAC."""
    if tshark_flow.dst_mac == "ff:ff:ff:ff:ff:ff":
        return "broadcast"
    return "multicast" if tshark_flow.dst_ig else "unicast"

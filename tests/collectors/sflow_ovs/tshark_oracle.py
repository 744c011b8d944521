"""tshark's decode of an sFlow pcap, flattened for field-by-field comparison with ours.

tshark is the independent oracle for everything it decodes correctly. With OVS that is:
the datagram header, every flow sample (sample header, raw packet header record and the
Ethernet/802.1Q fields of the sampled frame) and, in counter samples, the sample header
and the records *before* the first OVS-specific one. tshark 4.0 does not skip unknown
counter records by their length: after 1004 (OpenFlow port), 1005 (port name), 2203
(app resources) or 2207 (OVS datapath) it reads the following bytes as records and
reports garbage or "malformed". OVS sends ethernet (2), 1004, 1005, then generic (1), so
tshark never decodes OVS's *generic* interface counters; those are checked against OVS's
and the kernel's own counters instead (test_ovs_sflow.py).

PDML (XML) rather than JSON: tshark's JSON repeats keys ("Counters sample, seq 1" twice
in one datagram), which ``json.loads`` silently collapses.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

SFLOW_PORT = 6343


@dataclass
class TsharkFlow:
    sequence: int
    source_id_type: int
    source_id_index: int
    sampling_rate: int
    sample_pool: int
    drops: int
    input_if: int
    output_if: int
    frame_length: int | None = None
    stripped: int | None = None
    header_length: int | None = None
    dst_mac: str | None = None
    src_mac: str | None = None
    dst_ig: int | None = None
    """tshark's I/G (group) bit of the destination MAC."""
    ethertype: int | None = None
    """After any 802.1Q tag (``vlan.etype``), like ours."""
    vlan: int | None = None
    record_formats: list[int] = field(default_factory=list)


@dataclass
class TsharkCounters:
    sequence: int
    source_id_type: int
    source_id_index: int
    record_count: int
    record_formats: list[int] = field(default_factory=list)
    """Formats tshark *reports*; only those up to the first unknown one are trustworthy."""
    ethernet: dict[str, int] | None = None
    """dot3Stats* of an ethernet record that precedes any unknown record."""


@dataclass
class TsharkDatagram:
    agent: str
    sub_agent_id: int
    sequence: int
    uptime_ms: int
    sample_count: int
    flows: list[TsharkFlow] = field(default_factory=list)
    counters: list[TsharkCounters] = field(default_factory=list)
    malformed: bool = False
    """tshark flagged the datagram (``_ws.malformed`` / expert error)."""


DOT3_FIELDS = (
    "AlignmentErrors", "FCSErrors", "SingleCollisionFrames", "MultipleCollisionFrames", "SQETestErrors",
    "DeferredTransmissions", "LateCollisions", "ExcessiveCollisions", "InternalMacTransmitErrors",
    "CarrierSenseErrors", "FrameTooLongs", "InternalMacReceiveErrors", "SymbolErrors",
)
"""tshark's ``sflow_245.dot3Stats*`` names, in the record's (and our dataclass's) order."""


def _int(text: str | None) -> int:
    assert text is not None
    return int(text, 16) if text.startswith("0x") else int(text)


def _child_fields(node: ET.Element) -> dict[str, str]:
    """Direct children ``name -> show`` (first occurrence)."""
    out: dict[str, str] = {}
    for child in node:
        name = child.get("name")
        if name and name not in out:
            out[name] = child.get("show", "")
    return out


def run_pdml(pcap: Path, port: int = SFLOW_PORT) -> ET.Element:
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-d", f"udp.port=={port},sflow", "-T", "pdml"],
        capture_output=True, check=True, timeout=120,
    )
    return ET.fromstring(proc.stdout)


def decode(pcap: Path, port: int = SFLOW_PORT) -> list[TsharkDatagram]:
    """One :class:`TsharkDatagram` per captured packet, in capture order."""
    root = run_pdml(pcap, port)
    out: list[TsharkDatagram] = []
    for packet in root.findall("packet"):
        sflow = next((p for p in packet.findall("proto") if p.get("name") == "sflow"), None)
        if sflow is None:
            raise AssertionError("a captured packet tshark does not decode as sFlow")
        top = _child_fields(sflow)
        dgram = TsharkDatagram(
            agent=top["sflow_245.agent"], sub_agent_id=_int(top["sflow_245.sub_agent_id"]),
            sequence=_int(top["sflow_245.sequence_number"]), uptime_ms=_int(top["sflow_245.sysuptime"]),
            sample_count=_int(top["sflow_245.numsamples"]),
            malformed=any(p.get("name") == "_ws.malformed" for p in packet.iter("proto")),
        )
        for sample in sflow:
            if sample.get("name") != "":
                continue
            title = sample.get("show", "")
            fields = _child_fields(sample)
            if title.startswith("Flow sample"):
                dgram.flows.append(_flow(sample, fields))
            elif title.startswith("Counters sample"):
                dgram.counters.append(_counters(sample, fields))
        out.append(dgram)
    return out


def _flow(sample: ET.Element, f: dict[str, str]) -> TsharkFlow:
    flow = TsharkFlow(
        sequence=_int(f["sflow.flow_sample.sequence_number"]),
        source_id_type=_int(f["sflow.flow_sample.source_id_class"]),
        source_id_index=_int(f["sflow.flow_sample.index"]),
        sampling_rate=_int(f["sflow.flow_sample.sampling_rate"]),
        sample_pool=_int(f["sflow.flow_sample.sample_pool"]),
        drops=_int(f["sflow.flow_sample.dropped_packets"]),
        input_if=_int(f["sflow.flow_sample.input_interface"]),
        output_if=_int(f["sflow.flow_sample.output_interface"]),
    )
    for record in sample:
        if record.get("name") != "":
            continue
        rf = _child_fields(record)
        if "sflow_245.flow_record_format" in rf:
            flow.record_formats.append(_int(rf["sflow_245.flow_record_format"]))
        if rf.get("sflow_245.flow_record_format") != "1":
            continue
        flow.frame_length = _int(rf["sflow_245.header.frame_length"])
        flow.stripped = _int(rf["sflow_245.header.payload_stripped"])
        flow.header_length = _int(rf["sflow_245.header.sampled_header_length"])
        header = next(c for c in record if c.get("name") == "sflow_245.header")
        for proto in header.findall("proto"):
            values = {e.get("name"): e.get("show") for e in proto.iter("field")}
            if proto.get("name") == "eth":
                flow.dst_mac, flow.src_mac = values["eth.dst"], values["eth.src"]
                flow.dst_ig = _int(values["eth.dst.ig"])
                flow.ethertype = _int(values["eth.type"]) if "eth.type" in values else None
            elif proto.get("name") == "vlan" and flow.vlan is None:
                flow.vlan = _int(values["vlan.id"])
                flow.ethertype = _int(values["vlan.etype"]) if "vlan.etype" in values else None
    return flow


def _counters(sample: ET.Element, f: dict[str, str]) -> TsharkCounters:
    counters = TsharkCounters(
        sequence=_int(f["sflow.counters_sample.sequence_number"]),
        source_id_type=_int(f["sflow.counters_sample.source_id_type"]),
        source_id_index=_int(f["sflow.counters_sample.source_id_index"]),
        record_count=_int(f["sflow.counters_sample.counters_records"]),
    )
    trusted = True
    for record in sample:
        if record.get("name") != "":
            continue
        rf = _child_fields(record)
        fmt = rf.get("sflow_245.counters_record_format")
        if fmt is None:
            trusted = False
            continue
        counters.record_formats.append(_int(fmt))
        if record.get("show") == "Ethernet interface counters" and trusted:
            counters.ethernet = {name: _int(rf[f"sflow_245.dot3Stats{name}"]) for name in DOT3_FIELDS}
        elif record.get("show", "").startswith("Unknown"):
            trusted = False
    return counters

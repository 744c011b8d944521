"""sFlow v5 datagram decoder: bytes in, typed samples and counted problems out.

Only what planewatch reads is decoded into fields: the datagram header, flow samples
(standard and expanded) with their *raw packet header* record reduced to an Ethernet
summary (MACs, 802.1Q VLAN, ethertype, frame class), and counter samples (standard and
expanded) with *generic* and *ethernet* interface counters. Everything else is skipped by
its length, because real agents send records nobody else knows (OVS sends 1004, 1005,
2203, 2207, which tshark 4.0 calls malformed) and one of them must not cost the rest.

:func:`decode_datagram` **never raises**: a datagram off the network is untrusted input.
It returns what it could decode plus :class:`DecodeProblem` entries whose ``reason`` is a
short stable word (``truncated_header``, ``bad_version``, ``sample_overflows_datagram``,
``record_overflows_sample``, ``unsupported_header_protocol`` …) that collectors count.
A sample whose *content* is bad is skipped by its length, so the samples after it survive;
a sample whose *length* runs past the datagram ends the walk (nothing after it can be
framed).

Speed matters (a busy collector sees tens of thousands of samples per second on one
core): every fixed-layout block is one precompiled :class:`struct.Struct` ``unpack_from``
over a :class:`memoryview`; there are no per-byte Python loops.

Counters a device does not know are sent as all ones (2^32-1 / 2^64-1); they decode to
``None``, matching the records' "``None`` = unknown" convention.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass, field

SFLOW_VERSION = 5

# sample formats (enterprise 0)
FLOW_SAMPLE = 1
COUNTER_SAMPLE = 2
FLOW_SAMPLE_EXPANDED = 3
COUNTER_SAMPLE_EXPANDED = 4
# flow record formats (enterprise 0)
RAW_PACKET_HEADER = 1
# counter record formats (enterprise 0)
GENERIC_INTERFACE_COUNTERS = 1
ETHERNET_INTERFACE_COUNTERS = 2
# raw packet header protocols
HEADER_PROTOCOL_ETHERNET = 1

ADDRESS_IPV4 = 1
ADDRESS_IPV6 = 2

ALL_ONES_32 = 0xFFFFFFFF
ALL_ONES_64 = 0xFFFFFFFFFFFFFFFF

ETHERTYPE_VLAN = 0x8100
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
"""Tag protocol ids we step over to find the frame's ethertype (802.1Q, 802.1ad, old QinQ)."""

_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")
_U32x3 = struct.Struct(">III")
_HEADER_AFTER_ADDRESS = struct.Struct(">IIII")  # sub-agent, sequence, uptime, samples
_FLOW_SAMPLE = struct.Struct(">IIIIIIII")  # seq, source, rate, pool, drops, input, output, records
_FLOW_SAMPLE_EXPANDED = struct.Struct(">IIIIIIIIIII")  # seq, src type, src index, rate, pool, drops, in fmt, in val, out fmt, out val, records
_COUNTER_SAMPLE = struct.Struct(">III")  # seq, source, records
_COUNTER_SAMPLE_EXPANDED = struct.Struct(">IIII")  # seq, src type, src index, records
_RAW_HEADER = struct.Struct(">IIII")  # protocol, frame length, stripped, header length
_GENERIC_COUNTERS = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_ETHERNET_COUNTERS = struct.Struct(">13I")
_ETH_HEADER = struct.Struct(">6s6sH")
_BROADCAST = b"\xff" * 6
_VLAN_TAG = struct.Struct(">HH")  # TCI, next type


# -- decoded structures ------------------------------------------------------------------


@dataclass(slots=True)
class DecodeProblem:
    """One thing wrong with a datagram: a stable ``reason`` word and the byte offset it was found at."""

    reason: str
    offset: int


@dataclass(slots=True)
class DatagramHeader:
    version: int
    agent: str
    """The agent address as text (``192.0.2.1`` / ``2001:db8::1``): the allow-list key."""
    sub_agent_id: int
    sequence: int
    """Datagram sequence number of this (agent, sub-agent): gaps mean lost datagrams."""
    uptime_ms: int
    """Agent uptime in ms; going backwards means the agent restarted."""
    sample_count: int


@dataclass(slots=True)
class EthernetSummary:
    """What planewatch needs from a sampled frame's first bytes."""

    dst_mac: str
    src_mac: str
    vlan: int | None
    """802.1Q VLAN id of the (outer) tag, ``None`` for an untagged frame."""
    ethertype: int
    """The ethertype after any VLAN tags (an 802.3 length when < 0x600)."""
    frame_class: str
    """``broadcast`` / ``multicast`` / ``unicast`` from the destination MAC."""


@dataclass(slots=True)
class RawPacketHeader:
    protocol: int
    frame_length: int
    stripped: int
    header_length: int
    ethernet: EthernetSummary | None
    """``None`` when the header is not Ethernet or too short to hold one."""


@dataclass(slots=True)
class FlowSample:
    expanded: bool
    sequence: int
    source_id_type: int
    source_id_index: int
    sampling_rate: int
    sample_pool: int
    drops: int
    input_if: int
    """Input interface in the standard 32-bit encoding (format in the top 2 bits)."""
    output_if: int
    """Output interface in the standard 32-bit encoding (``0x80000000 | n`` = n interfaces)."""
    raw_header: RawPacketHeader | None = None
    skipped_records: int = 0


@dataclass(slots=True)
class GenericInterfaceCounters:
    if_index: int
    if_type: int
    if_speed: int | None
    if_direction: int
    if_status: int
    in_octets: int | None
    in_ucast_pkts: int | None
    in_mcast_pkts: int | None
    in_bcast_pkts: int | None
    in_discards: int | None
    in_errors: int | None
    in_unknown_protos: int | None
    out_octets: int | None
    out_ucast_pkts: int | None
    out_mcast_pkts: int | None
    out_bcast_pkts: int | None
    out_discards: int | None
    out_errors: int | None
    promiscuous_mode: int

    @property
    def admin_up(self) -> bool:
        return bool(self.if_status & 1)

    @property
    def oper_up(self) -> bool:
        return bool(self.if_status & 2)


@dataclass(slots=True)
class EthernetInterfaceCounters:
    alignment_errors: int | None
    fcs_errors: int | None
    single_collision_frames: int | None
    multiple_collision_frames: int | None
    sqe_test_errors: int | None
    deferred_transmissions: int | None
    late_collisions: int | None
    excessive_collisions: int | None
    internal_mac_transmit_errors: int | None
    carrier_sense_errors: int | None
    frame_too_longs: int | None
    internal_mac_receive_errors: int | None
    symbol_errors: int | None


@dataclass(slots=True)
class CounterSample:
    expanded: bool
    sequence: int
    source_id_type: int
    source_id_index: int
    generic: GenericInterfaceCounters | None = None
    ethernet: EthernetInterfaceCounters | None = None
    skipped_records: int = 0


@dataclass(slots=True)
class Datagram:
    """Everything decoded from one datagram, including what went wrong."""

    header: DatagramHeader | None
    flow_samples: list[FlowSample] = field(default_factory=list)
    counter_samples: list[CounterSample] = field(default_factory=list)
    problems: list[DecodeProblem] = field(default_factory=list)
    skipped_samples: int = 0
    """Samples of formats we do not read (skipped by length; not a problem)."""

    @property
    def sample_total(self) -> int:
        return len(self.flow_samples) + len(self.counter_samples)

    def problem_counts(self) -> dict[str, int]:
        """Problems counted by reason."""
        return dict(Counter(p.reason for p in self.problems))


# -- helpers -------------------------------------------------------------------------------


def standard_interface(fmt: int, value: int) -> int:
    """Expanded (format, value) interface -> the standard sample's 32-bit encoding."""
    if fmt == 0:
        return value
    return ((fmt & 3) << 30) | (value & 0x3FFFFFFF)


def frame_class_of(dst: bytes | memoryview) -> str:
    """``broadcast`` (all ones), ``multicast`` (I/G bit set) or ``unicast``."""
    if dst == _BROADCAST:
        return "broadcast"
    return "multicast" if dst[0] & 1 else "unicast"


_MAC_TEXT: dict[bytes, str] = {}
_MAC_CACHE_SIZE = 1 << 18
"""A fabric has a bounded MAC population (about one per server per plane), so MAC text is cached."""


def _mac_text(raw: bytes) -> str:
    text = _MAC_TEXT.get(raw)
    if text is None:
        text = raw.hex(":")
        if len(_MAC_TEXT) >= _MAC_CACHE_SIZE:
            _MAC_TEXT.clear()
        _MAC_TEXT[raw] = text
    return text


def summarise_ethernet(frame: bytes | memoryview) -> EthernetSummary | None:
    """Ethernet summary of a frame's first bytes; ``None`` if shorter than an Ethernet header."""
    n = len(frame)
    if n < 14:
        return None
    dst, src, ethertype = _ETH_HEADER.unpack_from(frame, 0)
    vlan: int | None = None
    if ethertype in VLAN_TAGS and n >= 18:
        tci, ethertype = _VLAN_TAG.unpack_from(frame, 14)
        vlan = tci & 0x0FFF
        offset = 18
        while ethertype in VLAN_TAGS and offset + 4 <= n:  # QinQ: the outer tag's VLAN, the innermost type
            ethertype = _VLAN_TAG.unpack_from(frame, offset)[1]
            offset += 4
    return EthernetSummary(_mac_text(dst), _mac_text(src), vlan, ethertype, frame_class_of(dst))


# -- records -------------------------------------------------------------------------------


def _raw_header(data: memoryview, start: int, end: int, problems: list[DecodeProblem]) -> RawPacketHeader | None:
    if end - start < _RAW_HEADER.size:
        problems.append(DecodeProblem("truncated_record", start))
        return None
    protocol, frame_length, stripped, header_length = _RAW_HEADER.unpack_from(data, start)
    body = start + _RAW_HEADER.size
    if header_length > end - body:
        problems.append(DecodeProblem("header_overflows_record", body))
        return None
    ethernet = None
    if protocol != HEADER_PROTOCOL_ETHERNET:
        problems.append(DecodeProblem("unsupported_header_protocol", start))
    else:
        ethernet = summarise_ethernet(data[body : body + header_length])
        if ethernet is None:
            problems.append(DecodeProblem("truncated_frame", body))
    return RawPacketHeader(protocol, frame_length, stripped, header_length, ethernet)


_GENERIC_64 = frozenset({2, 5, 12})  # if_speed, in_octets, out_octets
_GENERIC_COUNTER_FIELDS = (2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
"""Positions that are counters (all ones = unknown); the others are ids, type, direction, status, promiscuity."""


def _generic_counters(data: memoryview, start: int) -> GenericInterfaceCounters:
    values = _GENERIC_COUNTERS.unpack_from(data, start)
    if ALL_ONES_32 not in values and ALL_ONES_64 not in values:  # the common case: everything known
        return GenericInterfaceCounters(*values)
    fields = list(values)
    for i in _GENERIC_COUNTER_FIELDS:
        if fields[i] == (ALL_ONES_64 if i in _GENERIC_64 else ALL_ONES_32):
            fields[i] = None
    return GenericInterfaceCounters(*fields)


def _ethernet_counters(data: memoryview, start: int) -> EthernetInterfaceCounters:
    values = _ETHERNET_COUNTERS.unpack_from(data, start)
    if ALL_ONES_32 not in values:
        return EthernetInterfaceCounters(*values)
    return EthernetInterfaceCounters(*(None if v == ALL_ONES_32 else v for v in values))


# -- samples -------------------------------------------------------------------------------


def _flow_sample(data: memoryview, start: int, end: int, expanded: bool, problems: list[DecodeProblem]) -> FlowSample | None:
    if expanded:
        if end - start < _FLOW_SAMPLE_EXPANDED.size:
            problems.append(DecodeProblem("truncated_sample", start))
            return None
        (seq, src_type, src_index, rate, pool, drops, in_fmt, in_val, out_fmt, out_val,
         n_records) = _FLOW_SAMPLE_EXPANDED.unpack_from(data, start)
        sample = FlowSample(True, seq, src_type, src_index, rate, pool, drops,
                            standard_interface(in_fmt, in_val), standard_interface(out_fmt, out_val))
        offset = start + _FLOW_SAMPLE_EXPANDED.size
    else:
        if end - start < _FLOW_SAMPLE.size:
            problems.append(DecodeProblem("truncated_sample", start))
            return None
        seq, source, rate, pool, drops, input_if, output_if, n_records = _FLOW_SAMPLE.unpack_from(data, start)
        sample = FlowSample(False, seq, source >> 24, source & 0xFFFFFF, rate, pool, drops, input_if, output_if)
        offset = start + _FLOW_SAMPLE.size
    for _ in range(n_records):
        if end - offset < 8:
            problems.append(DecodeProblem("record_overflows_sample", offset))
            return sample
        fmt, length = _U32x2.unpack_from(data, offset)
        body = offset + 8
        rec_end = body + length
        if rec_end > end:
            problems.append(DecodeProblem("record_overflows_sample", offset))
            return sample
        if fmt == RAW_PACKET_HEADER and sample.raw_header is None:
            sample.raw_header = _raw_header(data, body, rec_end, problems)
        else:
            sample.skipped_records += 1
        offset = body + ((length + 3) & ~3)
    if offset < end:
        problems.append(DecodeProblem("trailing_sample_bytes", offset))
    return sample


def _counter_sample(data: memoryview, start: int, end: int, expanded: bool, problems: list[DecodeProblem]) -> CounterSample | None:
    if expanded:
        if end - start < _COUNTER_SAMPLE_EXPANDED.size:
            problems.append(DecodeProblem("truncated_sample", start))
            return None
        seq, src_type, src_index, n_records = _COUNTER_SAMPLE_EXPANDED.unpack_from(data, start)
        sample = CounterSample(True, seq, src_type, src_index)
        offset = start + _COUNTER_SAMPLE_EXPANDED.size
    else:
        if end - start < _COUNTER_SAMPLE.size:
            problems.append(DecodeProblem("truncated_sample", start))
            return None
        seq, source, n_records = _COUNTER_SAMPLE.unpack_from(data, start)
        sample = CounterSample(False, seq, source >> 24, source & 0xFFFFFF)
        offset = start + _COUNTER_SAMPLE.size
    for _ in range(n_records):
        if end - offset < 8:
            problems.append(DecodeProblem("record_overflows_sample", offset))
            return sample
        fmt, length = _U32x2.unpack_from(data, offset)
        body = offset + 8
        rec_end = body + length
        if rec_end > end:
            problems.append(DecodeProblem("record_overflows_sample", offset))
            return sample
        offset = body + ((length + 3) & ~3)
        if fmt == GENERIC_INTERFACE_COUNTERS:
            if rec_end - body < _GENERIC_COUNTERS.size:
                problems.append(DecodeProblem("truncated_record", body))
            else:
                sample.generic = _generic_counters(data, body)
        elif fmt == ETHERNET_INTERFACE_COUNTERS:
            if rec_end - body < _ETHERNET_COUNTERS.size:
                problems.append(DecodeProblem("truncated_record", body))
            else:
                sample.ethernet = _ethernet_counters(data, body)
        else:
            sample.skipped_records += 1
    if offset < end:
        problems.append(DecodeProblem("trailing_sample_bytes", offset))
    return sample


# -- datagram ------------------------------------------------------------------------------


_AGENT_TEXT: dict[bytes, str] = {}
_AGENT_CACHE_SIZE = 65536


def _agent_text(raw: bytes) -> str:
    """Agent address bytes -> canonical text, cached (a fabric has a few thousand agents; ipaddress is slow)."""
    text = _AGENT_TEXT.get(raw)
    if text is None:
        text = str(ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw))
        if len(_AGENT_TEXT) >= _AGENT_CACHE_SIZE:
            _AGENT_TEXT.clear()
        _AGENT_TEXT[raw] = text
    return text


def decode_header(data: memoryview, problems: list[DecodeProblem]) -> tuple[DatagramHeader | None, int]:
    """The datagram header and the offset of its first sample; ``(None, 0)`` with a problem if unreadable."""
    n = len(data)
    if n < 8:
        problems.append(DecodeProblem("truncated_header", 0))
        return None, 0
    version, address_type = _U32x2.unpack_from(data, 0)
    if version != SFLOW_VERSION:
        problems.append(DecodeProblem("bad_version", 0))
        return None, 0
    if address_type == ADDRESS_IPV4:
        size = 4
    elif address_type == ADDRESS_IPV6:
        size = 16
    else:
        problems.append(DecodeProblem("bad_address_type", 4))
        return None, 0
    offset = 8 + size
    if n < offset + _HEADER_AFTER_ADDRESS.size:
        problems.append(DecodeProblem("truncated_header", 0))
        return None, 0
    agent = _agent_text(bytes(data[8:offset]))
    sub_agent, sequence, uptime, samples = _HEADER_AFTER_ADDRESS.unpack_from(data, offset)
    return DatagramHeader(version, agent, sub_agent, sequence, uptime, samples), offset + _HEADER_AFTER_ADDRESS.size


def decode_datagram(payload: bytes | bytearray | memoryview) -> Datagram:
    """Decode one sFlow v5 datagram. Never raises: problems are listed, decodable samples kept."""
    try:
        return _decode(memoryview(payload))
    except Exception as error:  # pragma: no cover - a decoder bug must cost one datagram, not the collector
        return Datagram(header=None, problems=[DecodeProblem(f"decoder_error:{type(error).__name__}", 0)])


def _decode(data: memoryview) -> Datagram:
    problems: list[DecodeProblem] = []
    header, offset = decode_header(data, problems)
    result = Datagram(header=header, problems=problems)
    if header is None:
        return result
    end = len(data)
    flows, counters = result.flow_samples, result.counter_samples
    for _ in range(header.sample_count):
        if end - offset < 8:
            problems.append(DecodeProblem("missing_samples", offset))
            return result
        fmt, length = _U32x2.unpack_from(data, offset)
        body = offset + 8
        if length > end - body:
            problems.append(DecodeProblem("sample_overflows_datagram", offset))
            return result
        sample_end = body + length
        if fmt == FLOW_SAMPLE or fmt == FLOW_SAMPLE_EXPANDED:
            flow = _flow_sample(data, body, sample_end, fmt == FLOW_SAMPLE_EXPANDED, problems)
            if flow is not None:
                flows.append(flow)
        elif fmt == COUNTER_SAMPLE or fmt == COUNTER_SAMPLE_EXPANDED:
            counter = _counter_sample(data, body, sample_end, fmt == COUNTER_SAMPLE_EXPANDED, problems)
            if counter is not None:
                counters.append(counter)
        else:
            result.skipped_samples += 1
        offset = body + ((length + 3) & ~3)
    if offset < end:
        problems.append(DecodeProblem("trailing_bytes", offset))
    return result

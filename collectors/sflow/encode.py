"""sFlow v5 datagram encoder: the inverse of :mod:`.decode`, for the simulator and the tests.

It writes the same wire format a switch does (XDR, big-endian, opaque data padded to 4
bytes), so what the simulator sends can be read by tshark and sfacctd too, not only by
our own decoder. Pieces compose bottom-up::

    frame = ethernet_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", 0x0806, vlan=101)
    flow = flow_sample(sequence=1, source_id_index=12, sampling_rate=4096, input_if=12,
                       output_if=0x80000004, records=[raw_header_record(64, frame)])
    payload = datagram("192.0.2.1", sequence=7, uptime_ms=1000, samples=[flow])

Counters given as ``None`` are written as all ones ("unknown"), as real agents do.
:func:`record` and :func:`sample` wrap arbitrary bodies, to build records and samples
nobody knows (the decoder must skip them by length).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Sequence

from planewatch.collectors.sflow.decode import (
    ADDRESS_IPV4,
    ADDRESS_IPV6,
    ALL_ONES_32,
    ALL_ONES_64,
    COUNTER_SAMPLE,
    COUNTER_SAMPLE_EXPANDED,
    ETHERNET_INTERFACE_COUNTERS,
    ETHERTYPE_VLAN,
    FLOW_SAMPLE,
    FLOW_SAMPLE_EXPANDED,
    GENERIC_INTERFACE_COUNTERS,
    HEADER_PROTOCOL_ETHERNET,
    RAW_PACKET_HEADER,
    SFLOW_VERSION,
)

MAX_HEADER_BYTES = 128
"""sFlow agents' customary sampled-header size."""
FCS_BYTES = 4

_U32x2 = struct.Struct(">II")
_GENERIC_COUNTERS = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_ETHERNET_COUNTERS = struct.Struct(">13I")


def _pad(body: bytes) -> bytes:
    return body + b"\0" * (-len(body) % 4)


def _c32(value: int | None) -> int:
    return ALL_ONES_32 if value is None else value & ALL_ONES_32


def _c64(value: int | None) -> int:
    return ALL_ONES_64 if value is None else value & ALL_ONES_64


def mac_bytes(mac: str) -> bytes:
    """``00:1b:21:aa:bb:cc`` (or ``-`` separated) -> 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"{mac!r} is not a MAC address")
    return raw


def ethernet_frame(dst_mac: str, src_mac: str, ethertype: int, *, vlan: int | None = None,
                   frame_length: int = 64, max_header: int = MAX_HEADER_BYTES) -> bytes:
    """The first bytes of a frame as an agent samples them: MACs, optional 802.1Q tag, ethertype, zero payload.

    Returns ``min(frame_length - FCS, max_header)`` bytes (never less than the L2 header itself).
    """
    head = mac_bytes(dst_mac) + mac_bytes(src_mac)
    if vlan is not None:
        head += struct.pack(">HH", ETHERTYPE_VLAN, vlan & 0x0FFF)
    head += struct.pack(">H", ethertype)
    size = max(len(head), min(frame_length - FCS_BYTES, max_header))
    return head + b"\0" * (size - len(head))


def record(fmt: int, body: bytes, enterprise: int = 0) -> bytes:
    """A flow or counter record of any format (``enterprise`` in the top 20 bits), body padded to 4."""
    return _U32x2.pack((enterprise << 12) | fmt, len(body)) + _pad(body)


def sample(fmt: int, body: bytes, enterprise: int = 0) -> bytes:
    """A sample of any format: same framing as a record."""
    return record(fmt, body, enterprise)


def raw_header_record(frame_length: int, header: bytes, *, stripped: int = FCS_BYTES,
                      protocol: int = HEADER_PROTOCOL_ETHERNET) -> bytes:
    """Flow record 1: the sampled header (``header``) of a frame of ``frame_length`` bytes."""
    body = struct.pack(">IIII", protocol, frame_length, stripped, len(header)) + _pad(header)
    return record(RAW_PACKET_HEADER, body)


def generic_counters_record(
    if_index: int, *, if_type: int = 6, if_speed: int | None = None, if_direction: int = 1,
    if_status: int = 3, in_octets: int | None = None, in_ucast_pkts: int | None = None,
    in_mcast_pkts: int | None = None, in_bcast_pkts: int | None = None, in_discards: int | None = None,
    in_errors: int | None = None, in_unknown_protos: int | None = None, out_octets: int | None = None,
    out_ucast_pkts: int | None = None, out_mcast_pkts: int | None = None, out_bcast_pkts: int | None = None,
    out_discards: int | None = None, out_errors: int | None = None, promiscuous_mode: int = 0,
) -> bytes:
    """Counter record 1 (generic interface counters). ``if_status``: bit 0 admin up, bit 1 oper up.

    32-bit packet counters wrap modulo 2^32 as on a real agent; ``None`` is sent as all ones.
    """
    body = _GENERIC_COUNTERS.pack(
        if_index, if_type, _c64(if_speed), if_direction, if_status,
        _c64(in_octets), _c32(in_ucast_pkts), _c32(in_mcast_pkts), _c32(in_bcast_pkts),
        _c32(in_discards), _c32(in_errors), _c32(in_unknown_protos),
        _c64(out_octets), _c32(out_ucast_pkts), _c32(out_mcast_pkts), _c32(out_bcast_pkts),
        _c32(out_discards), _c32(out_errors), promiscuous_mode,
    )
    return record(GENERIC_INTERFACE_COUNTERS, body)


def ethernet_counters_record(values: Sequence[int | None] = (0,) * 13) -> bytes:
    """Counter record 2 (dot3 stats), 13 counters in the order of RFC 3635 / the sFlow spec."""
    if len(values) != 13:
        raise ValueError("ethernet interface counters are 13 values")
    return record(ETHERNET_INTERFACE_COUNTERS, _ETHERNET_COUNTERS.pack(*(_c32(v) for v in values)))


def _interface(value: int) -> tuple[int, int]:
    """Standard 32-bit interface encoding -> expanded (format, value)."""
    fmt = value >> 30
    return (0, value) if fmt == 0 else (fmt, value & 0x3FFFFFFF)


def flow_sample(*, sequence: int, source_id_index: int, sampling_rate: int, input_if: int, output_if: int,
                records: Sequence[bytes], sample_pool: int = 0, drops: int = 0, source_id_type: int = 0,
                expanded: bool = False) -> bytes:
    """A flow sample (format 1) or expanded flow sample (format 3); interfaces in the standard encoding."""
    if expanded:
        in_fmt, in_val = _interface(input_if)
        out_fmt, out_val = _interface(output_if)
        head = struct.pack(">IIIIIIIIIII", sequence, source_id_type, source_id_index, sampling_rate,
                           sample_pool, drops, in_fmt, in_val, out_fmt, out_val, len(records))
        return sample(FLOW_SAMPLE_EXPANDED, head + b"".join(records))
    source = ((source_id_type & 0xFF) << 24) | (source_id_index & 0xFFFFFF)
    head = struct.pack(">IIIIIIII", sequence, source, sampling_rate, sample_pool, drops, input_if, output_if, len(records))
    return sample(FLOW_SAMPLE, head + b"".join(records))


def counter_sample(*, sequence: int, source_id_index: int, records: Sequence[bytes], source_id_type: int = 0,
                   expanded: bool = False) -> bytes:
    """A counter sample (format 2) or expanded counter sample (format 4)."""
    if expanded:
        head = struct.pack(">IIII", sequence, source_id_type, source_id_index, len(records))
        return sample(COUNTER_SAMPLE_EXPANDED, head + b"".join(records))
    source = ((source_id_type & 0xFF) << 24) | (source_id_index & 0xFFFFFF)
    return sample(COUNTER_SAMPLE, struct.pack(">III", sequence, source, len(records)) + b"".join(records))


def datagram_header(agent: str, *, sequence: int, uptime_ms: int, sample_count: int, sub_agent_id: int = 0) -> bytes:
    """The 28-byte (IPv4 agent) or 40-byte (IPv6 agent) datagram header."""
    address = ipaddress.ip_address(agent)
    kind = ADDRESS_IPV4 if address.version == 4 else ADDRESS_IPV6
    return (struct.pack(">II", SFLOW_VERSION, kind) + address.packed
            + struct.pack(">IIII", sub_agent_id, sequence & ALL_ONES_32, uptime_ms & ALL_ONES_32, sample_count))


def datagram(agent: str, *, sequence: int, uptime_ms: int, samples: Sequence[bytes], sub_agent_id: int = 0) -> bytes:
    """A whole sFlow v5 datagram from an agent address (v4 or v6) and encoded samples."""
    return datagram_header(agent, sequence=sequence, uptime_ms=uptime_ms, sample_count=len(samples),
                           sub_agent_id=sub_agent_id) + b"".join(samples)

"""Just enough pcap to carry sFlow datagrams: write UDP/IPv4/Ethernet packets, read UDP payloads back.

tshark (the test oracle) and sfacctd (the benchmark reference) both read pcap files, and
captures are how decoders are tested on real traffic, so the encoder's datagrams go into
a pcap and captures come out of one. Classic pcap only (not pcapng), Ethernet link type;
IPv4 and IPv6 packets are read, non-UDP packets and other ports skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

SFLOW_PORT = 6343
LINKTYPE_ETHERNET = 1

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_MAGIC_LE_USEC = 0xA1B2C3D4
_MAGIC_LE_NSEC = 0xA1B23C4D
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")


@dataclass(slots=True)
class UdpPacket:
    ts: float
    src: str
    dst: str
    src_port: int
    dst_port: int
    payload: bytes


def _checksum(header: bytes) -> int:
    words = struct.unpack(f">{len(header) // 2}H", header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(payload: bytes, *, src: str, dst: str, src_port: int, dst_port: int = SFLOW_PORT) -> bytes:
    """Ethernet + IPv4 + UDP around ``payload`` (UDP checksum 0 = not computed, legal over IPv4)."""
    udp = _UDP.pack(src_port, dst_port, 8 + len(payload), 0) + payload
    header = _IPV4.pack(0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    header = header[:10] + struct.pack(">H", _checksum(header)) + header[12:]
    ethernet = bytes.fromhex("020000000002" "020000000001" "0800")
    return ethernet + header + udp


def write_pcap(path: Path | str, datagrams: Iterable[bytes], *, src: str = "192.0.2.1", dst: str = "192.0.2.250",
               src_port: int = 50000, dst_port: int = SFLOW_PORT, start: float = 1_700_000_000.0,
               interval: float = 0.001) -> int:
    """Write each datagram as one UDP packet to ``dst:dst_port``; returns the packet count."""
    count = 0
    with open(path, "wb") as out:
        out.write(_GLOBAL.pack(_MAGIC_LE_USEC, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        for i, payload in enumerate(datagrams):
            frame = udp_frame(payload, src=src, dst=dst, src_port=src_port, dst_port=dst_port)
            ts = start + i * interval
            sec = int(ts)
            out.write(_RECORD.pack(sec, int(round((ts - sec) * 1e6)), len(frame), len(frame)))
            out.write(frame)
            count += 1
    return count


def _records(stream: BinaryIO) -> Iterator[tuple[float, bytes]]:
    head = stream.read(_GLOBAL.size)
    if len(head) < _GLOBAL.size:
        raise ValueError("not a pcap file (too short)")
    magic = struct.unpack("<I", head[:4])[0]
    if magic in (_MAGIC_LE_USEC, _MAGIC_LE_NSEC):
        endian = "<"
    elif struct.unpack(">I", head[:4])[0] in (_MAGIC_LE_USEC, _MAGIC_LE_NSEC):
        endian, magic = ">", struct.unpack(">I", head[:4])[0]
    else:
        raise ValueError("not a classic pcap file (pcapng is not supported: convert with editcap -F pcap)")
    linktype = struct.unpack(endian + "I", head[20:24])[0]
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"pcap link type {linktype} is not Ethernet")
    scale = 1e-9 if magic == _MAGIC_LE_NSEC else 1e-6
    record = struct.Struct(endian + "IIII")
    while True:
        head = stream.read(record.size)
        if len(head) < record.size:
            return
        sec, frac, incl, _ = record.unpack(head)
        data = stream.read(incl)
        if len(data) < incl:
            return
        yield sec + frac * scale, data


def _udp_of(frame: bytes) -> tuple[str, str, bytes] | None:
    """(src, dst, UDP segment) of an Ethernet frame carrying IPv4/IPv6 UDP (one VLAN tag allowed)."""
    offset, ethertype = 14, struct.unpack_from(">H", frame, 12)[0] if len(frame) >= 14 else 0
    if ethertype == 0x8100 and len(frame) >= 18:
        ethertype, offset = struct.unpack_from(">H", frame, 16)[0], 18
    if ethertype == 0x0800 and len(frame) >= offset + 20:
        ihl = (frame[offset] & 0x0F) * 4
        if frame[offset + 9] != 17:
            return None
        src = str(ipaddress.IPv4Address(frame[offset + 12 : offset + 16]))
        dst = str(ipaddress.IPv4Address(frame[offset + 16 : offset + 20]))
        return src, dst, frame[offset + ihl :]
    if ethertype == 0x86DD and len(frame) >= offset + 40:
        if frame[offset + 6] != 17:  # no extension headers in sFlow exports
            return None
        src = str(ipaddress.IPv6Address(frame[offset + 8 : offset + 24]))
        dst = str(ipaddress.IPv6Address(frame[offset + 24 : offset + 40]))
        return src, dst, frame[offset + 40 :]
    return None


def read_udp(path: Path | str, *, port: int | None = SFLOW_PORT) -> Iterator[UdpPacket]:
    """UDP packets of a pcap file (to ``port`` only, unless ``port`` is None), payload cut to the UDP length."""
    with open(path, "rb") as stream:
        for ts, frame in _records(stream):
            found = _udp_of(frame)
            if found is None:
                continue
            src, dst, segment = found
            if len(segment) < 8:
                continue
            sport, dport, length, _ = _UDP.unpack_from(segment, 0)
            if port is not None and dport != port:
                continue
            yield UdpPacket(ts, src, dst, sport, dport, bytes(segment[8 : max(8, min(length, len(segment)))]))

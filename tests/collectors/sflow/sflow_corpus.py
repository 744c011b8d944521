"""Datagrams that cover every record type the decoder reads (and some it must skip), for the oracle and fuzz tests."""

from __future__ import annotations


from planewatch.collectors.sflow import encode as e

AGENT_V4 = "192.0.2.11"
AGENT_V6 = "2001:db8::11"
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
SERVER_A = "02:01:ee:00:00:01"
SERVER_B = "02:01:ee:00:00:02"
ARP, IPV4, IPV6 = 0x0806, 0x0800, 0x86DD
ENTERPRISE_HOST = 4300
"""An enterprise number we do not decode (any non-zero enterprise is 'unknown' to us)."""


from tooling import require_tool  # noqa: E402


def flow(seq: int, dst: str, src: str, ethertype: int, *, vlan: int | None, length: int, expanded: bool,
         input_if: int = 3, output_if: int = 7, rate: int = 4096, first: list[bytes] | None = None,
         source_index: int = 3) -> bytes:
    frame = e.ethernet_frame(dst, src, ethertype, vlan=vlan, frame_length=length)
    return e.flow_sample(sequence=seq, source_id_index=source_index, sampling_rate=rate, sample_pool=seq * rate,
                         drops=seq % 3, input_if=input_if, output_if=output_if,
                         records=[*(first or []), e.raw_header_record(length, frame)], expanded=expanded)


def counters(seq: int, if_index: int, *, expanded: bool, unknown: bool = False, all_ones: bool = False,
             ethernet: bool = True, oper_up: bool = True) -> bytes:
    base = 1000 * if_index
    values = dict(
        if_speed=25_000_000_000, in_octets=10**12 + base, in_ucast_pkts=base + 1, in_mcast_pkts=base + 2,
        in_bcast_pkts=base + 3, in_discards=base + 4, in_errors=base + 5, in_unknown_protos=base + 6,
        out_octets=2 * 10**12 + base, out_ucast_pkts=base + 7, out_mcast_pkts=base + 8, out_bcast_pkts=base + 9,
        out_discards=base + 10, out_errors=base + 11,
    )
    if all_ones:  # what OVS does for broadcast/multicast, and an unknown speed
        values.update(if_speed=None, in_mcast_pkts=None, in_bcast_pkts=None, out_mcast_pkts=None,
                      out_bcast_pkts=None, in_octets=None)
    records = [e.generic_counters_record(if_index, if_status=3 if oper_up else 1, **values)]
    if ethernet:
        records.append(e.ethernet_counters_record([None if all_ones and i % 4 == 0 else i * 11 for i in range(13)]))
    if unknown:
        records.insert(1, e.record(1005, b"\x00\x00\x00\x01" * 5))  # OVS-style record nobody else knows
    return e.counter_sample(sequence=seq, source_id_index=if_index, records=records, expanded=expanded)


def corpus(with_unknown: bool = False) -> list[bytes]:
    """Datagrams covering every record we decode: v4 and v6 agents, standard and expanded samples, tagged and
    untagged frames, broadcast/multicast/unicast, all-ones counters.

    ``with_unknown`` adds, *in the middle* of samples and datagrams (where skipping by length matters), records
    and a sample of formats we do not decode. tshark 4.0 does not skip unknown records by their length (it
    mis-decodes what follows), so the oracle reads the clean corpus and the decoder must read the other one to
    the same values.
    """
    switch_record = [e.record(1001, b"\x00\x00\x00\x65" + b"\x00" * 12)] if with_unknown else []  # extended switch
    host_record = [e.record(7, b"\xde\xad\xbe\xef" * 3, enterprise=ENTERPRISE_HOST)] if with_unknown else []
    unknown_sample = [e.sample(1, b"\x00" * 20, enterprise=ENTERPRISE_HOST)] if with_unknown else []
    return [
        e.datagram(AGENT_V4, sequence=1, uptime_ms=5_000, samples=[
            flow(1, BROADCAST, SERVER_A, ARP, vlan=101, length=64, expanded=False, output_if=0x80000004,
                 first=switch_record),
            counters(1, 3, expanded=False, unknown=with_unknown),
            *unknown_sample,
            flow(2, MULTICAST, SERVER_B, IPV4, vlan=None, length=590, expanded=True, output_if=0x80000002),
            counters(2, 4, expanded=True, all_ones=True),
        ]),
        e.datagram(AGENT_V6, sequence=7, uptime_ms=123_456_789, sub_agent_id=2, samples=[
            flow(11, SERVER_B, SERVER_A, IPV4, vlan=102, length=1514, expanded=False, first=host_record),
            flow(12, SERVER_A, SERVER_B, IPV6, vlan=None, length=9014, expanded=True, input_if=9, output_if=0x3FFFFFFF),
            counters(3, 9, expanded=False, oper_up=False, ethernet=False),
        ]),
        e.datagram(AGENT_V4, sequence=2, uptime_ms=6_000, samples=[
            flow(3, SERVER_A, SERVER_B, IPV4, vlan=4094, length=66, expanded=False, rate=1, source_index=12),
            counters(4, 12, expanded=True, unknown=with_unknown, all_ones=True),
        ]),
        e.datagram(AGENT_V6, sequence=8, uptime_ms=123_457_000, samples=[
            *unknown_sample,
            flow(13, BROADCAST, SERVER_B, ARP, vlan=None, length=64, expanded=True, output_if=0x80000030,
                 first=host_record),
            flow(14, "33:33:00:00:00:01", SERVER_A, IPV6, vlan=101, length=110, expanded=False),
        ]),
    ]

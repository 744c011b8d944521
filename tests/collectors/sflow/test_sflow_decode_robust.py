"""Untrusted input: the decoder never raises, counts what is wrong, and keeps every sample it can frame."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sflow_corpus import AGENT_V4, BROADCAST, SERVER_A, SERVER_B, corpus, counters, flow

from planewatch.collectors.sflow import encode as e
from planewatch.collectors.sflow.decode import Datagram, decode_datagram

DATAGRAMS = corpus() + corpus(with_unknown=True)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sane(result: Datagram) -> None:
    """Whatever came in, what comes out is well-formed."""
    assert isinstance(result, Datagram)
    assert all(isinstance(p.reason, str) and p.reason for p in result.problems)
    assert sum(result.problem_counts().values()) == len(result.problems)
    for f in result.flow_samples:
        if f.raw_header is not None and f.raw_header.ethernet is not None:
            eth = f.raw_header.ethernet
            assert len(eth.src_mac) == 17 and len(eth.dst_mac) == 17
            assert eth.frame_class in ("broadcast", "multicast", "unicast")
            assert eth.vlan is None or 0 <= eth.vlan <= 4095


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    _sane(decode_datagram(data))


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_after_a_valid_header_never_raise(tail: bytes) -> None:
    header = e.datagram_header(AGENT_V4, sequence=1, uptime_ms=1, sample_count=len(tail) // 8)
    result = decode_datagram(header + tail)
    _sane(result)
    assert result.header is not None


@FUZZ
@given(st.sampled_from(DATAGRAMS), st.data())
def test_truncations_never_raise_and_are_counted(payload: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    result = decode_datagram(payload[:cut])
    _sane(result)
    assert result.problems, "a truncated datagram must report a problem"
    full = decode_datagram(payload)
    assert result.sample_total <= full.sample_total


@FUZZ
@given(st.sampled_from(DATAGRAMS), st.data())
def test_bit_flips_never_raise(payload: bytes, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.integers(min_value=0, max_value=len(payload) * 8 - 1), min_size=1, max_size=8))
    corrupted = bytearray(payload)
    for bit in flips:
        corrupted[bit // 8] ^= 1 << (bit % 8)
    _sane(decode_datagram(bytes(corrupted)))


def _three_samples(middle: bytes) -> bytes:
    return e.datagram(AGENT_V4, sequence=9, uptime_ms=1000, samples=[
        flow(1, BROADCAST, SERVER_A, 0x0806, vlan=101, length=64, expanded=False),
        middle,
        counters(3, 5, expanded=False),
    ])


def test_a_sample_with_an_overflowing_record_is_skipped_and_its_neighbours_kept() -> None:
    good = counters(2, 4, expanded=False)
    # record count says 2 but the second record's length runs past the sample's end
    bad = bytearray(good)
    generic_len_at = 8 + 12 + 4  # sample header, counter sample header, record format
    struct.pack_into(">I", bad, generic_len_at, 10_000)
    result = decode_datagram(_three_samples(bytes(bad)))
    assert result.problem_counts() == {"record_overflows_sample": 1}
    assert [f.sequence for f in result.flow_samples] == [1]
    assert [c.sequence for c in result.counter_samples] == [2, 3]  # the bad one is kept without its counters
    assert result.counter_samples[0].generic is None
    assert result.counter_samples[1].generic is not None


def test_a_truncated_generic_record_is_counted() -> None:
    short = e.counter_sample(sequence=2, source_id_index=4, records=[e.record(1, b"\0" * 40)])
    result = decode_datagram(_three_samples(short))
    assert result.problem_counts() == {"truncated_record": 1}
    assert [c.sequence for c in result.counter_samples] == [2, 3]


def test_unsupported_header_protocol_keeps_the_sample_without_ethernet() -> None:
    ipv4_header = e.raw_header_record(60, b"\x45" + b"\0" * 39, protocol=11)
    sample = e.flow_sample(sequence=2, source_id_index=1, sampling_rate=10, input_if=1, output_if=2,
                           records=[ipv4_header])
    result = decode_datagram(_three_samples(sample))
    assert result.problem_counts() == {"unsupported_header_protocol": 1}
    assert [f.sequence for f in result.flow_samples] == [1, 2]
    assert result.flow_samples[1].raw_header is not None and result.flow_samples[1].raw_header.ethernet is None


def test_a_frame_shorter_than_an_ethernet_header_is_counted() -> None:
    sample = e.flow_sample(sequence=2, source_id_index=1, sampling_rate=10, input_if=1, output_if=2,
                           records=[e.raw_header_record(60, b"\xff" * 10)])
    assert decode_datagram(_three_samples(sample)).problem_counts() == {"truncated_frame": 1}


def test_a_sample_overflowing_the_datagram_keeps_the_samples_before_it() -> None:
    payload = bytearray(_three_samples(counters(2, 4, expanded=False)))
    second_sample_length_at = 28 + len(flow(1, BROADCAST, SERVER_A, 0x0806, vlan=101, length=64, expanded=False)) + 4
    struct.pack_into(">I", payload, second_sample_length_at, 65_000)
    result = decode_datagram(bytes(payload))
    assert result.problem_counts() == {"sample_overflows_datagram": 1}
    assert [f.sequence for f in result.flow_samples] == [1]
    assert result.counter_samples == []


def test_header_problems() -> None:
    valid = corpus()[0]
    assert decode_datagram(b"").problem_counts() == {"truncated_header": 1}
    assert decode_datagram(valid[:20]).problem_counts() == {"truncated_header": 1}
    assert decode_datagram(b"\0\0\0\x04" + valid[4:]).problem_counts() == {"bad_version": 1}
    assert decode_datagram(valid[:4] + b"\0\0\0\x07" + valid[8:]).problem_counts() == {"bad_address_type": 1}


def test_sample_count_larger_than_the_samples_present() -> None:
    payload = bytearray(_three_samples(counters(2, 4, expanded=False)))
    struct.pack_into(">I", payload, 24, 1_000_000)
    result = decode_datagram(bytes(payload))
    assert result.sample_total == 3
    assert result.problem_counts() == {"missing_samples": 1}


def test_trailing_bytes_are_counted() -> None:
    result = decode_datagram(_three_samples(counters(2, 4, expanded=False)) + b"\0" * 8)
    assert result.sample_total == 3
    assert result.problem_counts() == {"trailing_bytes": 1}


def test_untagged_and_short_frames_summarise() -> None:
    sample = flow(1, SERVER_B, SERVER_A, 0x0800, vlan=None, length=18, expanded=False)  # header = 14 bytes
    (f,) = decode_datagram(e.datagram(AGENT_V4, sequence=1, uptime_ms=1, samples=[sample])).flow_samples
    assert f.raw_header is not None and f.raw_header.header_length == 14
    assert f.raw_header.ethernet is not None and f.raw_header.ethernet.vlan is None

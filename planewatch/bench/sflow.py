"""How fast planewatch decodes sFlow, next to pmacct's ``sfacctd`` (C) decoding the same capture.

Both sides are measured in **CPU seconds**, not wall time: sfacctd replaying a pcap
(``pcap_savefile``) spends most of its wall time sleeping (a fixed ~4 s start/stop and
pauses while its plugin drains the pipe), which says nothing about decoding. Its CPU time
is read from ``getrusage(RUSAGE_CHILDREN)`` around the run (core process plus its print
plugin, which sfacctd reaps before exiting), and a run over a 10-datagram copy of the
capture is subtracted so start-up and shutdown do not count. sfacctd's figure therefore
includes its print plugin, kept minimal (aggregate on VLAN and ethertype only, so its
cache stays tiny; per-MAC aggregation costs sfacctd up to 2x more); ours includes building
the decoded objects.
Ours is ``time.process_time`` around :func:`decode_datagram` over payloads already in
memory (reading the pcap is not decoding).

As a cross-check, sfacctd's JSON output is summed: its packet count must equal the IP
(IPv4/IPv6) flow samples we decoded (renormalisation is off, so each sample counts as one
packet). sfacctd accounts IP traffic only: sampled ARP broadcasts — the flooding signal
planewatch cares most about — never reach its output, although it parses them.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from planewatch.collectors.sflow import encode, pcap
from planewatch.collectors.sflow.decode import decode_datagram

DEFAULT_DATAGRAMS = 20_000
FLOWS_PER_DATAGRAM = 6
AGENTS = 50


@dataclass(slots=True)
class DecoderRun:
    name: str
    samples: int
    cpu_seconds: float
    wall_seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.samples / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


@dataclass(slots=True)
class BenchResult:
    capture: Path
    datagrams: int
    flow_samples: int
    counter_samples: int
    ours: DecoderRun
    sfacctd: DecoderRun | None
    ip_flow_samples: int = 0
    sfacctd_flow_samples: int | None = None
    """Packets sfacctd accounted (IP flow samples only)."""

    @property
    def ratio(self) -> float | None:
        """Our rate divided by sfacctd's (1.0 = as fast as the C decoder)."""
        return self.ours.rate / self.sfacctd.rate if self.sfacctd and self.sfacctd.rate > 0 else None


def synthetic_datagrams(count: int, seed: int = 1) -> Iterator[bytes]:
    """A fabric-like mix: per datagram six tagged flow samples (mostly unicast, some broadcast) and one counter sample."""
    rng = random.Random(seed)
    sequences: dict[str, int] = {}
    for i in range(count):
        agent = f"172.16.{i % AGENTS // 250}.{1 + i % AGENTS % 250}"
        seq = sequences[agent] = sequences.get(agent, 0) + 1
        samples = []
        for k in range(FLOWS_PER_DATAGRAM):
            broadcast = rng.random() < 0.05
            dst = "ff:ff:ff:ff:ff:ff" if broadcast else f"02:01:ee:00:{rng.randrange(256):02x}:{rng.randrange(256):02x}"
            src = f"02:01:ee:00:{rng.randrange(256):02x}:{rng.randrange(256):02x}"
            length = 64 if broadcast else rng.choice((1514, 1514, 590, 66, 9014))
            frame = encode.ethernet_frame(dst, src, 0x0806 if broadcast else 0x0800, vlan=101, frame_length=length)
            samples.append(encode.flow_sample(
                sequence=seq * FLOWS_PER_DATAGRAM + k, source_id_index=1 + k, sampling_rate=4096,
                sample_pool=seq * 4096, input_if=1 + k, output_if=0x80000030 if broadcast else 49,
                records=[encode.raw_header_record(length, frame)]))
        samples.append(encode.counter_sample(sequence=seq, source_id_index=1 + seq % 48, records=[
            encode.generic_counters_record(1 + seq % 48, if_speed=25_000_000_000, in_octets=seq * 10**6,
                                           in_ucast_pkts=seq * 1000, in_mcast_pkts=None, in_bcast_pkts=None,
                                           in_discards=0, in_errors=0, out_octets=seq * 10**6,
                                           out_ucast_pkts=seq * 1000, out_discards=0, out_errors=0),
            encode.ethernet_counters_record()]))
        yield encode.datagram(agent, sequence=seq, uptime_ms=1000 * seq, samples=samples)


_IP_ETHERTYPES = (0x0800, 0x86DD)


def _decode_ours(payloads: list[bytes]) -> tuple[DecoderRun, int, int]:
    """(timed run, flow samples, counter samples); decoded objects are dropped at once, as in the collector."""
    flows = counters = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for payload in payloads:
        decoded = decode_datagram(payload)
        flows += len(decoded.flow_samples)
        counters += len(decoded.counter_samples)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return DecoderRun("planewatch (Python)", flows + counters, cpu, wall), flows, counters


def _ip_flow_samples(payloads: list[bytes]) -> int:
    """Flow samples of IPv4/IPv6 frames: what sfacctd accounts (untimed)."""
    count = 0
    for payload in payloads:
        for flow in decode_datagram(payload).flow_samples:
            eth = flow.raw_header.ethernet if flow.raw_header else None
            count += eth is not None and eth.ethertype in _IP_ETHERTYPES
    return count


_SFACCTD_CONFIG = """\
daemonize: false
pcap_savefile: {pcap}
pcap_savefile_wait: false
plugins: print
print_output: json
print_output_file: {output}
print_refresh_time: 3600
aggregate: vlan, etype
"""


def _sfacctd_once(capture: Path, workdir: Path, tag: str, timeout: float) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, packets reported) of one sfacctd replay of ``capture``."""
    output = workdir / f"sfacctd-{tag}.json"
    config = workdir / f"sfacctd-{tag}.conf"
    config.write_text(_SFACCTD_CONFIG.format(pcap=capture, output=output))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(["sfacctd", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=timeout)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    packets = 0
    if output.exists():
        for line in output.read_text().splitlines():
            if line.strip():
                packets += int(json.loads(line).get("packets", 0))
    return cpu, wall, packets


def _sfacctd_version() -> str:
    try:
        out = subprocess.run(["sfacctd", "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "sfacctd"
    first = out.strip().splitlines()[0] if out.strip() else ""
    return first.split(",")[-1].strip() if first else "sfacctd"


def _decode_sfacctd(capture: Path, payloads: list[bytes], samples: int, workdir: Path,
                    repeats: int) -> tuple[DecoderRun, int]:
    baseline = workdir / "baseline.pcap"
    pcap.write_pcap(baseline, payloads[:10])
    base_cpu = min(_sfacctd_once(baseline, workdir, "baseline", timeout=120)[0] for _ in range(repeats))
    cpu, wall, packets = min(_sfacctd_once(capture, workdir, "full", timeout=600) for _ in range(repeats))
    net = max(cpu - base_cpu, 1e-6)
    note = f"{cpu:.2f} s CPU - {base_cpu:.2f} s start/stop baseline; {wall:.1f} s wall"
    return DecoderRun(f"{_sfacctd_version()} (C)", samples, net, wall, note), packets


def run_sflow_bench(pcap_path: Path | str | None = None, datagrams: int = DEFAULT_DATAGRAMS,
                    out: Callable[[str], None] = print, repeats: int = 2) -> BenchResult:
    """Decode a capture with planewatch and with sfacctd; print both rates (samples/s, one core) and the ratio.

    Each side is run ``repeats`` times and its fastest run kept (a shared 2-core machine is noisy).

    Without ``pcap_path`` a capture of ``datagrams`` synthetic datagrams is generated. sfacctd missing is
    reported, not fatal (install it with ``scripts/deps/sflow.sh``).
    """
    with tempfile.TemporaryDirectory(prefix="planewatch-bench-") as tmp:
        workdir = Path(tmp)
        if pcap_path is None:
            capture = workdir / "sflow-bench.pcap"
            pcap.write_pcap(capture, synthetic_datagrams(datagrams))
            label = f"generated ({datagrams} datagrams)"
        else:
            capture = Path(pcap_path).resolve()
            label = str(capture)
        payloads = [p.payload for p in pcap.read_udp(capture)]
        if not payloads:
            raise ValueError(f"{capture}: no UDP packets to port {pcap.SFLOW_PORT}")
        ours, flows, counters = min((_decode_ours(payloads) for _ in range(max(1, repeats))),
                                    key=lambda run: run[0].cpu_seconds)
        ip_flows = _ip_flow_samples(payloads)
        out(f"capture: {label}: {len(payloads)} datagrams, {ours.samples} samples "
            f"({flows} flow, {counters} counter)")
        out(f"{ours.name}: {ours.rate:,.0f} samples/s ({ours.cpu_seconds:.3f} s CPU, one core)")
        result = BenchResult(capture, len(payloads), flows, counters, ours, None, ip_flows)
        if shutil.which("sfacctd") is None:
            out("sfacctd: not installed (run scripts/deps/sflow.sh); no comparison")
            return result
        theirs, packets = _decode_sfacctd(capture, payloads, ours.samples, workdir, max(1, repeats))
        result.sfacctd, result.sfacctd_flow_samples = theirs, packets
        out(f"{theirs.name}: {theirs.rate:,.0f} samples/s ({theirs.note})")
        agreement = "agree" if packets == ip_flows else "DISAGREE"
        out(f"IP flow samples (sfacctd accounts IP only): planewatch {ip_flows}, sfacctd {packets} ({agreement})")
        out(f"ratio planewatch/sfacctd: {result.ratio:.2f}")
        return result

"""Fixtures: a live Open vSwitch lab exporting real sFlow (see ovslab.py for the wiring).

One lab per module (set-up ~1 s, traffic ~3 s, counter window ~1-2 s). The phases run in
this order, each a module-scoped fixture, so every test sees the same capture:

1. ``ovs_lab``: namespaces, ovsdb-server, ovs-vswitchd, tshark and our collector up;
   sFlow on; then the traffic (:meth:`OvsLab.drive_traffic`), waited out until OVS flushed it.
2. ``ovs_counter_window``: counters read from the kernel and OVS before and after a fresh
   counter sample of every port arrives, with traffic running in between.
3. ``ovs_capture``: tshark stopped; the pcap, what our socket received, and tshark's decode.

Teardown stops every daemon by PID and deletes every namespace and temp file, also when
set-up fails half-way (``OvsLab.close`` runs each step regardless of the others).
``PLANEWATCH_KEEP_OVS_LAB=1`` keeps the temp dir (OVS logs, pcap) for debugging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ovslab
import tshark_oracle
from decoder_views import require_tool



FLUSH_S = 1.2
"""OVS's sFlow agent ticks once a second; pending flow samples leave on the tick."""


def _require_lab() -> None:
    require_tool("ovs-vsctl", "ovs-vswitchd", "ovsdb-server", "ovsdb-tool", "ovs-ofctl", "tshark", "ip", "ethtool", "arping", "ping")
    problem = None
    if os.geteuid() != 0:
        problem = "the OVS lab needs root (network namespaces)"
    elif not ovslab.VSWITCH_SCHEMA.exists():
        problem = f"{ovslab.VSWITCH_SCHEMA} missing"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def ovs_lab() -> Iterator[ovslab.OvsLab]:
    _require_lab()
    with ovslab.OvsLab() as lab:
        lab.drive_traffic()
        end = time.monotonic()
        lab.collector.wait_for(lambda snap: bool(snap) and snap[-1].received > end + FLUSH_S, timeout=10)
        yield lab


@dataclass
class CounterWindow:
    before_ofctl: dict[str, dict[str, int]]
    before_kernel: dict[str, dict[str, int]]
    after_kernel: dict[str, dict[str, int]]
    after_ofctl: dict[str, dict[str, int]]
    samples: dict[str, object]
    """host -> the decoder's first CounterSample of that host's port generated inside the window."""
    link_speed: dict[str, int]
    pings_in_window: int
    quiet_since: float
    """``time.monotonic()`` when the window's traffic stopped."""


@pytest.fixture(scope="module")
def ovs_counter_window(ovs_lab: ovslab.OvsLab) -> CounterWindow:
    from planewatch.collectors.sflow import decode_datagram

    lab = ovs_lab
    ifindex_host = {p.ifindex: h for h, p in lab.ports.items()}
    # Traffic keeps flowing through the window, so "equal" has to be "between the two reads".
    pinger = subprocess.Popen(
        ["ip", "netns", "exec", lab.host_ns("h1"), "ping", "-n", "-q", "-i", "0.05", "-c", "60", lab.ports["h2"].ip],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        before_ofctl = lab.ofctl_stats()
        before_kernel = lab.kernel_stats()
        # A datagram is sent in the same agent tick its counters are read in (microseconds);
        # 50 ms of margin puts "read after before_kernel" beyond doubt.
        t0 = time.monotonic() + 0.05

        def fresh(snap) -> dict[str, object]:
            found: dict[str, object] = {}
            for d in snap:
                if d.received < t0:
                    continue
                for c in decode_datagram(d.payload).counter_samples:
                    host = ifindex_host.get(c.source_id_index) if c.source_id_type == 0 else None
                    if host and host not in found:
                        found[host] = c
            return found

        snap = lab.collector.wait_for(lambda s: len(fresh(s)) == len(lab.ports), timeout=6)
        after_kernel = lab.kernel_stats()
        after_ofctl = lab.ofctl_stats()
    finally:
        if pinger.poll() is None:
            pinger.terminate()
        pinger.wait(timeout=5)
    return CounterWindow(before_ofctl, before_kernel, after_kernel, after_ofctl, fresh(snap),
                         {h: lab.link_speed(h) for h in lab.ports},
                         after_kernel["h1"]["rx_packets"] - before_kernel["h1"]["rx_packets"], time.monotonic())


@dataclass
class Capture:
    pcap: Path
    payloads: list[bytes]
    """UDP payloads in the pcap, in order (read by our own tiny pcap reader)."""
    received: list[bytes]
    """What our collector socket received, in order (a superset: it ran longer)."""
    tshark: list[tshark_oracle.TsharkDatagram]
    seconds: float


@pytest.fixture(scope="module")
def ovs_capture(ovs_lab: ovslab.OvsLab, ovs_counter_window: CounterWindow,
                tmp_path_factory: pytest.TempPathFactory) -> Capture:
    lab = ovs_lab
    started = time.monotonic()
    # Two more polls in quiet, so the capture ends with counters that match the flows exactly.
    lab.collector.wait_for(lambda snap: snap[-1].received > ovs_counter_window.quiet_since + 2.2, timeout=10)
    path = lab.stop_capture()
    assert path is not None and path.exists(), "tshark wrote no capture"
    kept = tmp_path_factory.mktemp("ovs-sflow") / "ovs-live.pcap"
    shutil.copy(path, kept)
    payloads = ovslab.read_pcap_udp_payloads(kept)
    received = [d.payload for d in lab.collector.snapshot()]
    decoded = tshark_oracle.decode(kept)
    return Capture(kept, payloads, received, decoded, time.monotonic() - started)

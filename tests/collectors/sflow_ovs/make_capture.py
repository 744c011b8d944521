"""Rebuild tests/fixtures/sflow/ovs-userspace.pcap from a live OVS lab (root, OVS, tshark).

    sudo .venv/bin/python tests/collectors/sflow_ovs/make_capture.py [OUT.pcap]

Same lab and traffic as the live tests (ovslab.py), then ~2 more counter polls of quiet
time, then tshark is stopped. Prints what the capture holds; test_ovs_fixture.py pins
those facts, so update its constants (and ovs-userspace.README.md) after a rebuild.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ovslab  # noqa: E402
import sflow_walk  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "sflow" / "ovs-userspace.pcap"


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    with ovslab.OvsLab() as lab:
        sent = lab.drive_traffic()
        end = time.monotonic()
        lab.collector.wait_for(lambda snap: bool(snap) and snap[-1].received > end + 2.2, timeout=10)
        path = lab.stop_capture()
        assert path is not None
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)
        out.chmod(0o644)
        ports = {h: (p.name, p.ifindex, p.ofport, p.mac) for h, p in lab.ports.items()}
        version = lab.ovs_version
    payloads = ovslab.read_pcap_udp_payloads(out)
    kinds: Counter[str] = Counter()
    records: Counter[int] = Counter()
    for payload in payloads:
        for frame in sflow_walk.walk(payload):
            kinds[frame.kind] += 1
            records.update(frame.records)
    print(f"{out}: {out.stat().st_size} bytes, {len(payloads)} datagrams, {version}")
    print(f"samples: {dict(kinds)}; records: {dict(sorted(records.items()))}")
    print(f"ports (name, ifindex, ofport, host MAC): {ports}")
    print(f"sent: {sent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

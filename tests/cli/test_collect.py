"""``planewatch collect`` against a fabric it did not build: a ``planewatch simulate`` process.

The simulated fabric's inventory is written to YAML like an operator's, the simulator
serves sFlow and BIRD sockets, and ``collect`` turns what it hears into JSON lines
that decode back into the record contracts.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path

import msgspec
import yaml

from planewatch.schemas import ALL_RECORDS
from planewatch.simulator import build_fabric

PLANEWATCH = [sys.executable, "-m", "planewatch"]
FABRIC = ["--planes", "4", "--racks", "2", "--servers-per-rack", "2"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_collect_emits_sflow_and_bird_records_from_a_served_fabric(tmp_path: Path):
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=2)
    inventory_file = tmp_path / "fabric.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory.document.model_dump(mode="json")))
    port = free_udp_port()
    workdir = tmp_path / "sim"
    device = subprocess.Popen([*PLANEWATCH, "simulate", *FABRIC, "--workdir", str(workdir), "--speed", "10",
                               "--sflow-target", f"127.0.0.1:{port}", "--quiet"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(workdir / "fabric.json")
        sockets = json.loads((workdir / "fabric.json").read_text())["bird"]
        bird_args = [arg for node, path in sockets.items() for arg in ("--bird", f"{node}={path}")]
        with (tmp_path / "records.jsonl").open("w") as sink, (tmp_path / "collect.err").open("w") as errors:
            collector = subprocess.Popen(
                [*PLANEWATCH, "collect", "-i", str(inventory_file), "--no-gnmi", "--sflow-listen", f"127.0.0.1:{port}",
                 *bird_args, "--status-every", "1"],
                stdout=sink, stderr=errors, text=True)
            time.sleep(12)  # start-up, then two 5 s BIRD poll rounds (first polls are spread over one)
            collector.send_signal(signal.SIGINT)
            collector.wait(timeout=30)
        out, err = (tmp_path / "records.jsonl").read_text(), (tmp_path / "collect.err").read_text()
    finally:
        device.send_signal(signal.SIGINT)
        device.wait(timeout=30)
    assert collector.returncode == 0, err
    decoder = msgspec.json.Decoder(type=typing.Union[tuple(ALL_RECORDS)])
    assert all(line.startswith('{"record":') for line in out.splitlines()), "only whole records on stdout"
    records = [decoder.decode(line) for line in out.splitlines()]
    kinds = {type(r).__name__ for r in records}
    assert {"BgpSession", "BgpRouteCounters", "SflowFlowSample"} <= kinds
    sessions = [r for r in records if type(r).__name__ == "BgpSession"]
    assert {r.plane for r in sessions} == {1, 2, 3, 4}
    assert len({(r.node, r.peer_ip) for r in sessions}) == 4 * 4 * 2  # every server x 4 planes x 2 RRs  # every server x 4 planes x 2 RRs
    assert "collectors: sflow" in err and "bird 4/4 up" in err
    assert not (workdir / "fabric.json").exists(), "the simulator cleans up after itself"


def test_collect_refuses_a_missing_bird_socket_in_one_line(tmp_path: Path):
    inventory_file = tmp_path / "fabric.yaml"
    inventory_file.write_text(yaml.safe_dump(build_fabric(planes=2, racks=1, servers_per_rack=1).document.model_dump(mode="json")))
    run = subprocess.run([*PLANEWATCH, "collect", "-i", str(inventory_file), "--no-gnmi", "--sflow-listen", "off",
                          "--bird", f"n1={tmp_path / 'nope.ctl'}"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "no BIRD control socket" in run.stderr and "Traceback" not in run.stderr


def test_a_reader_that_stops_reading_does_not_corrupt_or_freeze_collect(tmp_path: Path):
    """stdout is a pipe nobody reads for a while (a stuck consumer); SIGINT then must leave only whole lines."""
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=2)
    inventory_file = tmp_path / "fabric.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory.document.model_dump(mode="json")))
    port = free_udp_port()
    workdir = tmp_path / "sim"
    device = subprocess.Popen([*PLANEWATCH, "simulate", *FABRIC, "--workdir", str(workdir), "--speed", "20",
                               "--sflow-target", f"127.0.0.1:{port}", "--quiet"])
    try:
        wait_for(workdir / "fabric.json")
        collector = subprocess.Popen([*PLANEWATCH, "collect", "-i", str(inventory_file), "--no-gnmi",
                                      "--sflow-listen", f"127.0.0.1:{port}", "--status-every", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(10)  # the 64 KiB pipe fills long before this
        collector.send_signal(signal.SIGINT)
        out, err = collector.communicate(timeout=60)
    finally:
        device.send_signal(signal.SIGINT)
        device.wait(timeout=30)
    assert collector.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) > 100
    decoder = msgspec.json.Decoder(type=typing.Union[tuple(ALL_RECORDS)])
    for line in lines:
        decoder.decode(line)  # every line is one whole record

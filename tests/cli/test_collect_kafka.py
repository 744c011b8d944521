"""``planewatch collect --kafka``: a served fabric's records reach a real Kafka broker; bad settings fail clearly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from planewatch.schemas.records import BgpRouteCounters, BgpSession, SflowFlowSample, Watermark
from planewatch.schemas.topics import RECORD_TOPICS, decode_record
from planewatch.simulator import build_fabric
from services.kafka import KafkaBroker

PLANEWATCH = [sys.executable, "-m", "planewatch"]
FABRIC = ["--planes", "4", "--racks", "2", "--servers-per-rack", "2"]
TOPICS = list(RECORD_TOPICS.values())


def write_inventory(tmp_path: Path, **size: int) -> Path:
    inventory = build_fabric(**(size or {"planes": 2, "racks": 1, "servers_per_rack": 1}))
    path = tmp_path / "fabric.yaml"
    path.write_text(yaml.safe_dump(inventory.document.model_dump(mode="json")))
    return path


def run_collect(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*PLANEWATCH, "collect", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_a_bad_kafka_address_is_refused_in_one_line_that_says_what_to_write(tmp_path: Path):
    inventory = write_inventory(tmp_path)
    run = run_collect("-i", str(inventory), "--no-gnmi", "--sflow-listen", "off", "--kafka", "kafka-1")
    assert run.returncode == 2
    assert "--kafka" in run.stderr and "'kafka-1'" in run.stderr and "HOST:PORT" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_sasl_without_a_password_file_names_the_variable_to_set(tmp_path: Path):
    inventory = write_inventory(tmp_path)
    env = {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PLANEWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "PLANEWATCH_KAFKA_SASL_USERNAME": "planewatch"}
    run = run_collect("-i", str(inventory), "--no-gnmi", "--sflow-listen", "off", "--kafka", "127.0.0.1:9092", env=env)
    assert run.returncode == 2
    assert "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE" in run.stderr and "Traceback" not in run.stderr


def test_output_and_kafka_exclude_each_other(tmp_path: Path):
    inventory = write_inventory(tmp_path)
    run = run_collect("-i", str(inventory), "--no-gnmi", "--sflow-listen", "off", "--kafka", "127.0.0.1:9092",
                      "-o", str(tmp_path / "out.jsonl"))
    assert run.returncode == 2 and "exclude each other" in run.stderr


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_collect_publishes_a_served_fabric_to_kafka_with_watermarks(kafka_broker: KafkaBroker, tmp_path: Path):
    kafka_broker.create_topics(TOPICS, partitions=4)
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=2)
    inventory_file = tmp_path / "fabric.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory.document.model_dump(mode="json")))
    start = kafka_broker.end_offsets(TOPICS)
    port = free_udp_port()
    workdir = tmp_path / "sim"
    device = subprocess.Popen([*PLANEWATCH, "simulate", *FABRIC, "--workdir", str(workdir), "--speed", "10",
                               "--sflow-target", f"127.0.0.1:{port}", "--quiet"])
    try:
        deadline = time.monotonic() + 60
        while not (workdir / "fabric.json").exists():
            assert time.monotonic() < deadline, "the simulator never wrote fabric.json"
            time.sleep(0.1)
        sockets = json.loads((workdir / "fabric.json").read_text())["bird"]
        bird_args = [arg for node, path in sockets.items() for arg in ("--bird", f"{node}={path}")]
        with (tmp_path / "collect.err").open("w") as errors:
            collector = subprocess.Popen(
                [*PLANEWATCH, "collect", "-i", str(inventory_file), "--no-gnmi", "--sflow-listen", f"127.0.0.1:{port}",
                 *bird_args, "--status-every", "1", "--kafka", kafka_broker.bootstrap],
                stdout=subprocess.PIPE, stderr=errors, text=True)
            began, deadline = time.monotonic(), time.monotonic() + 60
            # Every BIRD polled (all sessions published) and a first watermark (every 5 s).
            while not ("bird 4/4 up" in (tmp_path / "collect.err").read_text() and time.monotonic() - began > 6.5):
                assert time.monotonic() < deadline and collector.poll() is None, (tmp_path / "collect.err").read_text()
                time.sleep(0.2)
            collector.send_signal(signal.SIGINT)
            out, _ = collector.communicate(timeout=60)
        err = (tmp_path / "collect.err").read_text()
    finally:
        device.send_signal(signal.SIGINT)
        device.wait(timeout=30)
    assert collector.returncode == 0, err
    assert out == "", "with --kafka nothing goes to stdout"
    assert f"kafka {kafka_broker.bootstrap} connected:" in err and "bird 4/4 up" in err, err
    assert "0 buffered" in err.splitlines()[-1], "everything was delivered before exit"

    messages = kafka_broker.read_since(start)
    assert messages and {m.key for m in messages} == {inventory.fabric.encode()}
    records = [decode_record(m.value) for m in messages]
    assert all(m.topic == RECORD_TOPICS[type(r)] for m, r in zip(messages, records))
    assert all(r.fabric == inventory.fabric for r in records), "stamped with the inventory's fabric"
    kinds = {type(r) for r in records}
    assert {BgpSession, BgpRouteCounters, SflowFlowSample, Watermark} <= kinds
    sessions = [r for r in records if isinstance(r, BgpSession)]
    assert len({(r.node, r.peer_ip) for r in sessions}) == 4 * 4 * 2  # every server x 4 planes x 2 RRs
    assert len({m.partition for m in messages}) == 1, "one fabric, one partition number on every topic"

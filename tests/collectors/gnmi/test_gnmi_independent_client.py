"""An independent gNMI client (Arista's gnmi-py, its own protobuf 3.20 stack) reads our simulated target.

This proves the simulated target speaks gNMI as another implementation understands it —
not just as pygnmi does — over TLS with a client certificate: Capabilities, Get,
Subscribe ONCE and STREAM/SAMPLE, with values and timestamps equal to the simulator's
records. (gnmic would be the first choice, but the Go module proxy here refuses it; see
scripts/deps/gnmi.sh.)
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from gnmi_lab import require_tool, simulator, small_fabric

from planewatch.collectors.gnmi.decode import COUNTER_LEAVES
from planewatch.schemas.records import FdbSnapshot, InterfaceStatus, PortCounters
from planewatch.simulator.speakers.gnmi import timestamp_ns

GNMIPY = os.environ.get("PLANEWATCH_GNMIPY", "/var/cache/planewatch/gnmi-py/bin/gnmipy")


@pytest.fixture
def gnmipy(pki, speakers):
    """Runs gnmipy against one simulated ToR fed with one simulator step; returns (run, tor, step)."""
    require_tool(GNMIPY)
    inventory = small_fabric()
    tor = next(name for name, s in inventory.switches.items() if s.role == "tor")
    sim = simulator(inventory)
    speaker = speakers([tor], tls=pki.server_tls(require_client_cert=True))
    step = [r for r in sim.step() if getattr(r, "device", None) == tor]
    speaker.update(step)
    host, port = speaker.endpoints[tor]
    base = [GNMIPY, "--tls-ca", str(pki.ca_file), "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]

    def command(*args: str) -> list[str]:
        operation = next(i for i, a in enumerate(args) if a in ("capabilities", "get", "subscribe"))
        return [*base, *args[:operation], f"{host}:{port}", *args[operation:]]

    def run(*args: str) -> str:
        done = subprocess.run(command(*args), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run, command, speaker, sim, tor, step


def _notifications(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _leaves(notification: dict) -> dict[str, object]:
    return {notification["prefix"] + u["path"]: u["value"] for u in notification.get("updates", [])}


def _counters_of(record: PortCounters) -> dict[str, object]:
    prefix = f"/interfaces/interface[name={record.port}]/state/counters/"
    return {prefix + leaf: getattr(record, field) for leaf, field in COUNTER_LEAVES.items()}


def test_gnmi_py_independent_client_reads_capabilities_get_and_subscribe_once_values(gnmipy) -> None:
    run, _, _, _, tor, step = gnmipy
    capabilities = run("capabilities")
    assert "gNMI Version: 0.8.0" in capabilities and "Encodings: JSON, JSON_IETF, PROTO" in capabilities
    assert "openconfig-interfaces" in capabilities and "openconfig-network-instance" in capabilities

    counters = [r for r in step if isinstance(r, PortCounters)]
    record = counters[0]
    got = _notifications(run("get", f"/interfaces/interface[name={record.port}]/state/counters"))
    assert len(got) == 1 and got[0]["timestamp"] == timestamp_ns(record.ts)
    assert _leaves(got[0]) == _counters_of(record)

    once = _notifications(run("--mode", "once", "subscribe", "/interfaces/interface/state", "/network-instances"))
    leaves: dict[str, object] = {}
    stamps: dict[str, int] = {}
    for n in once:
        leaves.update(_leaves(n))
        stamps.update({path: n["timestamp"] for path in _leaves(n)})
    for record in counters:
        assert {p: leaves.get(p) for p in _counters_of(record)} == _counters_of(record)
        assert {stamps[p] for p in _counters_of(record)} == {timestamp_ns(record.ts)}
    for status in (r for r in step if isinstance(r, InterfaceStatus)):
        path = f"/interfaces/interface[name={status.port}]/state/oper-status"
        assert leaves[path] == status.oper_status and stamps[path] == timestamp_ns(status.ts)
    fdb = next(r for r in step if isinstance(r, FdbSnapshot))
    entries = {
        (p.split("mac-address=")[1].split("]")[0], int(p.split("vlan=")[1].split("]")[0])): v
        for p, v in leaves.items() if p.startswith("/network-instances/")
    }
    assert entries == {(m, v): port for m, v, port in zip(fdb.macs, fdb.vlans, fdb.ports)}


def test_gnmi_py_independent_client_streams_samples_that_follow_the_simulator(gnmipy) -> None:
    _, command, speaker, sim, tor, step = gnmipy
    first = next(r for r in step if isinstance(r, PortCounters))
    path = f"/interfaces/interface[name={first.port}]/state/counters"
    client = subprocess.Popen(
        command("--mode", "stream", "--submode", "sample", "--interval", "200ms", "--timeout", "2", "subscribe", path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(0.8)
        later = sim.step()
        speaker.update(later)
        stdout, stderr = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, stderr[-2000:]
    second = next(r for r in later if isinstance(r, PortCounters) and r.device == tor and r.port == first.port)
    samples = [(n["timestamp"], _leaves(n)) for n in _notifications(stdout)]
    assert len(samples) >= 6, "a 200 ms SAMPLE subscription over ~2 s"
    assert samples[0] == (timestamp_ns(first.ts), _counters_of(first))
    assert samples[-1] == (timestamp_ns(second.ts), _counters_of(second))
    assert {s[0] for s in samples} == {timestamp_ns(first.ts), timestamp_ns(second.ts)}
    switch = [s[0] for s in samples].index(timestamp_ns(second.ts))
    assert all(s[0] == timestamp_ns(second.ts) for s in samples[switch:]), "samples go forward in time"

"""What the gNMI collector does when switches misbehave: refuse, report, back off, reconnect — never hang."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from gnmi_lab import SAMPLE, running, simulator, small_fabric, until, with_gnmi

from planewatch.clock import ScaledClock
from planewatch.collectors.gnmi import GnmiCollector, GnmiOptions
from planewatch.inventory import GnmiTarget
from planewatch.schemas.records import PortCounters
from planewatch.simulator.speakers.gnmi import write_throwaway_pki

FAST = GnmiOptions(connect_timeout=3, backoff_initial=0.1, backoff_max=0.4)


def _free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(collector: GnmiCollector, name: str) -> dict:
    return next(s for s in collector.status() if s["target"] == name)


def test_gnmi_tls_collector_against_plaintext_target_fails_fast_with_a_clear_error(pki, speakers) -> None:
    inventory = with_gnmi(small_fabric(), GnmiTarget(ca_file=pki.ca_file, sample_interval=SAMPLE))
    name = next(iter(inventory.switches))
    speaker = speakers([name])  # plaintext
    speaker.update(simulator(inventory).step())
    collector = GnmiCollector(inventory, switches=[name], endpoints=speaker.endpoints, options=FAST)

    async def scenario() -> tuple[float, list]:
        async with running(collector) as records:
            took = await until(lambda: _status(collector, name)["errors"] >= 1, 5, "the first error")
            await until(lambda: _status(collector, name)["reconnects"] >= 2, 5, "retries")
            return took, list(records)

    took, records = asyncio.run(scenario())
    status = _status(collector, name)
    assert took < 2.0, "a TLS/plaintext mismatch must fail fast, not time out"
    assert not records
    assert status["state"] in ("backoff", "connecting")
    assert "TLS handshake failed" in status["last_error"] and "plaintext" in status["last_error"], status["last_error"]
    assert not speaker.auth_log, "no RPC may reach a plaintext target from a TLS collector"


def test_gnmi_plaintext_only_with_insecure_flag(pki, speakers) -> None:
    """Without ``insecure: true`` the collector never speaks plaintext: no CA is a configuration error."""
    inventory = small_fabric()
    names = list(inventory.switches)[:3]
    secure_default, flagged, flagged_vs_tls = names
    inventory = with_gnmi(inventory, {
        secure_default: GnmiTarget(sample_interval=SAMPLE),  # TLS by default, but no ca_file
        flagged: GnmiTarget(insecure=True, sample_interval=SAMPLE),
        flagged_vs_tls: GnmiTarget(insecure=True, sample_interval=SAMPLE),
    })
    step = simulator(inventory).step()
    plain = speakers([secure_default, flagged])
    tls = speakers([flagged_vs_tls], tls=pki.server_tls())
    plain.update(step)
    tls.update(step)
    collector = GnmiCollector(inventory, switches=names, endpoints={**plain.endpoints, **tls.endpoints}, options=FAST)

    async def scenario() -> list:
        async with running(collector) as records:
            await until(lambda: any(r.device == flagged for r in records), 5, "records from the insecure switch")
            await until(lambda: _status(collector, secure_default)["errors"] >= 2, 5, "the refusal")
            await until(lambda: _status(collector, flagged_vs_tls)["errors"] >= 1, 5, "the plaintext-vs-TLS error")
            return list(records)

    records = asyncio.run(scenario())
    assert {r.device for r in records} == {flagged}
    refused = _status(collector, secure_default)
    assert "TLS needs ca_file" in refused["last_error"] and refused["transport"] == "tls"
    assert all(entry[0] != secure_default for entry in plain.auth_log), "the TLS-by-default switch was contacted in plaintext"
    assert _status(collector, flagged)["transport"] == "plaintext"
    assert _status(collector, flagged_vs_tls)["state"] in ("backoff", "connecting")


def test_gnmi_target_with_certificate_from_another_ca_is_rejected(pki, speakers, tmp_path) -> None:
    other = write_throwaway_pki(tmp_path / "other")
    inventory = with_gnmi(small_fabric(), GnmiTarget(ca_file=pki.ca_file, sample_interval=SAMPLE))
    name = next(iter(inventory.switches))
    speaker = speakers([name], tls=other.server_tls())
    speaker.update(simulator(inventory).step())
    collector = GnmiCollector(inventory, switches=[name], endpoints=speaker.endpoints, options=FAST)

    async def scenario() -> list:
        async with running(collector) as records:
            await until(lambda: _status(collector, name)["errors"] >= 1, 5, "the handshake error")
            return list(records)

    assert not asyncio.run(scenario())
    assert "TLS handshake failed" in _status(collector, name)["last_error"]


def test_gnmi_dead_and_stalled_targets_reconnect_with_backoff_while_another_keeps_delivering(pki, speakers) -> None:
    """Stall timing runs on the injected clock: a 10x ScaledClock, 1 s sample interval -> stalled after 3 clock s."""
    clock = ScaledClock(start=time.time(), speed=10.0)
    inventory = small_fabric()
    healthy, dead, hung = list(inventory.switches)[:3]
    inventory = with_gnmi(inventory, GnmiTarget(ca_file=pki.ca_file, sample_interval=1.0, fdb_interval=2.0))
    sim = simulator(inventory)
    speaker = speakers([healthy, hung], tls=pki.server_tls(), clock=clock)
    speaker.update(sim.step())
    speaker.pause(hung)  # sends its initial state and sync, then nothing: a silent stall
    endpoints = {**speaker.endpoints, dead: ("127.0.0.1", _free_port())}
    options = GnmiOptions(connect_timeout=3, backoff_initial=1.0, backoff_max=4.0)  # clock seconds: 0.1 .. 0.4 s real
    collector = GnmiCollector(inventory, switches=[healthy, dead, hung], endpoints=endpoints, clock=clock, options=options)

    async def feed(stop: asyncio.Event) -> None:
        while not stop.is_set():
            speaker.update(sim.step())
            await asyncio.sleep(0.1)

    async def scenario() -> list:
        async with running(collector) as records:
            stop = asyncio.Event()
            feeder = asyncio.create_task(feed(stop))
            await until(lambda: _status(collector, hung)["stalls"] >= 2, 10, "two stalls of the hung switch")
            await until(lambda: _status(collector, dead)["reconnects"] >= 3, 10, "retries of the dead switch")
            speaker.resume(hung)
            await until(lambda: _status(collector, hung)["state"] == "connected"
                        and any(r.device == hung and r.ts > sim.start_ts + 3 for r in records), 10, "the hung switch back")
            stop.set()
            await feeder
            return list(records)

    records = asyncio.run(scenario())
    status = {s["target"]: s for s in collector.status()}
    assert status[dead]["state"] == "backoff" and "nothing is listening" in status[dead]["last_error"]
    assert status[dead]["updates"] == 0
    assert status[hung]["stalls"] >= 2 and status[hung]["reconnects"] >= 2
    assert "stalled: no update" in status[hung]["last_error"]
    assert status[healthy]["stalls"] == 0 and status[healthy]["reconnects"] == 0 and status[healthy]["errors"] == 0
    healthy_ts = sorted({r.ts for r in records if r.device == healthy and isinstance(r, PortCounters)})
    assert len(healthy_ts) >= 5, "the healthy switch must keep delivering new samples while the others fail"


@pytest.mark.parametrize("source", ["env", "file"])
def test_gnmi_credentials_are_sent_as_metadata_and_never_shown(pki, speakers, tmp_path, monkeypatch, caplog, source) -> None:
    password, wrong = "correct-horse-4821", "wrong-horse-1177"
    monkeypatch.setenv("PW_GNMI_USER", "planewatch")
    monkeypatch.setenv("PW_GNMI_PASSWORD", password)
    good_file, wrong_file = tmp_path / "password", tmp_path / "wrong"
    good_file.write_text(password + "\n")
    wrong_file.write_text(wrong + "\n")
    inventory = small_fabric()
    good, bad = list(inventory.switches)[:2]
    secret = {"password_env": "PW_GNMI_PASSWORD"} if source == "env" else {"password_file": good_file}
    inventory = with_gnmi(inventory, {
        good: GnmiTarget(ca_file=pki.ca_file, username_env="PW_GNMI_USER", sample_interval=SAMPLE, **secret),
        bad: GnmiTarget(ca_file=pki.ca_file, username_env="PW_GNMI_USER", password_file=wrong_file, sample_interval=SAMPLE),
    })
    speaker = speakers([good, bad], tls=pki.server_tls(), credentials=("planewatch", password))
    speaker.update(simulator(inventory).step())
    collector = GnmiCollector(inventory, switches=[good, bad], endpoints=speaker.endpoints, options=FAST)
    caplog.set_level(logging.DEBUG)

    async def scenario() -> list:
        async with running(collector) as records:
            await until(lambda: any(r.device == good for r in records), 5, "records of the authenticated switch")
            await until(lambda: _status(collector, bad)["errors"] >= 2, 5, "the rejection")
            return list(records)

    records = asyncio.run(scenario())
    assert not any(r.device == bad for r in records)
    assert (good, "planewatch", True) in speaker.auth_log and (bad, "planewatch", False) in speaker.auth_log
    assert "UNAUTHENTICATED" in _status(collector, bad)["last_error"]
    shown = repr(collector.status()) + caplog.text
    assert password not in shown and wrong not in shown


def test_gnmi_target_that_accepts_but_never_answers_times_out_instead_of_hanging(pki) -> None:
    """A TCP listener that never speaks (a wedged agent): the real-time connect timeout ends each attempt."""
    inventory = with_gnmi(small_fabric(), GnmiTarget(ca_file=pki.ca_file, sample_interval=SAMPLE))
    name = next(iter(inventory.switches))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        endpoint = listener.getsockname()
        options = GnmiOptions(connect_timeout=0.5, backoff_initial=0.1, backoff_max=0.2)
        collector = GnmiCollector(inventory, switches=[name], endpoints={name: endpoint}, options=options)

        async def scenario() -> float:
            async with running(collector):
                return await until(lambda: _status(collector, name)["errors"] >= 2, 5, "two timed-out attempts")

        took = asyncio.run(scenario())
    status = _status(collector, name)
    assert took < 3.0
    assert "no gNMI answer" in status["last_error"] and status["reconnects"] >= 1

"""Findings to a real Alertmanager (Debian's 0.25): one page when a plane fails, one when it recovers.

The plane failure comes from the simulator and the default detectors (plane 2 down at
t=60 s for 120 s); the client posts its findings to an Alertmanager started for the test,
whose only receiver is a webhook in this process (tests/services/alertmanager.py). Its
``group_interval`` is 1 s and ``repeat_interval`` 1 h, so any second notification seen
within a few seconds is a real duplicate page.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from planewatch.alerting import AlertmanagerClient, finding_labels, finding_to_alert, plane_names_from, rfc3339
from planewatch.alerting.alertmanager import RUNBOOK_HINTS, _parse_time
from planewatch.schemas import Finding
from planewatch.schemas.records import with_fabric
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.streams.registry import DETECTORS, default_detectors
from services.alertmanager import (  # noqa: F401 - fixtures
    AlertmanagerServer,
    WebhookReceiver,
    alertmanager,
    alertmanager_factory,
    alertmanager_webhook,
)

FABRIC = "pod-a"
QUIET = 3.0
"""Seconds (three group intervals) after which no further notification is expected."""


# -- the scenario ------------------------------------------------------------------------


class Scenario:
    def __init__(self) -> None:
        self.inventory = build_fabric(planes=4, racks=2, servers_per_rack=8)
        # recent event times (as a live fabric has), whole seconds so times compare exactly
        self.start = float(int(time.time()) - 600)
        fault = Fault.create("plane-down", plane=2, at=60, duration=120, inventory=self.inventory)
        simulator = Simulator(self.inventory, faults=[fault], start_ts=self.start)
        detectors = default_detectors(self.inventory)
        findings: list[Finding] = []
        while simulator.now < self.start + 300:
            findings.extend(detectors.feed_all(simulator.step()))
        self.findings = with_fabric(findings, FABRIC)
        failures = [f for f in self.findings if f.kind == "plane_failure" and f.plane == 2]
        assert [f.status for f in failures] == ["firing", "resolved"], failures
        self.firing, self.resolved = failures
        cut = self.findings.index(self.resolved)
        self.before, self.after = self.findings[:cut], self.findings[cut:]
        self.plane_names = plane_names_from({FABRIC: self.inventory})


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario()


def plane_failures(notifications: list[dict[str, Any]], status: str | None = None) -> list[dict[str, Any]]:
    """Notifications of plane 2's failure group (optionally only those with this status)."""
    return [n for n in notifications
            if n["groupLabels"] == {"alertname": "plane_failure", "fabric": FABRIC, "plane": "2"}
            and (status is None or n["status"] == status)]


def count(status: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda notifications: len(plane_failures(notifications, status)) >= 1


def expected_labels(scenario: Scenario) -> dict[str, str]:
    return {"alertname": "plane_failure", "fabric": FABRIC, "plane": "2",
            "plane_name": scenario.inventory.plane_name(2), "severity": "critical",
            "fingerprint": scenario.firing.fingerprint}


def at_ms(ts: float) -> Any:
    return _parse_time(rfc3339(ts))


# -- (a) + (d): one firing page, one resolved page, exact content --------------------------


def test_plane_failure_fires_once_and_resolves_once(scenario: Scenario, alertmanager: AlertmanagerServer,
                                                    alertmanager_webhook: WebhookReceiver) -> None:
    client = AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names,
                                generator_url="http://planewatch.example/findings")

    async def stream() -> None:  # as StreamSettings.on_findings is called: one batch, then the next
        first = await client.asend(scenario.before)
        assert first.ok and first.delivered >= 1
        alertmanager_webhook.wait_for(count("firing"), 10)
        held = [a for a in alertmanager.alerts() if a["labels"].get("alertname") == "plane_failure"]
        assert len(held) == 1 and held[0]["status"]["state"] == "active"
        assert held[0]["labels"] == expected_labels(scenario)
        assert _parse_time(held[0]["startsAt"]) == at_ms(scenario.firing.started_at)
        second = await client.asend(scenario.after)
        assert second.ok

    asyncio.run(stream())
    alertmanager_webhook.wait_for(count("resolved"), 10)
    time.sleep(QUIET)
    pages = plane_failures(alertmanager_webhook.snapshot())
    assert [n["status"] for n in pages] == ["firing", "resolved"], json.dumps(pages, indent=1)

    firing, resolved = (n["alerts"] for n in pages)
    assert len(firing) == 1 and len(resolved) == 1
    alert = firing[0]
    assert alert["labels"] == expected_labels(scenario)
    assert _parse_time(alert["startsAt"]) == at_ms(scenario.firing.started_at)
    assert alert["startsAt"].startswith(rfc3339(scenario.firing.started_at)[:19])
    assert alert["generatorURL"] == "http://planewatch.example/findings"
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "evidence", "runbook"}
    assert annotations["summary"] == scenario.firing.summary
    assert json.loads(annotations["evidence"]) == json.loads(json.dumps(scenario.firing.evidence))
    assert annotations["runbook"] == RUNBOOK_HINTS["plane_failure"].format(plane=2)

    end = resolved[0]
    assert end["status"] == "resolved"
    assert end["labels"] == alert["labels"]
    assert _parse_time(end["startsAt"]) == at_ms(scenario.firing.started_at)
    assert _parse_time(end["endsAt"]) == at_ms(scenario.resolved.ended_at)
    assert end["annotations"]["summary"] == scenario.resolved.summary

    status = client.status()
    assert status["up"] and status["active"] == 0 and status["pending"] == 0
    assert status["failed"] == status["rejected"] == status["retries"] == 0
    assert status["sent"] == len({(f.kind, f.plane, f.subject) for f in scenario.before}) + len(
        {(f.kind, f.plane, f.subject) for f in scenario.after})


# -- (b) replays page nobody ----------------------------------------------------------------


def test_replayed_findings_send_no_second_page(scenario: Scenario, alertmanager: AlertmanagerServer,
                                               alertmanager_webhook: WebhookReceiver, tmp_path: Path) -> None:
    state = tmp_path / "alertmanager-state.json"
    client = AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names, state_path=state)
    assert client.send([scenario.firing]).ok
    alertmanager_webhook.wait_for(count("firing"), 10)

    # the same firing finding again: from a restarted worker (no memory) and as a periodic resend;
    # Alertmanager knows the alert by its label set and has paged for it already
    assert AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names).send([scenario.firing]).delivered == 1
    assert client.send([scenario.firing]).delivered == 1
    assert client.resend_active().delivered == 1
    time.sleep(QUIET)
    assert len(plane_failures(alertmanager_webhook.snapshot())) == 1

    assert client.send([scenario.resolved]).ok
    alertmanager_webhook.wait_for(count("resolved"), 10)

    # replays after the resolution. Alertmanager would page again for the firing alert (it is a
    # new alert once the old one has ended), so: the same client knows that fault is over and
    # skips it; a restarted worker replays its batch, in which the firing and the resolution of
    # one alert collapse into the resolution (state_path carries the memory over a restart)
    replay = client.send([scenario.firing])
    assert replay.skipped == 1 and replay.delivered == 0
    replay = client.send(scenario.findings)
    assert replay.skipped == 1 and replay.ok
    restarted = AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names, state_path=state)
    assert restarted.send([scenario.firing]).skipped == 1  # the memory survives a restart
    fresh = AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names)
    again = fresh.send(scenario.findings)
    assert again.ok and again.skipped == 0
    assert fresh.status()["active"] == 0
    assert client.resend_active().delivered == 0  # nothing firing is kept alive
    time.sleep(QUIET)
    pages = plane_failures(alertmanager_webhook.snapshot())
    assert [n["status"] for n in pages] == ["firing", "resolved"], json.dumps(pages, indent=1)
    assert client.status()["skipped_replays"] == 2


# -- (c) Alertmanager down, then back ---------------------------------------------------------


def test_outage_is_retried_with_backoff_and_delivered(scenario: Scenario, alertmanager: AlertmanagerServer,
                                                      alertmanager_webhook: WebhookReceiver) -> None:
    client = AlertmanagerClient(alertmanager.url, plane_names=scenario.plane_names, timeout=2,
                                max_retries=8, backoff=0.2, max_backoff=1.0)
    alertmanager.stop()
    restarter = threading.Timer(1.5, alertmanager.start)
    restarter.start()
    try:
        began = time.monotonic()
        delivery = client.send([scenario.firing])  # blocks while retrying
        waited = time.monotonic() - began
    finally:
        restarter.join()
    assert delivery.ok and delivery.delivered == 1
    assert waited >= 1.0
    status = client.status()
    assert status["retries"] >= 2 and status["up"] and status["sent"] == 1
    alertmanager_webhook.wait_for(count("firing"), 10)
    # Alertmanager logs a notification as sent only after the webhook has answered; stopped in
    # between, it forgets the firing one and will not send the resolution (seen once under load).
    time.sleep(2.0)

    # down for longer than the retries: the resolution stays pending, the stream is not held up
    client.max_retries = 2
    alertmanager.stop()
    began = time.monotonic()
    delivery = asyncio.run(client.asend([scenario.resolved]))
    assert delivery.pending == 1 and delivery.delivered == 0
    assert time.monotonic() - began < 5
    status = client.status()
    assert not status["up"] and status["pending"] == 1 and status["failed"] >= 1
    assert "Connection refused" in (status["last_error"] or "") or "URLError" in (status["last_error"] or "")
    began = time.monotonic()
    assert asyncio.run(client.asend([])).pending == 1  # while down: one attempt, no backoff
    assert time.monotonic() - began < 1.0

    alertmanager.start()  # Alertmanager keeps no alerts over a restart, but its notification log
    assert client.resend_active().ok
    assert client.status()["pending"] == 0 and client.status()["up"]
    alertmanager_webhook.wait_for(count("resolved"), 10)
    time.sleep(QUIET)
    assert [n["status"] for n in plane_failures(alertmanager_webhook.snapshot())] == ["firing", "resolved"]


# -- keeping firing alerts alive; taking them over after a restart ----------------------------


def test_resend_keeps_alert_firing_and_a_restarted_client_adopts_it(
        scenario: Scenario, alertmanager_factory: Callable[..., AlertmanagerServer],
        alertmanager_webhook: WebhookReceiver) -> None:
    server = alertmanager_factory(resolve_timeout="2s")
    first = AlertmanagerClient(server.url, plane_names=scenario.plane_names, resend_interval=0.4)
    # a second alert posted once and never again: Alertmanager times it out (what resend prevents)
    other = msgspec.structs.replace(scenario.firing, plane=3, fingerprint="0123456789abcdef", summary="plane 3 test")
    assert AlertmanagerClient(server.url).send([other]).ok
    assert first.send([scenario.firing]).ok
    alertmanager_webhook.wait_for(count("firing"), 10)

    def other_timed_out() -> bool:
        return any(n["groupLabels"].get("plane") == "3" and n["status"] == "resolved"
                   for n in alertmanager_webhook.snapshot())

    async def keep_alive(client: AlertmanagerClient, seconds: float, until: Callable[[], bool] | None = None) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(client.run_periodic(stop))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or (until is not None and not until() and time.monotonic() < deadline + 10):
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 5)

    # well past resolve_timeout: the alert that was not re-sent timed out, the re-sent one still fires
    asyncio.run(keep_alive(first, 3.0, until=other_timed_out))
    assert other_timed_out()
    assert plane_failures(alertmanager_webhook.snapshot(), "resolved") == []
    assert first.status()["resends"] >= 3

    # a restarted worker: restored detectors do not fire again, so it takes over what is firing
    second = AlertmanagerClient(server.url, plane_names=scenario.plane_names, resend_interval=0.4)
    assert second.adopt_active(fabrics=["other-pod"]) == 0
    assert second.adopt_active(fabrics=[FABRIC]) == 1
    assert [a["labels"] for a in second.active_alerts()] == [expected_labels(scenario)]
    asyncio.run(keep_alive(second, 3.0))
    assert plane_failures(alertmanager_webhook.snapshot(), "resolved") == []

    # the resolution resolves the adopted alert even when the detector resolves with another severity
    resolved = msgspec.structs.replace(scenario.resolved, severity="warning")
    assert second.send([resolved]).ok
    pages = alertmanager_webhook.wait_for(count("resolved"), 10)
    end = plane_failures(pages, "resolved")[0]["alerts"][0]
    assert end["labels"] == expected_labels(scenario)
    assert _parse_time(end["startsAt"]) == at_ms(scenario.firing.started_at)
    time.sleep(1.5)
    assert [n["status"] for n in plane_failures(alertmanager_webhook.snapshot())] == ["firing", "resolved"]


# -- the mapping and the HTTP behaviour, without Alertmanager -----------------------------------


def make_finding(**changes: Any) -> Finding:
    base = Finding(ts=1_790_000_100.0, plane=2, fabric=FABRIC, fingerprint="5827aa9b02dea763", kind="plane_failure",
                   severity="critical", status="firing", started_at=1_790_000_060.25, summary="plane 2 failed",
                   evidence={"servers_down": 8})
    return msgspec.structs.replace(base, **changes)


def test_mapping_of_a_finding() -> None:
    now = 1_790_000_500.0
    firing = finding_to_alert(make_finding(), now=now)
    assert firing == {
        "labels": {"alertname": "plane_failure", "fabric": FABRIC, "plane": "2", "severity": "critical",
                   "fingerprint": "5827aa9b02dea763"},
        "annotations": {"summary": "plane 2 failed", "evidence": '{"servers_down":8}',
                        "runbook": RUNBOOK_HINTS["plane_failure"].format(plane=2)},
        "startsAt": "2026-09-21T14:14:20.250Z",
    }
    resolved = finding_to_alert(make_finding(status="resolved", ended_at=1_790_000_300.0, ts=1_790_000_400.0), now=now)
    assert resolved["endsAt"] == "2026-09-21T14:18:20.000Z"
    assert resolved["labels"] == firing["labels"]
    no_end = finding_to_alert(make_finding(status="resolved", ts=1_790_000_400.0), now=now)
    assert no_end["endsAt"] == rfc3339(1_790_000_400.0)
    # a device clock ahead of this host: never a "resolved" alert that fires until the future
    ahead = finding_to_alert(make_finding(status="resolved", started_at=now + 50, ended_at=now + 100), now=now)
    assert ahead["startsAt"] == ahead["endsAt"] == rfc3339(now)

    server = make_finding(kind="server_failure", plane=0, subject="r01-s03", severity="warning")
    labels = finding_labels(server, plane_name=None)
    assert labels == {"alertname": "server_failure", "fabric": FABRIC, "plane": "0", "severity": "warning",
                      "fingerprint": "5827aa9b02dea763", "subject": "r01-s03"}
    assert "r01-s03" in finding_to_alert(server, now=now)["annotations"]["runbook"]
    assert "fabric" not in finding_labels(make_finding(fabric=""))

    big = finding_to_alert(make_finding(evidence={"servers": [f"server-{i:05d}" for i in range(5000)]}),
                           evidence_limit=300, now=now)["annotations"]["evidence"]
    assert len(big) == 300 and big.endswith("truncated)")
    linked = finding_to_alert(make_finding(), runbook_url="https://wiki.example/planewatch/{kind}#plane-{plane}", now=now)
    assert linked["annotations"]["runbook_url"] == "https://wiki.example/planewatch/plane_failure#plane-2"


def test_every_finding_kind_has_a_runbook_hint() -> None:
    assert {kind for spec in DETECTORS for kind in spec.kinds} <= set(RUNBOOK_HINTS)
    for kind, hint in RUNBOOK_HINTS.items():
        assert hint.format(plane=1, subject="s", kind=kind, fabric="f", fingerprint="x")


class ScriptedServer:
    """A loopback HTTP server answering POSTs with scripted status codes (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[Any] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                owner.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                code = owner.statuses.pop(0) if owner.statuses else 200
                payload = b'{"code":400,"message":"start time must be before end time"}' if code == 400 else b""
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_5xx_is_retried_and_4xx_dropped() -> None:
    server = ScriptedServer([503, 502, 200, 400])
    try:
        client = AlertmanagerClient(server.url + "/api/v2/alerts/", backoff=0.01)
        delays: list[float] = []
        client._sleep = delays.append
        assert client.alerts_url == server.url + "/api/v2/alerts"
        assert client.send([make_finding()]).ok
        assert len(delays) == 2 and delays[1] > delays[0]
        assert len(server.bodies) == 3
        rejected = client.send([make_finding(status="resolved", ended_at=1_790_000_090.0)])
        assert rejected.rejected == 1 and rejected.pending == 0
        status = client.status()
        assert status["rejected"] == 1 and status["retries"] == 2 and status["sent"] == 1
        assert "HTTP 400" in status["last_error"] and "start time" in status["last_error"]
        assert len(server.bodies) == 4  # a 4xx is not retried
    finally:
        server.close()


def test_background_sender_posts_in_order_and_resends() -> None:
    server = ScriptedServer([])
    try:
        client = AlertmanagerClient(server.url, resend_interval=0.2)
        client.submit([make_finding()])
        client.submit([make_finding(kind="flooding", fingerprint="00000000000000aa")])
        time.sleep(0.7)
        client.submit([make_finding(status="resolved", ended_at=1_790_000_090.0)])
        client.close()
        posted = [(a["labels"]["alertname"], "endsAt" in a) for body in server.bodies for a in body]
        assert posted[:2] == [("plane_failure", False), ("flooding", False)]
        assert posted.count(("flooding", False)) >= 3  # re-sent while firing
        assert [ends for name, ends in posted if name == "plane_failure"][-1] is True
        assert client.status()["active"] == 1
    finally:
        server.close()

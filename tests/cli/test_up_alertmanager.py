"""``planewatch up --alertmanager``: the embedded mode pages through a real Alertmanager (Debian's 0.25).

The simulated fabric's clock starts 15 minutes ago (``--start -15m``) so the whole
incident, plane 2 down for 120 s, lies in the past by the time it is replayed flat out:
Alertmanager then treats the resolution (``endsAt``) as already reached, as it would for
a fabric watched live. The webhook in this process records what Alertmanager notifies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.alertmanager import (  # noqa: F401 - fixtures
    AlertmanagerServer,
    WebhookReceiver,
    alertmanager,
    alertmanager_factory,
    alertmanager_webhook,
)

QUIET = 3.0
"""Seconds (three of the test Alertmanager's group intervals) after which no further page is expected."""


def plane_failure_pages(notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in notifications if n["groupLabels"].get("alertname") == "plane_failure"]


def test_a_failed_plane_pages_once_and_resolves_once(
    tmp_path: Path, alertmanager: AlertmanagerServer, alertmanager_webhook: WebhookReceiver
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "planewatch", "up", "--data", str(tmp_path / "data"), "--speed", "max",
         "--racks", "2", "--servers-per-rack", "4", "--start", "-15m", "--duration", "300",
         "--scenario", "plane-down", "--plane", "2", "--at", "60", "--for", "120",
         "--alertmanager", alertmanager.url],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    assert "Alertmanager" in run.stderr and "alert(s) sent" in run.stderr and "undelivered" not in run.stderr

    alertmanager_webhook.wait_for(lambda ns: any(n["status"] == "resolved" for n in plane_failure_pages(ns)), 15)
    time.sleep(QUIET)
    pages = plane_failure_pages(alertmanager_webhook.snapshot())
    assert [n["status"] for n in pages] == ["firing", "resolved"], json.dumps(pages, indent=1)
    (firing,), (resolved,) = (n["alerts"] for n in pages)
    assert firing["labels"]["plane"] == "2" and firing["labels"]["fabric"] == "sim-4x2x4"
    assert firing["labels"]["plane_name"] and firing["labels"]["severity"] == "critical"
    assert resolved["labels"] == firing["labels"] and resolved["startsAt"] == firing["startsAt"]
    state = json.loads((tmp_path / "data" / "alertmanager-state.json").read_text())
    assert state, "the resolved lifecycle is remembered so a replay pages nobody"


def test_a_bad_alertmanager_url_is_refused_before_anything_starts(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "planewatch", "up", "--data", str(tmp_path / "data"), "--speed", "max",
         "--duration", "10", "--alertmanager", "alertmanager:9093"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2
    assert "--alertmanager" in run.stderr and "http(s)://host" in run.stderr
    assert not (tmp_path / "data").exists(), "no store is created for a run that cannot start"

"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager`` 0.25) with a webhook receiver.

:class:`WebhookReceiver` is an HTTP server in the test process, on 127.0.0.1, that
records every notification Alertmanager POSTs to it. :class:`AlertmanagerServer` writes
an ``alertmanager.yml`` whose only receiver is that webhook (``send_resolved: true``) and
whose timers are short (``group_wait`` 0.5 s, ``group_interval`` 1 s; ``repeat_interval``
1 h, so a second notification of an unchanged group is a real duplicate), keeps its
storage in a directory of its own, listens on 127.0.0.1 only (no cluster listener:
``--cluster.listen-address=`` empty) and is started and stopped by PID through
:class:`~services.process.ServiceProcess`. Stopping and starting again keeps the port and
the storage: that is how the outage tests take it away.

Fixtures: ``alertmanager_webhook`` (a receiver per test) and ``alertmanager`` (a fresh
Alertmanager per test sending to it; skipped on a developer machine without the binary,
a failure in CI, where ``make test`` installs it through ``scripts/deps/alertmanager.sh``).
``alertmanager_factory`` starts more, with other settings (``resolve_timeout``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tooling import missing_dependency

from services.process import ServiceProcess, free_port

SEARCH = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
BINARIES = ("prometheus-alertmanager", "alertmanager")


def alertmanager_binary() -> str | None:
    """``$PLANEWATCH_ALERTMANAGER``, else Debian's ``prometheus-alertmanager`` (or ``alertmanager``) on PATH or in sbin."""
    configured = os.environ.get("PLANEWATCH_ALERTMANAGER")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in BINARIES:
        found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SEARCH))
        if found:
            return found
    return None


def require_alertmanager() -> str:
    binary = alertmanager_binary()
    if binary:
        return binary
    message = "needs prometheus-alertmanager (installed by 'make test' through scripts/deps/alertmanager.sh)"
    missing_dependency(message)


class WebhookReceiver:
    """Records the JSON body of every POST (Alertmanager's webhook notifications)."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsable": body.decode("utf-8", "replace")}
                with receiver._changed:
                    receiver.notifications.append(payload)
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Wait until ``predicate(notifications)`` holds; returns a copy of them (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.notifications):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"webhook: condition not met within {timeout} s; notifications: "
                                f"{json.dumps(self.notifications, indent=1)[:4000]}")
                self._changed.wait(left)
            return list(self.notifications)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self.notifications)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CONFIG = """\
global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: webhook
  group_by: [alertname, fabric, plane]
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: {repeat_interval}
receivers:
  - name: webhook
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
"""


class AlertmanagerServer:
    """One Alertmanager child on 127.0.0.1 with its config and storage under ``directory``."""

    def __init__(self, directory: Path, webhook_url: str, *, binary: str | None = None,
                 resolve_timeout: str = "5m", group_wait: str = "500ms", group_interval: str = "1s",
                 repeat_interval: str = "1h") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = binary or require_alertmanager()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.directory / "alertmanager.yml"
        self.config_path.write_text(CONFIG.format(
            resolve_timeout=resolve_timeout, group_wait=group_wait, group_interval=group_interval,
            repeat_interval=repeat_interval, webhook_url=webhook_url))
        storage = self.directory / "data"
        storage.mkdir(exist_ok=True)
        self.process = ServiceProcess(
            "alertmanager",
            [self.binary, f"--config.file={self.config_path}", f"--storage.path={storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             f"--web.external-url={self.url}", "--log.level=debug"],
            self.directory / "alertmanager.log", self.port, cwd=self.directory, ready_timeout=30,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def start(self) -> None:
        self.process.start()
        deadline = time.monotonic() + 15
        while True:  # listening is not ready: wait until the API answers
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Alertmanager not ready:\n{self.process.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager currently holds as active."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            return json.loads(response.read())

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)


@pytest.fixture
def alertmanager_webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def alertmanager_factory(tmp_path: Path, alertmanager_webhook: WebhookReceiver) -> Iterator[Callable[..., AlertmanagerServer]]:
    """``factory(**settings)``: a started Alertmanager notifying ``alertmanager_webhook``; all stopped by PID afterwards."""
    binary = require_alertmanager()
    started: list[AlertmanagerServer] = []

    def factory(**settings: Any) -> AlertmanagerServer:
        server = AlertmanagerServer(tmp_path / f"alertmanager-{len(started)}", alertmanager_webhook.url,
                                    binary=binary, **settings)
        started.append(server)
        server.start()
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def alertmanager(alertmanager_factory: Callable[..., AlertmanagerServer]) -> AlertmanagerServer:
    """A fresh Alertmanager (default settings above) for one test."""
    return alertmanager_factory()

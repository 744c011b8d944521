"""`planewatch dashboards push` against a local *recording server* (no Grafana server can run here).

The recording server is a small HTTP server on 127.0.0.1, started by each test, that
records every request (method, path, headers, JSON body) and keeps what was created by uid,
answering the way Grafana's API does for these endpoints: 404 for a uid it does not hold,
409 when something is created twice or a file-provisioned rule is updated, 401 without the
right bearer token, a rule's provenance ("api" unless X-Disable-Provenance) and a default
rule group interval that is not planewatch's.

Proved here: the exact requests push sends (paths, methods, order, bodies, the bearer token,
X-Disable-Provenance only when asked), that a second push updates every object instead of
creating copies, that the datasource goes out with its $__env/$__file references expanded
on this machine, that the group interval is set, and the messages for 401, 403, 404, a
file-provisioned rule and a refused connection. Not proved: that a real Grafana 13 accepts
these bodies or behaves like the recording server (its answers follow Grafana's HTTP API
documentation and source, not a running Grafana).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planewatch.cli.app import app
from planewatch.dashboards.alert_rules import KINDS, alert_rules_file, rule_uid
from planewatch.dashboards.boards import dashboards
from planewatch.dashboards.provisioning import datasource_file
from planewatch.dashboards.push import GrafanaClient, PushError, load_token, push

TOKEN = "glsa_recording_server_token_123"
GROUP_PATH = "/api/v1/provisioning/folder/planewatch/rule-groups/planewatch"
ENV = {
    "PLANEWATCH_CLICKHOUSE_HOST": "clickhouse.test",
    "PLANEWATCH_CLICKHOUSE_DATABASE": "planewatch",
    "PLANEWATCH_CLICKHOUSE_USER": "grafana_ro",
}


class RecordingServer:
    """Records requests and answers like Grafana's API for the endpoints push uses."""

    def __init__(self, token: str = TOKEN, force_status: int | None = None) -> None:
        self.token = token
        self.force_status = force_status
        self.requests: list[dict[str, Any]] = []
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.group_intervals: dict[tuple[str, str], int] = {}
        self.default_interval = 10  # a Grafana whose default evaluation interval is not planewatch's
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]

    def _answer(self, method: str, path: str, body: Any, headers: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        provenance = "" if headers.get("X-Disable-Provenance") == "true" else "api"
        if self.force_status:
            return self.force_status, {"message": "forced by the test"}
        if parts[:3] == ["api", "datasources", "uid"]:
            uid = parts[3]
            if uid not in self.datasources:
                return 404, {"message": "Data source not found"}
            if method == "PUT":
                self.datasources[uid] = body
                return 200, {"message": "Datasource updated", "datasource": body}
            return 200, self.datasources[uid]
        if parts == ["api", "datasources"] and method == "POST":
            if body["uid"] in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
                return 409, {"message": "data source with the same name already exists"}
            self.datasources[body["uid"]] = body
            return 200, {"message": "Datasource added", "datasource": body}
        if parts[:2] == ["api", "folders"] and len(parts) == 3 and method == "GET":
            return (200, self.folders[parts[2]]) if parts[2] in self.folders else (404, {"message": "folder not found"})
        if parts == ["api", "folders"] and method == "POST":
            if body["uid"] in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            self.folders[body["uid"]] = body
            return 200, body
        if parts == ["api", "dashboards", "db"] and method == "POST":
            uid = body["dashboard"]["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"status": "name-exists", "message": "A dashboard with the same uid already exists"}
            if body["folderUid"] not in self.folders:
                return 400, {"message": "folder not found"}
            self.dashboards[uid] = body
            return 200, {"uid": uid, "url": f"/d/{uid}/x", "status": "success", "version": 1}
        if parts[:4] == ["api", "v1", "provisioning", "alert-rules"]:
            if len(parts) == 5:
                uid = parts[4]
                if uid not in self.rules:
                    return 404, {"message": "rule not found"}
                if method == "PUT":
                    if self.rules[uid].get("provenance") == "file":
                        return 409, {"message": "cannot change provenance from 'file' to 'api'"}
                    self.rules[uid] = {**body, "provenance": provenance}
                return 200, self.rules[uid]
            if method == "POST":
                if body["uid"] in self.rules:
                    return 409, {"message": "a rule with this uid already exists"}
                if body["folderUID"] not in self.folders:
                    return 400, {"message": "folder does not exist"}
                self.rules[body["uid"]] = {**body, "provenance": provenance}
                return 201, self.rules[body["uid"]]
        if parts[:4] == ["api", "v1", "provisioning", "folder"] and len(parts) == 7 and parts[5] == "rule-groups":
            key = (parts[4], parts[6])
            rules = [r for r in self.rules.values() if (r["folderUID"], r["ruleGroup"]) == key]
            if not rules:
                return 404, {"message": "rule group not found"}
            if method == "PUT":
                self.group_intervals[key] = body["interval"]
            interval = self.group_intervals.get(key, self.default_interval)
            return 200, {"title": key[1], "folderUid": key[0], "interval": interval, "rules": rules}
        return 404, {"message": "Not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    status, answer = 401, {"message": "Unauthorized"}
                else:
                    status, answer = server._answer(self.command, self.path, body, self.headers)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "clickhouse.pass"
    path.write_text("s3cret-ch-password\n", encoding="utf-8")
    return path


def _push(url: str, password_file: Path, *, token: str = TOKEN, editable: bool = False) -> list[str]:
    lines: list[str] = []
    source = datasource_file()["datasources"][0]
    source["secureJsonData"]["password"] = f"$__file{{{password_file}}}"
    with GrafanaClient(url, token) as client:
        push(client, datasource=source, dashboards=dashboards(), alert_rules=alert_rules_file(),
             editable_rules=editable, progress=lines.append, environ=ENV)
    return lines


def _expected_first_push() -> list[tuple[str, str]]:
    calls = [("GET", "/api/datasources/uid/planewatch-clickhouse"), ("POST", "/api/datasources"),
             ("GET", "/api/folders/planewatch"), ("POST", "/api/folders")]
    calls += [("POST", "/api/dashboards/db")] * len(dashboards())
    for kind in KINDS:
        calls += [("GET", f"/api/v1/provisioning/alert-rules/{rule_uid(kind)}"), ("POST", "/api/v1/provisioning/alert-rules")]
    calls += [("GET", GROUP_PATH), ("PUT", GROUP_PATH)]
    return calls


def test_recording_server_receives_exactly_the_expected_requests_with_the_bearer_token(
    recording_server: RecordingServer, password_file: Path
) -> None:
    lines = _push(recording_server.url, password_file)

    assert recording_server.calls() == _expected_first_push()
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in recording_server.requests)
    assert not any("X-Disable-Provenance" in r["headers"] for r in recording_server.requests), "rules stay provisioned"
    (source,) = recording_server.datasources.values()
    assert source["type"] == "grafana-clickhouse-datasource" and source["uid"] == "planewatch-clickhouse"
    assert source["jsonData"]["host"] == "clickhouse.test" and source["jsonData"]["username"] == "grafana_ro"
    assert source["jsonData"]["defaultDatabase"] == "planewatch"
    assert source["secureJsonData"] == {"password": "s3cret-ch-password"}, "the $__file reference is expanded here"
    assert "editable" not in source, "a provisioning-file key, not an API one"
    assert "isDefault" not in source, "a push leaves a shared Grafana's default datasource alone"
    assert set(recording_server.dashboards) == {board["uid"] for board in dashboards().values()}
    for body in recording_server.dashboards.values():
        assert body["folderUid"] == "planewatch" and body["overwrite"] is True and body["dashboard"]["id"] is None
    assert set(recording_server.rules) == {rule_uid(kind) for kind in KINDS}
    assert recording_server.group_intervals == {("planewatch", "planewatch"): 60}, "the group evaluates every minute"
    for rule in recording_server.rules.values():
        assert rule["provenance"] == "api", "locked in Grafana's UI, like rules from files"
        assert rule["folderUID"] == "planewatch" and rule["ruleGroup"] == "planewatch"
        assert rule["data"][0]["datasourceUid"] == "planewatch-clickhouse"
    assert lines[0] == "datasource planewatch-clickhouse: created"
    assert f"alert rule {rule_uid('plane_failure')}: created" in lines


def test_a_second_push_to_the_recording_server_updates_instead_of_duplicating(
    recording_server: RecordingServer, password_file: Path
) -> None:
    _push(recording_server.url, password_file)
    first = len(recording_server.requests)
    counts = (len(recording_server.datasources), len(recording_server.folders),
              len(recording_server.dashboards), len(recording_server.rules))

    lines = _push(recording_server.url, password_file)

    second = recording_server.calls()[first:]
    assert ("POST", "/api/datasources") not in second and ("POST", "/api/folders") not in second
    assert ("POST", "/api/v1/provisioning/alert-rules") not in second
    assert ("PUT", "/api/datasources/uid/planewatch-clickhouse") in second
    assert second.count(("PUT", "/api/v1/provisioning/alert-rules/planewatch-plane-failure")) == 1
    assert len([call for call in second if call[0] == "PUT"]) == 1 + len(KINDS), "the interval is already right"
    assert second[-1] == ("GET", GROUP_PATH)
    assert (len(recording_server.datasources), len(recording_server.folders),
            len(recording_server.dashboards), len(recording_server.rules)) == counts
    assert "folder planewatch: exists" in lines and "datasource planewatch-clickhouse: updated" in lines


def test_editable_rules_send_x_disable_provenance(recording_server: RecordingServer, password_file: Path) -> None:
    _push(recording_server.url, password_file, editable=True)
    rule_requests = [r for r in recording_server.requests if r["method"] in ("POST", "PUT") and "/provisioning/" in r["path"]]
    assert len(rule_requests) == len(KINDS) + 1, "every rule and the group interval"
    assert all(r["headers"].get("X-Disable-Provenance") == "true" for r in rule_requests)
    assert all(rule["provenance"] == "" for rule in recording_server.rules.values())


def test_rules_provisioned_from_files_are_not_overwritten(recording_server: RecordingServer, password_file: Path) -> None:
    """Grafana refuses API updates of file-provisioned rules; push says what to do instead."""
    _push(recording_server.url, password_file)
    recording_server.rules[rule_uid("flooding")]["provenance"] = "file"
    with pytest.raises(PushError, match=f"alert rule {rule_uid('flooding')} is provisioned from files"):
        _push(recording_server.url, password_file)
    assert ("PUT", f"/api/v1/provisioning/alert-rules/{rule_uid('flooding')}") not in recording_server.calls()


def test_a_wrong_token_gives_the_documented_401_error(recording_server: RecordingServer, password_file: Path) -> None:
    with pytest.raises(PushError) as caught:
        _push(recording_server.url, password_file, token="glsa_wrong")
    message = str(caught.value)
    assert "Grafana refused the token (401 Unauthorized" in message and "service-account token" in message
    assert "glsa_wrong" not in message, "the token is never part of an error"
    assert recording_server.calls() == [("GET", "/api/datasources/uid/planewatch-clickhouse")], "stops at once"


@pytest.mark.parametrize(("status", "expected"), [
    (403, "the token may not do this (403 Forbidden"),
    (404, "Check --url (include the sub-path"),
])
def test_403_and_404_say_what_to_fix(password_file: Path, status: int, expected: str) -> None:
    with RecordingServer(force_status=status) as server, GrafanaClient(server.url, TOKEN) as client:
        with pytest.raises(PushError, match=expected.replace("(", r"\(")):
            client.request("POST", "api/folders", {"uid": "x", "title": "x"})


def test_connection_refused_says_to_check_that_grafana_runs() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with GrafanaClient(f"http://127.0.0.1:{port}", TOKEN, timeout=5) as client:
        with pytest.raises(PushError, match=r"cannot connect to Grafana at http://127\.0\.0\.1:\d+ .*is it running"):
            client.ensure_folder("planewatch", "planewatch")


def test_an_unresolvable_env_reference_names_the_variable(recording_server: RecordingServer) -> None:
    with GrafanaClient(recording_server.url, TOKEN) as client, pytest.raises(PushError, match="set PLANEWATCH_CLICKHOUSE_HOST"):
        push(client, datasource=datasource_file()["datasources"][0], dashboards={}, alert_rules={"groups": []}, environ={})
    assert recording_server.requests == [], "nothing is sent before the datasource is complete"


def test_token_comes_from_a_file_or_the_environment_only(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n", encoding="utf-8")
    assert load_token(token_file, environ={}) == TOKEN
    assert load_token(None, environ={"PLANEWATCH_GRAFANA_TOKEN": TOKEN}) == TOKEN
    with pytest.raises(PushError, match="pass --token-file FILE or set PLANEWATCH_GRAFANA_TOKEN"):
        load_token(None, environ={})
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(PushError, match="is empty"):
        load_token(tmp_path / "empty", environ={})


def test_cli_push_to_the_recording_server_prints_progress_and_a_401_exits_1(
    recording_server: RecordingServer, password_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PLANEWATCH_GRAFANA_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    runner = CliRunner()
    args = ["dashboards", "push", "--url", recording_server.url, "--token-file", str(token_file),
            "--clickhouse-password-file", str(password_file)]

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "datasource planewatch-clickhouse: created" in result.output
    assert f"pushed {1 + 1 + len(dashboards()) + len(KINDS) + 1} objects to {recording_server.url}" in result.output
    assert "rule group planewatch: interval set to 60s" in result.output
    assert "alert rule planewatch-route-divergence: created" in result.output
    assert TOKEN not in result.output

    token_file.write_text("glsa_wrong", encoding="utf-8")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "Grafana refused the token (401 Unauthorized" in result.output
    assert "glsa_wrong" not in result.output

    result = runner.invoke(app, ["dashboards", "push", "--url", recording_server.url, "--token", TOKEN])
    assert result.exit_code == 2, "there is no option to pass the token on the command line"

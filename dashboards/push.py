"""Upload planewatch's datasource, dashboards and alert rules to a running Grafana (HTTP API).

:func:`push` does what the provisioning files do, for a Grafana whose files you cannot
change (Grafana Cloud, a shared instance), and can be run again at will: each object is
looked up by its uid and updated when it exists, created when it does not.

======================  =====================================================================
datasource              ``GET /api/datasources/uid/{uid}``, then ``PUT`` it or ``POST /api/datasources``
folder ``planewatch``   ``GET /api/folders/{uid}``, ``POST /api/folders`` when missing
each dashboard          ``POST /api/dashboards/db`` with ``folderUid`` and ``overwrite: true``
                        (Grafana matches the dashboard by its uid: an update, never a copy)
each alert rule         ``GET /api/v1/provisioning/alert-rules/{uid}``, then ``PUT`` it or ``POST``
                        ``/api/v1/provisioning/alert-rules`` (``folderUID``, ``ruleGroup``)
each rule group         ``GET``, and ``PUT`` when its interval differs,
                        ``/api/v1/provisioning/folder/{folderUid}/rule-groups/{group}``
======================  =====================================================================

Alert rules created this way are *provisioned* (locked in Grafana's UI, like rules from
files) unless ``editable=True``, which sends ``X-Disable-Provenance: true`` (Grafana lets a
rule go from API-provisioned to editable, not back). A rule group created through this API
gets Grafana's default evaluation interval, so the group's interval is then read and set
(``GET``/``PUT /api/v1/provisioning/folder/{folderUid}/rule-groups/{group}``). A Grafana
that provisions planewatch's rules from files refuses API updates of them (provenance
"file"): push says so instead of trying.

**The datasource over the API holds real values.** Grafana expands ``$__env{NAME}`` and
``$__file{PATH}`` only in provisioning files, so :func:`push` expands them itself, from
*this* machine's environment and files, before sending (e.g. the password from
``--clickhouse-password-file``); a reference it cannot resolve is an error naming it.

HTTP is httpx (a maintained client with no import-time side effects). grafana-client was
considered: 4.x and later pull in urllib3-future, which replaces urllib3 for the whole
environment through a ``.pth`` file; 3.11.2, the last 3.x, is free of that but is a
finished line that also installs a top-level ``test`` package into site-packages. The
API calls needed here are few, so a small typed client is clearer than either.

The token (a Grafana service-account token, role Admin, or Editor plus datasource and
alerting write permissions) is sent as ``Authorization: Bearer``; it is never logged and
never part of an error message.

Errors (:class:`PushError`; the push stops at the first one) say what to fix:

* 401: "Grafana refused the token (401 Unauthorized on …)": the token is wrong, expired or
  revoked; create a service-account token and put it in the token file;
* 403: "the token may not do this (403 Forbidden on …)": give its service account the
  Admin role (or Editor plus datasource and alert-rule write);
* 404 on a write: "<url> has no …": --url lacks Grafana's sub-path, or Grafana is older than 11;
* connection refused: "cannot connect to Grafana at <url> …: is it running, and is --url right?"
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from planewatch.dashboards.provisioning import FOLDER

__all__ = [
    "GrafanaClient",
    "PushError",
    "PushResult",
    "datasource_api_body",
    "load_token",
    "push",
    "resolve_references",
]

TOKEN_ENV = "PLANEWATCH_GRAFANA_TOKEN"
FOLDER_UID = "planewatch"

_ENV_REF = re.compile(r"\$__env\{(\w+)\}")
_FILE_REF = re.compile(r"\$__file\{([^}]+)\}")


class PushError(RuntimeError):
    """Grafana could not be reached or refused a request; the message says what to fix."""


# -- inputs ---------------------------------------------------------------------------------


def load_token(token_file: Path | None, environ: Mapping[str, str] = os.environ) -> str:
    """The Grafana token from ``token_file`` or else ``$PLANEWATCH_GRAFANA_TOKEN`` (never from argv)."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PushError(f"cannot read the token file {token_file}: {error.strerror or error}") from None
        if not token:
            raise PushError(f"the token file {token_file} is empty; put a Grafana service-account token in it")
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise PushError(
            f"no Grafana token: pass --token-file FILE or set {TOKEN_ENV} "
            "(a service-account token: Grafana > Administration > Users and access > Service accounts)"
        )
    return token


def resolve_references(value: Any, environ: Mapping[str, str] = os.environ) -> Any:
    """``value`` with Grafana's ``$__env{NAME}`` / ``$__file{PATH}`` expanded here, as Grafana
    would expand them in a provisioning file (recursively through dicts and lists)."""
    if isinstance(value, dict):
        return {key: resolve_references(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_references(item, environ) for item in value]
    if not isinstance(value, str):
        return value

    def env(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise PushError(f"the datasource reads $__env{{{name}}}: set {name} here, or pass the value as an option")
        return environ[name]

    def file(match: re.Match[str]) -> str:
        path = Path(match.group(1))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            raise PushError(
                f"the datasource reads $__file{{{path}}}, which cannot be read here: "
                "pass --clickhouse-password-file with the password's file on this machine"
            ) from None

    return _FILE_REF.sub(file, _ENV_REF.sub(env, value))


# -- the client -----------------------------------------------------------------------------


class GrafanaClient:
    """The few Grafana HTTP API calls planewatch needs, with errors that say what to fix."""

    def __init__(self, url: str, token: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PushError(f"--url {url!r} is not an http(s) URL; e.g. http://127.0.0.1:3000 or https://grafana.example/grafana")
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": "planewatch-dashboards-push"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GrafanaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None,
                missing_ok: bool = False) -> Any:
        """JSON of ``method path``; ``None`` for a 404 when ``missing_ok`` (a lookup)."""
        try:
            response = self._http.request(method, path.lstrip("/"), json=body, headers=headers)
        except httpx.ConnectError as error:
            raise PushError(f"cannot connect to Grafana at {self.url} ({error}): is it running, and is --url right?") from None
        except httpx.TimeoutException:
            raise PushError(f"Grafana at {self.url} did not answer {method} /{path.lstrip('/')} in time") from None
        except httpx.HTTPError as error:
            raise PushError(f"{method} {self.url}/{path.lstrip('/')} failed: {error}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise PushError(self._explain(method, path, response))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise PushError(
                f"{method} {self.url}/{path.lstrip('/')} answered {response.status_code} with something that is not "
                "JSON: is --url Grafana itself (not a login page or proxy)?"
            ) from None

    def _explain(self, method: str, path: str, response: httpx.Response) -> str:
        where = f"{method} /{path.lstrip('/')}"
        try:
            detail = response.json().get("message") or response.text
        except (ValueError, AttributeError):
            detail = response.text
        detail = (detail or "").strip()[:300]
        status = response.status_code
        if status == 401:
            return (f"Grafana refused the token (401 Unauthorized on {where}): it is wrong, expired or revoked. "
                    "Create a service-account token (Administration > Users and access > Service accounts) and "
                    f"put it in the --token-file or ${TOKEN_ENV}.")
        if status == 403:
            return (f"the token may not do this (403 Forbidden on {where}: {detail}). Give its service account "
                    "the Admin role, or Editor plus permission to write datasources and alert rules.")
        if status == 404:
            return (f"{self.url} has no {where} (404). Check --url (include the sub-path Grafana is served under, "
                    "e.g. https://host/grafana) and that this is Grafana 11 or newer.")
        if 300 <= status < 400:
            return (f"Grafana redirected {where} to {response.headers.get('location', '?')} ({status}): "
                    "pass that address (https, sub-path) as --url")
        return f"Grafana refused {where} ({status}): {detail}"

    # -- objects ------------------------------------------------------------------------------

    def upsert_datasource(self, source: Mapping[str, Any]) -> str:
        """Create or update the datasource with ``source['uid']``; returns "created" or "updated"."""
        uid = source["uid"]
        if self.request("GET", f"api/datasources/uid/{uid}", missing_ok=True) is None:
            self.request("POST", "api/datasources", dict(source))
            return "created"
        self.request("PUT", f"api/datasources/uid/{uid}", dict(source))
        return "updated"

    def ensure_folder(self, uid: str, title: str) -> str:
        """The folder ``uid``, created when missing; returns "created" or "exists"."""
        if self.request("GET", f"api/folders/{uid}", missing_ok=True) is None:
            self.request("POST", "api/folders", {"uid": uid, "title": title})
            return "created"
        return "exists"

    def save_dashboard(self, dashboard: Mapping[str, Any], folder_uid: str) -> str:
        """Save ``dashboard`` into ``folder_uid``, replacing the one with the same uid; returns its URL path."""
        body = {"dashboard": {**dashboard, "id": None}, "folderUid": folder_uid, "overwrite": True,
                "message": "planewatch dashboards push"}
        answer = self.request("POST", "api/dashboards/db", body)
        return str(answer.get("url") or dashboard.get("uid"))

    def upsert_alert_rule(self, rule: Mapping[str, Any], *, folder_uid: str, group: str, editable: bool) -> str:
        """Create or update one alert rule (provisioning API); returns "created" or "updated"."""
        uid = rule["uid"]
        body = {**rule, "folderUID": folder_uid, "ruleGroup": group, "orgID": 1}
        headers = {"X-Disable-Provenance": "true"} if editable else None
        existing = self.request("GET", f"api/v1/provisioning/alert-rules/{uid}", missing_ok=True)
        if existing is None:
            self.request("POST", "api/v1/provisioning/alert-rules", body, headers=headers)
            return "created"
        if existing.get("provenance") == "file":
            raise PushError(
                f"alert rule {uid} is provisioned from files in this Grafana, which refuses API updates of it: "
                "change the files instead (planewatch dashboards build --out <its provisioning directory>)"
            )
        self.request("PUT", f"api/v1/provisioning/alert-rules/{uid}", body, headers=headers)
        return "updated"

    def ensure_group_interval(self, folder_uid: str, group: str, seconds: int, *, editable: bool) -> str:
        """Set the rule group's evaluation interval (rules created over the API get Grafana's
        default); returns "set to Ns" or "already Ns"."""
        path = f"api/v1/provisioning/folder/{folder_uid}/rule-groups/{group}"
        current = self.request("GET", path)
        if current.get("interval") == seconds:
            return f"interval already {seconds}s"
        headers = {"X-Disable-Provenance": "true"} if editable else None
        self.request("PUT", path, {**current, "interval": seconds}, headers=headers)
        return f"interval set to {seconds}s"


# -- pushing everything -----------------------------------------------------------------------


@dataclasses.dataclass
class PushResult:
    """What one :func:`push` did, object by object (``(kind, name, action)``)."""

    actions: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def push(
    client: GrafanaClient,
    *,
    datasource: Mapping[str, Any] | None,
    dashboards: Mapping[str, Mapping[str, Any]],
    alert_rules: Mapping[str, Any],
    editable_rules: bool = False,
    progress: Callable[[str], None] = lambda line: None,
    environ: Mapping[str, str] = os.environ,
) -> PushResult:
    """Upload ``datasource`` (one entry of a datasource provisioning file, references
    expanded here; ``None`` to leave Grafana's as it is), the ``planewatch`` folder,
    ``dashboards`` ({file name: dashboard JSON}) and the rule groups of ``alert_rules``
    (an alerting provisioning document). Stops at the first refusal with a :class:`PushError`."""
    result = PushResult()

    def done(kind: str, name: str, action: str) -> None:
        result.actions.append((kind, name, action))
        progress(f"{kind} {name}: {action}")

    if datasource is not None:
        source = datasource_api_body(datasource, environ)
        done("datasource", source["uid"], client.upsert_datasource(source))
    groups: Iterable[Mapping[str, Any]] = alert_rules.get("groups", [])
    folders = {FOLDER_UID: FOLDER}
    for group in groups:
        folders.setdefault(_folder_uid(group["folder"]), group["folder"])
    for uid, title in folders.items():
        done("folder", title, client.ensure_folder(uid, title))
    for name, dashboard in dashboards.items():
        done("dashboard", name, client.save_dashboard(dashboard, FOLDER_UID))
    for group in alert_rules.get("groups", []):
        folder_uid = _folder_uid(group["folder"])
        for rule in group["rules"]:
            action = client.upsert_alert_rule(rule, folder_uid=folder_uid, group=group["name"], editable=editable_rules)
            done("alert rule", rule["uid"], action)
        if group["rules"]:
            action = client.ensure_group_interval(folder_uid, group["name"], _seconds(group["interval"]),
                                                  editable=editable_rules)
            done("rule group", group["name"], action)
    return result


def _seconds(duration: str) -> int:
    """``1m``, ``30s``, ``1h`` (the group intervals planewatch writes) in seconds."""
    match = re.fullmatch(r"(\d+)([smh])", duration)
    if not match:
        raise PushError(f"rule group interval {duration!r} is not like 30s, 1m or 1h")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


_API_DATASOURCE_KEYS = ("name", "uid", "type", "access", "url", "user", "database", "basicAuth", "basicAuthUser",
                        "withCredentials", "jsonData", "secureJsonData")


def datasource_api_body(entry: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """A datasource provisioning entry as the body of ``POST/PUT /api/datasources``: the keys the
    API shares with the file (``editable``, ``orgId``, ``version`` are file-only) with references
    expanded. ``isDefault`` is left out: a push must not change a shared Grafana's default datasource."""
    body = {key: entry[key] for key in _API_DATASOURCE_KEYS if key in entry}
    return resolve_references(body, environ)


def _folder_uid(title: str) -> str:
    """planewatch's folder uids: the title, lower case, characters Grafana allows in a uid."""
    return re.sub(r"[^a-z0-9_-]+", "-", title.lower()).strip("-")[:40] or FOLDER_UID

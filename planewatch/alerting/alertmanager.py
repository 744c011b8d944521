"""Findings to Prometheus Alertmanager (``POST /api/v2/alerts``): page once, resolve once.

A :class:`~planewatch.schemas.records.Finding` becomes one Alertmanager alert:

* **labels** (the alert's identity in Alertmanager, so nothing in them changes between
  firing and resolved): ``alertname`` = the finding's kind, ``fabric``, ``plane`` (the id,
  as a string; ``"0"`` for a finding that is not about one plane, e.g. ``server_failure``),
  ``plane_name`` when the client knows the inventory's name for it, ``severity``,
  ``fingerprint`` and ``subject`` (when not empty). Empty values are left out, as
  Alertmanager would drop them anyway.
* **annotations**: ``summary``, ``evidence`` (compact JSON, cut at ``evidence_limit``
  characters), ``runbook`` (a hint per kind, :data:`RUNBOOK_HINTS`) and ``runbook_url``
  when the client has a ``runbook_url`` template.
* ``startsAt`` = ``started_at`` (the event time the fault began, RFC 3339 UTC);
  a firing alert has no ``endsAt``; a resolved one has ``endsAt`` = ``ended_at`` (or
  ``ts``). Event times in the future (a device clock ahead of this host) are clamped to
  now: Alertmanager would keep a "resolved" alert firing until its ``endsAt``.

**Keeping alerts alive.** Alertmanager resolves an alert without ``endsAt`` that is not
posted again within its ``resolve_timeout`` (5 min by default), and detectors emit a
finding only when it fires and when it resolves. The client therefore remembers the
firing alerts it has posted and :meth:`AlertmanagerClient.resend_active` posts them again;
run it every ``resend_interval`` seconds (default 60 s, like Prometheus' resend delay)
with :meth:`~AlertmanagerClient.run_periodic` (asyncio) or the background thread of
:meth:`~AlertmanagerClient.submit`. After a restart, :meth:`~AlertmanagerClient.adopt_active`
takes over what Alertmanager still shows as firing, since restored detectors do not fire
again for faults that were already firing.

**Duplicates.** Alertmanager identifies an alert by its label set and notifies per group
only when the group's set of firing (or resolved) alerts changes, so posting a finding
again — a replay after a crash, :meth:`resend_active` — sends no second page. The one
replay Alertmanager cannot absorb is a *firing* finding posted again after its resolution
was delivered (it would fire again): the client remembers the lifecycles it resolved
(the last ``memory`` of them) and drops such a finding, and within one :meth:`send` only
the latest transition per alert is posted (a replayed firing + resolved pair posts the
resolution alone). With ``state_path`` that memory survives a restart.

**Delivery.** Connection errors, timeouts, HTTP 5xx, 408 and 429 are retried with
exponential backoff (``backoff`` × 2ⁿ, at most ``max_backoff``, with jitter) up to
``max_retries`` times; alerts still undelivered stay pending and go out with the next
:meth:`send` or :meth:`resend_active`. Once a delivery has failed, :meth:`asend` and
:meth:`resend_active` try only once until one succeeds again, so a stream worker does not
wait out a long Alertmanager outage batch after batch (each periodic resend is the next
retry). Any other 4xx means
Alertmanager refuses the alerts: logged as an error with its reason, counted in
``rejected``, and dropped (posting them again could not succeed).

Standard library only (``urllib``): no HTTP client is a planewatch dependency. Proxy
variables (``HTTPS_PROXY`` …) are honoured except for a loopback Alertmanager.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import datetime as dt
import http.client
import ipaddress
import json
import logging
import os
import queue
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from planewatch.schemas.records import Finding

log = logging.getLogger(__name__)

__all__ = [
    "RUNBOOK_HINTS",
    "AlertmanagerClient",
    "Delivery",
    "finding_labels",
    "finding_to_alert",
    "plane_names_from",
    "rfc3339",
]

FIRING = "firing"
RESOLVED = "resolved"
ALERTS_PATH = "/api/v2/alerts"
CHUNK = 500
"""Alerts per POST (Alertmanager takes any number; this keeps one request small)."""
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_RETRY_STATUS = frozenset({408, 429})

RUNBOOK_HINTS: dict[str, str] = {
    "plane_failure": (
        "Plane {plane} has stopped carrying traffic; servers route over the remaining planes with "
        "less bandwidth, so do not drain or maintain another plane now. Check the plane's switches "
        "(spanning-tree loop or meltdown, power, a bad config push), its ToR server ports and its "
        "route reflectors; evidence lists the servers and ports that lost it. "
        "Timeline: planewatch query timeline --plane {plane}."
    ),
    "plane_degraded": (
        "Part of plane {plane} lost its servers (a line card, a ToR's plane-facing optics, a VLAN "
        "missing on some ports). evidence lists the affected servers and ports: look for what they "
        "share (ToR, line card, recent change). Capacity on that plane is reduced."
    ),
    "server_failure": (
        "Server {subject} is down on every plane (power, kernel panic, reboot) - a host problem, "
        "not a fabric one. Check its BMC/console; the fabric needs no action. Many servers at once "
        "(subject a rack or 'many'): check the rack's power (PDU) and ToRs."
    ),
    "flooding": (
        "Broadcast/multicast storm on plane {plane} while the other planes are quiet: usually an L2 "
        "loop or a misbehaving NIC/bridge. Find the ports with the highest broadcast rate (evidence), "
        "shut the offending port; check spanning tree and recent cabling. A storm can take the plane down."
    ),
    "unknown_unicast": (
        "Unicast frames to MACs the plane's tables do not hold are being flooded on plane {plane}: "
        "FDB aging shorter than ARP timers, asymmetric paths, or a table overflow. Compare MAC aging "
        "with the servers' neighbour timers; check the plane's FDB sizes (evidence)."
    ),
    "mac_leak": (
        "Plane {plane}'s MAC tables hold MACs that are no server, route reflector or router: a "
        "workload bridged onto the fabric instead of routed by calico-node (a VM on a Linux bridge). "
        "evidence names the ports with unknown MACs; find the host behind them."
    ),
    "mac_move": (
        "MACs moving between ports on plane {plane}: a Calico server has one link per plane, so this "
        "is a loop (often the start of a storm) or a flapping/duplicated port. Check the ports in "
        "evidence and spanning tree now."
    ),
    "link_imbalance": (
        "Traffic is not spread by ECMP as expected on plane {plane} (subject {subject}): a plane "
        "carrying more/less than its 1/N share, a ToR's uplinks unevenly loaded, or servers avoiding "
        "a plane (missing routes, BIRD/ECMP config, a down link). evidence has the shares and the top "
        "contributors."
    ),
    "route_churn": (
        "BGP on plane {plane} is churning far above what servers coming and going explains, from many "
        "servers: check the plane's route reflectors (CPU, restarts), its links (errors, flaps) and "
        "recent route policy changes."
    ),
    "session_flap": (
        "BGP sessions of {subject} on plane {plane} keep going up and down: check that server's link "
        "and NIC on the plane (errors, optics), BIRD's logs on it, and its MTU/hold timers."
    ),
    "route_divergence": (
        "Plane {plane}'s sessions import a different number of routes than the other planes (a "
        "partial blackhole): compare the plane's route reflectors' tables with another plane's, "
        "check RR filters and recent restarts."
    ),
}
"""First steps per finding kind, sent as the ``runbook`` annotation (``{plane}`` and ``{subject}`` filled in)."""
_DEFAULT_HINT = "planewatch finding {kind} on plane {plane}; see its evidence and planewatch query timeline --plane {plane}."


# -- mapping a finding -------------------------------------------------------------------


def rfc3339(ts: float) -> str:
    """An epoch time as RFC 3339 UTC with milliseconds (``2026-11-26T09:11:50.123Z``)."""
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plane_names_from(inventories: Mapping[str, Any] | Iterable[Any]) -> dict[str, dict[int, str]]:
    """``{fabric: {plane id: plane name}}`` from inventories: a mapping by fabric name
    (``StreamSettings.inventories``) or inventories (named by their ``fabric``).

    With a single inventory its names also serve findings whose ``fabric`` is empty.
    """
    if isinstance(inventories, Mapping):
        pairs = list(inventories.items())
    else:
        pairs = [(inventory.fabric, inventory) for inventory in inventories]
    names = {fabric: {plane_id: plane.name for plane_id, plane in inventory.planes.items()} for fabric, inventory in pairs}
    if len(pairs) == 1:
        names.setdefault("", names[pairs[0][0]])
    return names


def finding_labels(finding: Finding, plane_name: str | None = None) -> dict[str, str]:
    """The alert's label set: what identifies it, never what changes while it fires."""
    labels = {
        "alertname": finding.kind,
        "fabric": finding.fabric,
        "plane": str(finding.plane),
        "plane_name": plane_name or "",
        "severity": finding.severity,
        "fingerprint": finding.fingerprint,
        "subject": finding.subject,
    }
    return {name: value for name, value in labels.items() if value}


def _compact_json(evidence: Mapping[str, Any], limit: int) -> str:
    text = json.dumps(evidence, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return text
    marker = f"… ({len(text)} chars, truncated)"
    return text[: max(0, limit - len(marker))] + marker


def finding_to_alert(
    finding: Finding,
    *,
    plane_name: str | None = None,
    generator_url: str | None = None,
    runbook_url: str | None = None,
    evidence_limit: int = 2000,
    now: float | None = None,
) -> dict[str, Any]:
    """The Alertmanager v2 ``postableAlert`` for one finding (see the module doc for the mapping)."""
    now = time.time() if now is None else now
    values = {"kind": finding.kind, "plane": finding.plane, "subject": finding.subject or "-",
              "fabric": finding.fabric, "fingerprint": finding.fingerprint}
    annotations = {
        "summary": finding.summary or f"{finding.kind} on plane {finding.plane}" + (f" ({finding.subject})" if finding.subject else ""),
        "evidence": _compact_json(finding.evidence, evidence_limit),
        "runbook": RUNBOOK_HINTS.get(finding.kind, _DEFAULT_HINT).format(**values),
    }
    if runbook_url:
        annotations["runbook_url"] = runbook_url.format(**values)
    starts = min(finding.started_at or finding.ts, now)
    alert: dict[str, Any] = {
        "labels": finding_labels(finding, plane_name),
        "annotations": annotations,
        "startsAt": rfc3339(starts),
    }
    if finding.status == RESOLVED:
        ends = finding.ended_at if finding.ended_at is not None else finding.ts
        alert["endsAt"] = rfc3339(max(starts, min(ends, now)))
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


# -- the client --------------------------------------------------------------------------


@dataclasses.dataclass
class Delivery:
    """What one :meth:`AlertmanagerClient.send` / :meth:`~AlertmanagerClient.resend_active` did."""

    delivered: int = 0
    """Alerts Alertmanager accepted in this call."""
    pending: int = 0
    """Alerts still waiting for delivery afterwards (Alertmanager unreachable)."""
    rejected: int = 0
    """Alerts Alertmanager refused (HTTP 4xx) and that were dropped."""
    skipped: int = 0
    """Findings not posted: firing again after their resolution (a replay)."""

    @property
    def ok(self) -> bool:
        return self.pending == 0 and self.rejected == 0


@dataclasses.dataclass
class _Counters:
    posts: int = 0
    sent: int = 0
    failed: int = 0
    rejected: int = 0
    retries: int = 0
    skipped_replays: int = 0
    resends: int = 0
    adopted: int = 0
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None


_Key = tuple[str, str]
"""(fabric, fingerprint): a finding's fault subject (the fingerprint alone repeats across fabrics)."""


def _identity(alert: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset(alert["labels"].items())


class AlertmanagerClient:
    """Posts findings to one Alertmanager; thread-safe (every post is serialised, in order).

    ``url``: Alertmanager's base URL (``http://alertmanager:9093``, with any route prefix;
    ``.../api/v2/alerts`` is accepted too). Credentials in the URL become basic auth;
    ``headers`` are added to every request (e.g. ``Authorization: Bearer …``).
    ``plane_names``: ``{fabric: {plane id: name}}`` (:func:`plane_names_from`) for the
    ``plane_name`` label. ``runbook_url``: a template (``{kind}``, ``{plane}``,
    ``{subject}``, ``{fabric}``, ``{fingerprint}``) for a ``runbook_url`` annotation.
    ``state_path``: a JSON file keeping the lifecycles this client resolved (the last
    ``memory``), so a restarted worker replaying its input does not fire them again;
    e.g. ``<workdir>/alertmanager-state.json``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        generator_url: str | None = None,
        runbook_url: str | None = None,
        plane_names: Mapping[str, Mapping[int, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        resend_interval: float = 60.0,
        evidence_limit: int = 2000,
        memory: int = 10_000,
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Alertmanager URL must be http(s)://host[:port][/prefix], not {url!r}")
        path = parts.path.rstrip("/")
        if path.endswith(ALERTS_PATH):
            path = path[: -len(ALERTS_PATH)]
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))
        self.alerts_url = self.url + ALERTS_PATH
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.generator_url = generator_url
        self.runbook_url = runbook_url
        self.plane_names = {fabric: dict(names) for fabric, names in (plane_names or {}).items()}
        self.resend_interval = resend_interval
        self.evidence_limit = evidence_limit
        self.memory = memory
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "planewatch-alerting"}
        if parts.username is not None:
            credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        self._headers.update(headers or {})
        handlers: list[urllib.request.BaseHandler] = []
        if _is_loopback(parts.hostname):
            handlers.append(urllib.request.ProxyHandler({}))  # never send a local Alertmanager's traffic to a proxy
        self._opener = urllib.request.build_opener(*handlers)

        self._lock = threading.RLock()
        self._active: dict[_Key, dict[str, Any]] = {}
        self._unsent: dict[frozenset[tuple[str, str]], dict[str, Any]] = {}
        self._resolved: collections.OrderedDict[_Key, float] = collections.OrderedDict()
        self._down = False
        self.counters = _Counters()
        self._sleep = time.sleep  # tests may replace it
        self.state_path = Path(state_path) if state_path is not None else None
        self._state_dirty = False
        if self.state_path is not None:
            self._load_state()
        # background sender (submit/close)
        self._queue: queue.Queue[list[Finding] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AlertmanagerClient({self.url!r})"

    # -- public API --------------------------------------------------------------------
    def send(self, findings: Iterable[Finding], *, retries: int | None = None) -> Delivery:
        """Post the findings' alerts (and anything still pending); blocks while retrying.

        ``retries`` overrides ``max_retries`` for this call.
        """
        with self._lock:
            skipped = sum(0 if self._accept(finding) else 1 for finding in findings)
            result = self._flush(self.max_retries if retries is None else retries)
            result.skipped = skipped
            if self._state_dirty:
                self._save_state()
            return result

    async def asend(self, findings: Iterable[Finding]) -> Delivery:
        """:meth:`send` in a worker thread: usable as ``StreamSettings.on_findings``.

        While Alertmanager is known to be down it makes a single attempt (no backoff), so
        a stream batch never waits out an outage; the periodic resend retries.
        """
        findings = list(findings)
        retries = 0 if self._down else None
        return await asyncio.to_thread(self.send, findings, retries=retries)

    __call__ = asend

    def resend_active(self, *, retries: int | None = None) -> Delivery:
        """Post every firing alert again (and anything pending), so Alertmanager keeps them firing.

        While Alertmanager is known to be down this is a single attempt (each periodic call
        is the next retry), so it never holds up :meth:`send` for long.
        """
        with self._lock:
            for alert in self._active.values():
                self._queue_alert(alert)
            if self._active:
                self.counters.resends += 1
            if retries is None:
                retries = 0 if self._down else self.max_retries
            return self._flush(retries)

    async def run_periodic(self, stop: asyncio.Event | None = None, interval: float | None = None) -> None:
        """Call :meth:`resend_active` every ``interval`` (default ``resend_interval``) s until ``stop`` is set.

        Run it beside the stream (``asyncio.create_task`` or a Faust timer); it never raises
        on delivery errors (they are counted and logged).
        """
        interval = self.resend_interval if interval is None else interval
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await asyncio.to_thread(self.resend_active)
            except Exception:  # noqa: BLE001 - a resend must never end the loop
                log.exception("resending active alerts to %s failed", self.url)

    def adopt_active(self, fabrics: Iterable[str] | None = None) -> int:
        """Take over the planewatch alerts Alertmanager shows as firing (after a restart).

        Restored detectors do not fire again for faults that were firing before the
        restart, so without this their alerts would time out in Alertmanager and page as
        resolved while the fault lasts. ``fabrics``: only these (the fabrics this worker
        detects). Returns how many alerts were adopted; raises ``OSError`` when
        Alertmanager cannot be read.
        """
        wanted = None if fabrics is None else set(fabrics)
        query = urllib.parse.urlencode({"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"})
        request = urllib.request.Request(f"{self.alerts_url}?{query}", headers=self._headers, method="GET")
        with self._opener.open(request, timeout=self.timeout) as response:
            alerts = json.loads(response.read() or b"[]")
        adopted = 0
        with self._lock:
            for alert in alerts:
                labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
                fp = labels.get("fingerprint", "")
                if not _FINGERPRINT.match(fp) or "alertname" not in labels:
                    continue  # not one of planewatch's
                fabric = labels.get("fabric", "")
                if wanted is not None and fabric not in wanted:
                    continue
                key = (fabric, fp)
                if key in self._active:
                    continue
                adopted_alert: dict[str, Any] = {"labels": labels, "annotations": dict(alert.get("annotations") or {}),
                                                 "startsAt": alert["startsAt"]}
                if alert.get("generatorURL"):
                    adopted_alert["generatorURL"] = alert["generatorURL"]
                self._active[key] = adopted_alert
                adopted += 1
            self.counters.adopted += adopted
        log.info("adopted %d firing alert(s) from %s", adopted, self.url)
        return adopted

    def release(self, fabrics: Iterable[str]) -> int:
        """Stop re-sending these fabrics' alerts (their detection moved to another worker)."""
        gone = set(fabrics)
        with self._lock:
            keys = [key for key in self._active if key[0] in gone]
            for key in keys:
                del self._active[key]
            return len(keys)

    # -- background thread (for synchronous callers such as ``planewatch up``) ----------
    def submit(self, findings: Iterable[Finding]) -> None:
        """Queue findings for the background thread (started on first use); never blocks.

        The thread posts them in order and calls :meth:`resend_active` every
        ``resend_interval`` s. Call :meth:`close` at shutdown to deliver what is queued.
        """
        self.start()
        self._queue.put(list(findings))

    def start(self) -> None:
        """Start the background sender thread (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._background, name="planewatch-alertmanager", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what :meth:`submit` queued (waiting at most ``timeout`` s) and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("Alertmanager sender still busy after %.0f s; %d alert(s) undelivered",
                        timeout, len(self._unsent))
        self._thread = None

    def _background(self) -> None:
        next_resend = time.monotonic() + self.resend_interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_resend - time.monotonic()))
            except queue.Empty:
                item = []
            if item is None:
                if self._unsent:
                    self.send([], retries=1)
                return
            try:
                if item:
                    self.send(item, retries=0 if self._down else None)
                if time.monotonic() >= next_resend:
                    next_resend = time.monotonic() + self.resend_interval
                    self.resend_active()
            except Exception:  # noqa: BLE001 - the sender thread must survive anything
                log.exception("Alertmanager sender failed")

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counters and state, for ``planewatch``'s status output and tests (never waits for a delivery)."""
        c = self.counters
        return {
            "url": self.url,
            "up": not self._down,
            "active": len(self._active),
            "pending": len(self._unsent),
            "posts": c.posts,
            "sent": c.sent,
            "failed": c.failed,
            "rejected": c.rejected,
            "retries": c.retries,
            "skipped_replays": c.skipped_replays,
            "resends": c.resends,
            "adopted": c.adopted,
            "last_success": c.last_success,
            "last_error": c.last_error,
            "last_error_at": c.last_error_at,
        }

    def active_alerts(self) -> list[dict[str, Any]]:
        """Copies of the firing alerts this client keeps alive."""
        with self._lock:
            return [json.loads(json.dumps(alert)) for alert in self._active.values()]

    # -- internals -----------------------------------------------------------------------
    def _load_state(self) -> None:
        assert self.state_path is not None
        try:
            data = json.loads(self.state_path.read_text())
            entries = [(str(fabric), str(fp), float(started)) for fabric, fp, started in data["resolved"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable Alertmanager client state %s: %s", self.state_path, error)
            return
        for fabric, fp, started in entries[-self.memory:]:
            self._resolved[(fabric, fp)] = started

    def _save_state(self) -> None:
        if self.state_path is None:
            self._state_dirty = False
            return
        data = {"version": 1, "resolved": [[fabric, fp, started] for (fabric, fp), started in self._resolved.items()]}
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(data, separators=(",", ":")))
            os.replace(temporary, self.state_path)
            self._state_dirty = False
        except OSError as error:
            log.warning("cannot save Alertmanager client state to %s: %s", self.state_path, error)

    def _alert(self, finding: Finding) -> dict[str, Any]:
        plane_name = self.plane_names.get(finding.fabric, {}).get(finding.plane)
        return finding_to_alert(finding, plane_name=plane_name, generator_url=self.generator_url,
                                runbook_url=self.runbook_url, evidence_limit=self.evidence_limit)

    def _accept(self, finding: Finding) -> bool:
        """Update the state for one finding and queue its alert; ``False`` when it is a stale replay."""
        key = (finding.fabric, finding.fingerprint)
        if finding.status == FIRING:
            resolved_start = self._resolved.get(key)
            if resolved_start is not None and finding.started_at <= resolved_start:
                self.counters.skipped_replays += 1
                log.debug("not posting %s %s again: its resolution was posted already", finding.kind, key)
                return False
            alert = self._alert(finding)
            current = self._active.get(key)
            if current is not None:
                if _parse_time(current["startsAt"]) == _parse_time(alert["startsAt"]):
                    alert["labels"] = current["labels"]  # the same fault again: keep its identity
                elif _identity(current) != _identity(alert):
                    # a new lifecycle while the old one was never resolved here: end the old alert
                    self._queue_alert({**current, "endsAt": alert["startsAt"]})
            self._active[key] = alert
            self._queue_alert(alert)
            return True
        if finding.status == RESOLVED:
            alert = self._alert(finding)
            current = self._active.pop(key, None)
            if current is not None:
                # resolve exactly the alert that fired (a detector may resolve with another severity)
                alert["labels"] = current["labels"]
                alert["startsAt"] = current["startsAt"]
                if _parse_time(alert["endsAt"]) < _parse_time(alert["startsAt"]):
                    alert["endsAt"] = alert["startsAt"]
            self._resolved[key] = max(finding.started_at, self._resolved.get(key, finding.started_at))
            self._resolved.move_to_end(key)
            while len(self._resolved) > self.memory:
                self._resolved.popitem(last=False)
            self._state_dirty = True
            self._queue_alert(alert)
            return True
        log.warning("ignoring finding %s with unknown status %r", key, finding.status)
        return False

    def _queue_alert(self, alert: dict[str, Any]) -> None:
        identity = _identity(alert)
        self._unsent.pop(identity, None)  # the latest state of an alert wins, and goes last
        self._unsent[identity] = alert
        while len(self._unsent) > self.memory:
            dropped = self._unsent.pop(next(iter(self._unsent)))
            self.counters.failed += 1
            log.error("dropping undelivered alert %s: more than %d pending", dropped["labels"], self.memory)

    def _flush(self, retries: int) -> Delivery:
        result = Delivery()
        while self._unsent:
            batch = list(self._unsent.items())[:CHUNK]
            outcome = self._post([alert for _, alert in batch], retries)
            if outcome == "failed":
                self.counters.failed += len(batch)
                break
            for identity, _ in batch:
                del self._unsent[identity]
            if outcome == "ok":
                result.delivered += len(batch)
                self.counters.sent += len(batch)
            else:
                result.rejected += len(batch)
                self.counters.rejected += len(batch)
        result.pending = len(self._unsent)
        return result

    def _post(self, alerts: list[dict[str, Any]], retries: int) -> str:
        """POST one batch; ``"ok"``, ``"rejected"`` (4xx, do not retry) or ``"failed"`` (retries exhausted)."""
        body = json.dumps(alerts, separators=(",", ":")).encode()
        attempt = 0
        while True:
            self.counters.posts += 1
            try:
                request = urllib.request.Request(self.alerts_url, data=body, headers=self._headers, method="POST")
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read()
                self._down = False
                self.counters.last_success = time.time()
                return "ok"
            except urllib.error.HTTPError as error:
                reason = _error_text(error)
                if error.code < 500 and error.code not in _RETRY_STATUS:
                    self._note_error(f"HTTP {error.code}: {reason}")
                    log.error("Alertmanager %s rejected %d alert(s) (HTTP %d): %s; dropping them",
                              self.alerts_url, len(alerts), error.code, reason)
                    return "rejected"
                problem = f"HTTP {error.code}: {reason}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            self._note_error(problem)
            if attempt >= retries:
                if not self._down:
                    log.warning("cannot deliver %d alert(s) to %s after %d attempt(s): %s; keeping them pending",
                                len(alerts), self.alerts_url, attempt + 1, problem)
                self._down = True
                return "failed"
            delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.8, 1.0)
            log.info("Alertmanager %s: %s; retry %d/%d in %.1f s", self.alerts_url, problem, attempt + 1, retries, delay)
            self.counters.retries += 1
            attempt += 1
            self._sleep(delay)

    def _note_error(self, problem: str) -> None:
        self.counters.last_error = problem
        self.counters.last_error_at = time.time()


def _parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time as Alertmanager or :func:`rfc3339` writes it (any fraction, ``Z`` or offset)."""
    text = text.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2):  # Go writes up to 9 fraction digits, Python reads up to 6
        text = match.group(1) + match.group(2)[:7].ljust(7, "0") + match.group(3)
    return dt.datetime.fromisoformat(text)


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - the status code alone will do
        text = ""
    return (text or str(error.reason))[:500]


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

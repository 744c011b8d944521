"""Grafana alert rules for planewatch's findings, as a unified-alerting provisioning file.

One rule group (``planewatch``, evaluated every minute, in the ``planewatch`` folder) with
one rule per finding kind a registered detector raises
(:data:`planewatch.streams.registry.DETECTORS`), ``plane_failure`` first. Each rule is
what Grafana's own export of such a rule looks like:

* **A**: a ClickHouse SQL query (table format) returning one row per plane: the string
  columns ``plane``, ``fabric`` and ``plane_name`` (Grafana turns them into the alert
  instance's labels) and one number, ``firing``: how many findings of the kind are firing
  on that plane at the evaluation time. A finding is firing when the latest status of its
  fingerprint (at or before ``$__toTime``) is ``firing``. Every plane of the inventory
  (``planes`` table) gets a row, with 0 when nothing fires, so a resolved fault resolves
  the alert instead of turning into "no data";
* **B**: a server-side *reduce* (``last``) of A; a no-op for such numbers, kept because
  Grafana's rule editor expects a reduce before a threshold;
* **C**: a *threshold* ``B > 0``, the rule's condition.

Labels are ``kind``, ``severity`` and ``source: planewatch-grafana``; annotations a
``summary`` and the ``runbook`` hint planewatch's Alertmanager client sends for the same
kind (:data:`planewatch.alerting.RUNBOOK_HINTS`, with Grafana's ``{{ $labels.plane }}`` in
place of the plane). The severity is the one the kind's detector raises at first; a finding's
own severity can be higher (``link_imbalance`` far off its share), which the finding keeps.

These rules are for installations that alert from Grafana; planewatch's own
Alertmanager client (``planewatch stream``) pages for the same findings, so route only one
of the two to people.

The key lists and expression models come from Grafana's provisioning source (see
:mod:`planewatch.dashboards.provisioning`); the SQL is run against chdb in the tests, with the
plugin's macros expanded by :func:`planewatch.dashboards.macros.expand`.
"""

from __future__ import annotations

import re
from typing import Any

from planewatch.alerting.alertmanager import RUNBOOK_HINTS
from planewatch.dashboards.provisioning import CLICKHOUSE_PLUGIN, DATASOURCE_UID, FOLDER
from planewatch.streams.registry import DETECTORS

__all__ = [
    "GROUP",
    "INTERVAL",
    "KINDS",
    "alert_rules_file",
    "firing_sql",
    "rule_for_kind",
    "rule_uid",
]

GROUP = "planewatch"
INTERVAL = "1m"
LOOKBACK_SECONDS = 600
"""relativeTimeRange.from of query A. The query reads the whole findings history up to
``$__toTime`` (a fault can fire for days), so this only sets ``$__fromTime``, which it does not use."""

KINDS: tuple[str, ...] = tuple(dict.fromkeys(
    ["plane_failure", *(kind for spec in DETECTORS for kind in spec.kinds)]
))
"""Every finding kind a registered detector raises, ``plane_failure`` first."""

_CRITICAL_KINDS = frozenset({"plane_failure", "flooding", "mac_move"})
"""Kinds whose detectors raise them as ``critical`` (the rest start as ``warning``)."""

_KIND = re.compile(r"^[a-z][a-z_]{0,30}$")
_SUBJECT_HINT = "(the subject listed by planewatch query alerts --active)"


def rule_uid(kind: str) -> str:
    """The rule's stable uid (Grafana allows 40 characters): ``planewatch-plane-failure``."""
    return "planewatch-" + kind.replace("_", "-")


def firing_sql(kind: str) -> str:
    """SQL for query A: firing findings of ``kind`` per plane at ``$__toTime``.

    ``kind`` goes into the SQL text, so it must be a finding kind name (lower case and
    underscores); nothing a user types ever reaches this function.
    """
    if not _KIND.match(kind):
        raise ValueError(f"{kind!r} is not a finding kind name (lower-case letters and underscores)")
    return f"""\
-- planewatch: {kind} findings firing per plane at the evaluation time
-- (a finding fires while the latest status of its fingerprint is 'firing')
WITH
    latest AS (
        SELECT fabric, plane, fingerprint, argMax(status, ts) AS status
        FROM findings
        WHERE kind = '{kind}' AND ts <= ($__toTime)
        GROUP BY fabric, plane, fingerprint
    ),
    inventory AS (
        SELECT fabric, plane, argMax(name, ts) AS plane_name
        FROM planes
        GROUP BY fabric, plane
    ),
    known AS (
        SELECT fabric, plane FROM inventory
        UNION DISTINCT
        SELECT fabric, plane FROM latest
    )
SELECT
    toString(known.plane) AS plane,
    toString(known.fabric) AS fabric,
    toString(any(inventory.plane_name)) AS plane_name,
    toFloat64(countIf(latest.status = 'firing')) AS firing
FROM known
LEFT JOIN latest ON latest.fabric = known.fabric AND latest.plane = known.plane
LEFT JOIN inventory ON inventory.fabric = known.fabric AND inventory.plane = known.plane
GROUP BY known.fabric, known.plane
ORDER BY known.fabric, known.plane"""


def _detector_summary(kind: str) -> str:
    """What the kind's detector looks for, from the registry (one text per detector)."""
    return next((spec.summary for spec in DETECTORS if kind in spec.kinds), kind)


def rule_for_kind(kind: str, *, datasource_uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """One provisioned alert rule (``AlertRuleV1``) for findings of ``kind``."""
    plane = "{{ $labels.plane }}"
    runbook = RUNBOOK_HINTS.get(kind)
    if runbook is None:
        runbook = "planewatch finding {kind} on plane {plane}; see its evidence and planewatch query timeline --plane {plane}."
    expression_source = {"type": "__expr__", "uid": "__expr__"}
    return {
        "uid": rule_uid(kind),
        "title": f"planewatch {kind}",
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": LOOKBACK_SECONDS, "to": 0},
                "datasourceUid": datasource_uid,
                "model": {
                    "refId": "A",
                    "datasource": {"type": CLICKHOUSE_PLUGIN, "uid": datasource_uid},
                    "editorType": "sql",
                    "queryType": "table",
                    "format": 1,
                    "rawSql": firing_sql(kind),
                    "intervalMs": 1000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "datasource": expression_source,
                    "type": "reduce",
                    "expression": "A",
                    "reducer": "last",
                    "intervalMs": 1000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "C",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "datasource": expression_source,
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                    "intervalMs": 1000,
                    "maxDataPoints": 43200,
                },
            },
        ],
        # Only an empty result (no inventory, no findings yet) is "no data": nothing fires.
        "noDataState": "OK",
        # The store unreachable or the SQL failing is an error alert of its own.
        "execErrState": "Error",
        # Detectors already wait for evidence before a finding fires: page at once.
        "for": "0s",
        "labels": {
            "kind": kind,
            "severity": "critical" if kind in _CRITICAL_KINDS else "warning",
            "source": "planewatch-grafana",
        },
        "annotations": {
            "summary": f"{{{{ $values.B.Value }}}} {kind} finding(s) firing on plane {plane}: {_detector_summary(kind)}",
            "runbook": runbook.format(kind=kind, plane=plane, subject=_SUBJECT_HINT, fabric="{{ $labels.fabric }}",
                                      fingerprint="-"),
        },
    }


def alert_rules_file(*, datasource_uid: str = DATASOURCE_UID, folder: str = FOLDER) -> dict[str, Any]:
    """The alerting provisioning document (``provisioning/alerting/*.yaml``) with every rule."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": folder,
                "interval": INTERVAL,
                "rules": [rule_for_kind(kind, datasource_uid=datasource_uid) for kind in KINDS],
            }
        ],
    }

"""Delivery of planewatch's findings to pagers (Prometheus Alertmanager's v2 API)."""

from planewatch.alerting.alertmanager import (
    RUNBOOK_HINTS,
    AlertmanagerClient,
    Delivery,
    finding_labels,
    finding_to_alert,
    plane_names_from,
    rfc3339,
)

__all__ = [
    "RUNBOOK_HINTS",
    "AlertmanagerClient",
    "Delivery",
    "finding_labels",
    "finding_to_alert",
    "plane_names_from",
    "rfc3339",
]

"""gNMI collector: STREAM subscriptions (via pygnmi) to switches' counters, oper-status and FDB.

Public API: :class:`GnmiCollector` (the :class:`~planewatch.collectors.Collector` for gNMI)
and :class:`GnmiOptions`; :class:`DeviceDecoder` and :func:`diff_fdb` are usable on their own.
"""

from planewatch.collectors.gnmi.collector import GnmiCollector, GnmiOptions
from planewatch.collectors.gnmi.credentials import ConfigurationError
from planewatch.collectors.gnmi.decode import DeviceDecoder
from planewatch.collectors.gnmi.fdb import diff_fdb

__all__ = ["ConfigurationError", "DeviceDecoder", "GnmiCollector", "GnmiOptions", "diff_fdb"]

"""Self-contained HTML incident reports: per-plane series, findings and events on one timeline.

:func:`build_report` queries the store, :func:`render` turns the result into one HTML
page with inline SVG plots (no scripts, no external resources); ``planewatch report``
is the command line around both.
"""

from planewatch.report.document import GENERATOR, Report, build_report, default_window, render

__all__ = ["GENERATOR", "Report", "build_report", "default_window", "render"]

"""Assemble and render the incident report: store -> :class:`Report` -> one self-contained HTML page.

Gathering (queries) and rendering (template) are separate so a test can check what the
report *says* without parsing HTML, and the HTML can be checked in a browser without
re-deriving the data. Findings and the event table come from :mod:`planewatch.forensics`,
so the report tells the same story as ``planewatch query alerts`` / ``timeline``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

import planewatch
from planewatch.cli.output import format_time
from planewatch.forensics import QueryableStore, Window, alerts, timeline
from planewatch.report import plots
from planewatch.report.context import PlaneInfo, has_port_roles, planes as inventory_planes
from planewatch.report.series import Grid, Series, bgp_churn, flood_pps, grid, traffic_share

#: The page lists at most this many folded timeline rows; the rest is one CLI command away.
MAX_EVENTS = 400
#: Changes of one kind on one plane within this many seconds fold into one table row.
EVENT_FOLD_SECONDS = 10
GENERATOR = "planewatch report"
#: At least this much normal time either side of the findings in the default window.
MARGIN_SECONDS = 300.0


@dataclasses.dataclass(frozen=True)
class FindingRow:
    """One fault, as the summary table shows it."""

    kind: str
    plane: int
    subject: str
    severity: str
    state: str
    began: float
    detected: float | None
    resolved: float | None
    summary: str

    @property
    def duration(self) -> float | None:
        """Seconds from when the fault began to when it was resolved (None while firing)."""
        return None if self.resolved is None else self.resolved - self.began

    @property
    def detection_delay(self) -> float | None:
        return None if self.detected is None else self.detected - self.began


@dataclasses.dataclass(frozen=True)
class PlaneSummary:
    """One plane's numbers outside and inside the findings' spans: what the plots show, as figures."""

    plane: int
    share_outside: float | None
    share_during: float | None
    flood_outside: float | None
    flood_during: float | None
    churn_events: float


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything the page shows, already queried."""

    title: str
    fabric: str
    start: float
    end: float
    bucket: int
    plane: int
    planes: list[PlaneInfo]
    findings: list[FindingRow]
    series: dict[str, Series]
    events: list[dict[str, Any]]
    events_total: int
    generated: float
    version: str
    notes: list[str] = dataclasses.field(default_factory=list)
    """What the reader must know to trust the plots (missing inventory, truncated tables)."""

    def summaries(self) -> list[PlaneSummary]:
        """Per plane: mean share and broadcast outside vs during findings, and churn over the window.

        "During" is any bucket that starts inside a finding's span (began to resolved, or
        the window's end while still firing); None when the window has no such bucket.
        """
        spans_ = [(f.began, f.resolved if f.resolved is not None else self.end) for f in self.findings]
        share, flood, churn = self.series["share"], self.series["flood"], self.series["churn"]
        inside = [any(a <= t < b for a, b in spans_) for t in share.times]

        def mean(values: list[float | None], during: bool) -> float | None:
            picked = [v for v, flag in zip(values, inside) if flag == during and v is not None]
            return sum(picked) / len(picked) if picked else None

        return [
            PlaneSummary(
                plane=p.plane,
                share_outside=mean(share.values.get(p.plane, []), False),
                share_during=mean(share.values.get(p.plane, []), True),
                flood_outside=mean(flood.values.get(p.plane, []), False),
                flood_during=mean(flood.values.get(p.plane, []), True),
                churn_events=sum(v or 0.0 for v in churn.values.get(p.plane, [])),
            )
            for p in self.planes
        ]


def build_report(
    store: QueryableStore,
    start: float,
    end: float,
    *,
    bucket: int | None = None,
    plane: int = 0,
    title: str | None = None,
    now: float | None = None,
) -> Report:
    """Query everything the report shows for ``[start, end]`` (``plane`` 0 = every plane)."""
    window_grid: Grid = grid(start, end, bucket)
    known = inventory_planes(store)
    ids = sorted({p.plane for p in known})
    findings = find(store, start, end, plane)
    events = timeline(store, Window(start, end, plane), bucket_seconds=EVENT_FOLD_SECONDS).to_pylist()
    fabric = ", ".join(sorted({p.fabric for p in known if p.fabric})) or "unknown fabric"
    notes = []
    if not has_port_roles(store):
        notes.append(
            "The store has no switch inventory (table switches), so it cannot tell server-facing ports from uplinks: "
            "traffic share and broadcast+multicast are empty. planewatch records the inventory each time it starts "
            "with one; a store written before that cannot be plotted per port role."
        )
    return Report(
        title=title or f"Incident report: {fabric}, {format_time(start)} UTC",
        fabric=fabric,
        start=start,
        end=end,
        bucket=window_grid.bucket,
        plane=plane,
        planes=known,
        findings=findings,
        series={
            "share": traffic_share(store, window_grid, ids),
            "flood": flood_pps(store, window_grid, ids),
            "churn": bgp_churn(store, window_grid, ids),
        },
        events=events[:MAX_EVENTS],
        events_total=len(events),
        generated=time.time() if now is None else now,
        version=planewatch.__version__,
        notes=notes,
    )


def find(store: QueryableStore, start: float, end: float, plane: int = 0) -> list[FindingRow]:
    """Faults with a finding row in the window, from :func:`planewatch.forensics.alerts`."""
    rows = alerts(store, Window(start, end, plane)).to_pylist()
    return [
        FindingRow(
            kind=r["kind"], plane=r["plane"], subject=r["subject"], severity=r["severity"], state=r["state"],
            began=_seconds(r["began"]) or start, detected=_seconds(r["fired"]), resolved=_seconds(r["resolved"]),
            summary=r["latest_summary"],
        )
        for r in rows
    ]


def default_window(store: QueryableStore, span: tuple[float, float]) -> tuple[float, float]:
    """The window an engineer most likely wants when they give no --from/--to.

    Around the findings: from before the first fault began to after the last one
    resolved, with a margin of 5 minutes or half the incident's length (whichever is
    longer) to show the normal state either side. With no findings: the last hour of
    data. Always clipped to the data the store holds (``span``).
    """
    faults = find(store, span[0], span[1])
    if not faults:
        return max(span[0], span[1] - 3600.0), span[1]
    first = min(f.began for f in faults)
    last = max(f.resolved if f.resolved is not None else span[1] for f in faults)
    margin = max(MARGIN_SECONDS, (last - first) / 2)
    return max(span[0], first - margin), min(span[1], last + margin)


def spans(report: Report) -> list[plots.Span]:
    """Findings as shaded spans; one still firing runs to the window's end."""
    out = []
    for f in report.findings:
        end = f.resolved if f.resolved is not None else report.end
        when = f"{format_time(f.began)} → {format_time(f.resolved) if f.resolved else 'still firing'}"
        subject = f" {f.subject}" if f.subject else ""
        out.append(plots.Span(f"{f.kind} plane {f.plane}{subject}: {when}", f.plane, f.began, f.detected, end,
                              f.resolved is not None))
    return out


def render(report: Report) -> str:
    """The report as one HTML document: inline CSS and SVG, no scripts, no external references."""
    window = (report.start, report.end)
    shaded = spans(report)
    figures = [
        ("share", "Traffic share",
         "Fraction of the fabric's server-facing bytes (ToR ports that are not uplinks, in+out) carried by each plane. "
         f"Healthy planes sit at 1/{max(1, len(report.planes))}; a failed plane drops to 0 and the rest pick up its share.",
         plots.series_svg(report.series["share"], "share", report.planes, shaded, window, highlight=report.plane,
                          ylim=(0.0, 1.0))),
        ("flood", "Broadcast + multicast",
         "Broadcast and multicast packets per second received on server-facing ports: a storm or a loop shows here first.",
         plots.series_svg(report.series["flood"], "flood", report.planes, shaded, window, highlight=report.plane)),
        ("churn", "BGP churn",
         f"BGP session state changes plus route updates and withdraws per {report.bucket} s bucket (log scale above 1).",
         plots.series_svg(report.series["churn"], "churn", report.planes, shaded, window, highlight=report.plane,
                          log=True)),
        ("findings", "Findings", "When each fault began, was detected and was resolved, as planewatch's detectors saw it.",
         plots.findings_svg(shaded, report.planes, window)),
    ]
    return _environment().get_template("report.html.j2").render(
        report=report,
        figures=[{"key": k, "heading": h, "caption": c, "svg": Markup(svg)} for k, h, c, svg in figures],
        colours={p.plane: plots.colour(report.planes, p.plane) for p in report.planes},
        generator=GENERATOR,
    )


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,  # switch names, summaries and titles come from the network and the command line
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = lambda seconds: format_time(seconds) if seconds is not None else "-"
    env.filters["duration"] = _duration
    env.filters["cell"] = _cell
    env.filters["share"] = lambda value: "-" if value is None else f"{value * 100:.1f} %"
    env.filters["number"] = lambda value: "-" if value is None else f"{value:.1f}"
    return env


def _template_source(name: str) -> str:
    return resources.files("planewatch.report").joinpath("templates", name).read_text(encoding="utf-8")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return format_time(_seconds(value))
    return "" if value is None else str(value)


def _seconds(value: dt.datetime | None) -> float | None:
    """A ClickHouse DateTime64 as epoch seconds; None and the 1970 of minIf/maxIf over no rows as None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    seconds = value.timestamp()
    return None if seconds <= 0 else seconds

"""Static SVG plots for the incident report, drawn with matplotlib.

Why SVG from matplotlib rather than a JavaScript chart library: the report is one file
attached to a postmortem ticket and committed as an example, so it must be small, render
with JavaScript disabled, print, and never fetch anything. An inline plotly.js bundle is
~4.5 MB per report; these SVGs are a few tens of kB.

Every figure has the same size, margins and x limits, so stacked in the page they read as
one timeline: a finding's shaded span lines up across traffic share, broadcast and churn.
Lines carry ids (``share-plane-2``) and ``<title>`` tooltips so a reader hovering a line
sees which plane it is, and a test can find each plane's path in the DOM.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import math
import re

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.colors import is_color_like, to_hex
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from planewatch.report.context import PlaneInfo
from planewatch.report.series import Series

UTC = dt.timezone.utc
WIDTH_IN, HEIGHT_IN = 11.0, 2.6
# Fixed margins (figure fractions): the legend sits in the right margin, so every
# figure's plotting area spans exactly the same x range on the page.
MARGINS = {"left": 0.075, "right": 0.84, "top": 0.88, "bottom": 0.2}
PALETTE = ("#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
# Neutral, so a finding's shading never looks like one plane's line colour.
FINDING_COLOUR = "#555555"
STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, small, and the browser's font renders it
    # Measured with DejaVu Sans (shipped inside matplotlib, so layout is the same on every
    # machine); the SVG names the family and the browser falls back to any sans-serif.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclasses.dataclass(frozen=True)
class Span:
    """A finding on the timeline: shaded from ``began`` to ``end``, marked where it was detected."""

    label: str
    plane: int
    began: float
    detected: float | None
    end: float
    resolved: bool


def colour(planes: list[PlaneInfo], plane: int) -> str:
    """A plane keeps its colour in every plot and in the tables.

    Fabrics often name planes after colours ("blue", "green"): such a plane is drawn in
    that colour (matplotlib's softer ``tab:`` shade when there is one), so "plane red"
    is never the purple line. Other names, and a colour two planes would share, fall
    back to a fixed palette by plane order.
    """
    chosen: dict[int, str] = {}
    used: set[str] = set()
    ordered = sorted(planes, key=lambda p: p.plane)
    for info in ordered:
        named = _named_colour(info.name)
        if named and named not in used:
            chosen[info.plane] = named
            used.add(named)
    spare = (c for c in PALETTE if c not in used)
    for info in ordered:
        if info.plane not in chosen:
            chosen[info.plane] = next(spare, "#7f7f7f")
    return chosen.get(plane, "#7f7f7f")


def _named_colour(name: str) -> str | None:
    name = name.strip().lower()
    for candidate in (f"tab:{name}", name):
        if name and is_color_like(candidate) and not _is_numeric(name):
            return to_hex(candidate)
    return None


def _is_numeric(text: str) -> bool:
    """"0.5" is a grey to matplotlib, but a plane called "1" is not asking for a colour."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def series_svg(
    series: Series,
    key: str,
    planes: list[PlaneInfo],
    spans: list[Span],
    window: tuple[float, float],
    *,
    highlight: int = 0,
    log: bool = False,
    ylim: tuple[float, float] | None = None,
) -> str:
    """One series as an inline ``<svg>``: a line per plane, findings shaded."""
    with matplotlib.rc_context(_style(key)):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        figure.subplots_adjust(**MARGINS)
        axes = figure.add_subplot()
        _shade(axes, key, spans)
        times = [dt.datetime.fromtimestamp(t, UTC) for t in series.times]
        titles: dict[str, str] = {}
        for info in planes:
            values = [math.nan if v is None else v for v in series.values.get(info.plane, [])]
            if not values:
                continue
            gid = f"{key}-plane-{info.plane}"
            faded = highlight and info.plane != highlight
            axes.plot(
                times, values, gid=gid, label=f"plane {info.label}", color=colour(planes, info.plane),
                linewidth=2.4 if highlight == info.plane else 1.4, alpha=0.35 if faded else 1.0,
                marker="o" if len(values) <= 40 else None, markersize=2.5,
            )
            titles[gid] = f"plane {info.label}: {series.name} ({series.unit})"
        if log:
            axes.set_yscale("symlog", linthresh=1.0)
        if ylim:
            axes.set_ylim(*ylim)
        else:
            axes.set_ylim(bottom=0)
        axes.set_title(f"{series.name} per plane", loc="left", fontsize=10, fontweight="bold")
        axes.set_ylabel(series.unit)
        _time_axis(axes, window)
        axes.grid(True, linewidth=0.4, alpha=0.5)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        return _svg(figure, key, titles, _span_titles(key, spans))


def findings_svg(spans: list[Span], planes: list[PlaneInfo], window: tuple[float, float]) -> str:
    """The findings lane: one bar per finding from began to resolved, a tick where it was detected."""
    with matplotlib.rc_context(_style("findings")):
        rows = max(1, len(spans))
        figure = Figure(figsize=(WIDTH_IN, max(1.3, 0.9 + 0.45 * rows)))
        figure.subplots_adjust(left=MARGINS["left"], right=MARGINS["right"], top=0.78, bottom=0.35 if rows < 3 else 0.2)
        axes = figure.add_subplot()
        titles: dict[str, str] = {}
        for row, span in enumerate(spans):
            start = dt.datetime.fromtimestamp(span.began, UTC)
            length = dt.timedelta(seconds=max(0.0, span.end - span.began))
            gid = f"finding-{row}"
            axes.barh(row, length, left=start, height=0.4, color=colour(planes, span.plane), alpha=0.8,
                      gid=gid, hatch=None if span.resolved else "//")
            if span.detected is not None:
                axes.plot([dt.datetime.fromtimestamp(span.detected, UTC)], [row], marker="v", color="black",
                          markersize=6, gid=f"finding-{row}-detected")
            axes.text(dt.datetime.fromtimestamp(max(span.began, window[0]), UTC), row - 0.42,
                      span.label.split(":")[0], fontsize=8, va="bottom", clip_on=True)
            titles[gid] = span.label
        axes.set_yticks([])
        axes.set_ylim(-0.8, rows - 0.4)
        axes.invert_yaxis()
        axes.set_title("findings (bar: began → resolved, ▼ detected, hatched: still firing)",
                       loc="left", fontsize=10, fontweight="bold")
        if not spans:
            axes.text(0.5, 0.5, "no findings in this window", transform=axes.transAxes, ha="center", va="center")
        _time_axis(axes, window)
        axes.grid(True, axis="x", linewidth=0.4, alpha=0.5)
        return _svg(figure, "findings", titles, {})


def _style(key: str) -> dict:
    """The shared style, with clip-path ids salted per figure.

    The salt makes ids stable (the same data gives the same file) and, being different
    per figure, keeps them unique when several SVGs are inlined into one page.
    """
    return {**STYLE, "svg.hashsalt": f"planewatch-report-{key}"}


def _shade(axes, key: str, spans: list[Span]) -> None:
    for row, span in enumerate(spans):
        axes.axvspan(dt.datetime.fromtimestamp(span.began, UTC), dt.datetime.fromtimestamp(span.end, UTC),
                     color=FINDING_COLOUR, alpha=0.10, linewidth=0, gid=f"{key}-span-{row}")
        if span.detected is not None:
            axes.axvline(dt.datetime.fromtimestamp(span.detected, UTC), color=FINDING_COLOUR, alpha=0.6,
                         linewidth=0.8, linestyle="--")


def _span_titles(key: str, spans: list[Span]) -> dict[str, str]:
    return {f"{key}-span-{row}": span.label for row, span in enumerate(spans)}


def _time_axis(axes, window: tuple[float, float]) -> None:
    axes.set_xlim(dt.datetime.fromtimestamp(window[0], UTC), dt.datetime.fromtimestamp(window[1], UTC))
    locator = AutoDateLocator(tz=UTC, minticks=5, maxticks=12)
    axes.xaxis.set_major_locator(locator)
    seconds = window[1] - window[0] < 3600
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S" if seconds else "%m-%d %H:%M", tz=UTC))
    axes.set_xlabel("UTC")


# matplotlib numbers its groups per figure (axes_1, line2d_3 ...): nothing refers to them,
# but several figures in one page would repeat them, so they get the figure's key.
_NUMBERED_ID = re.compile(r'\bid="([A-Za-z][\w.]*_\d+)"')
_ROOT = re.compile(r'<svg\b[^>]*?\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"')


def _svg(figure: Figure, key: str, titles: dict[str, str], span_titles: dict[str, str]) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog), sized by CSS, with tooltips."""
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # Scale with the page (the viewBox keeps the aspect ratio) instead of fixed points.
    text = _ROOT.sub(lambda m: m.group(0).replace(f'width="{m.group(1)}pt"', 'width="100%"')
                     .replace(f'height="{m.group(2)}pt"', 'height="auto"'), text, count=1)
    text = _NUMBERED_ID.sub(lambda m: f'id="{key}-{m.group(1)}"', text)
    for gid, title in {**titles, **span_titles}.items():
        opening = f'<g id="{gid}">'
        text = text.replace(opening, f"{opening}\n   <title>{html.escape(title)}</title>", 1)
    return text

"""The incident report as an engineer opens it: rendered by a real browser, offline.

The plane-down scenario (plane 2 of 4 fails at +60 s for 120 s) is rendered to HTML and
loaded from disk by headless Chromium with name resolution disabled. The test reads the
DOM Chromium built (not our own string) and Chromium's NetLog (every request it tried).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headless_chromium import CHROMIUM, parse, render
from planewatch.report import build_report, render as render_report
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore
from tooling import require_tool

SERIES = ("share", "flood", "churn")
PLANES = (1, 2, 3, 4)


@pytest.fixture
def report_file(plane_down_store: EmbeddedStore, plane_down_recording: Recording, tmp_path: Path) -> Path:
    report = build_report(plane_down_store, plane_down_recording.start, plane_down_recording.end,
                          title="Plane 2 <outage> & recovery")
    page = tmp_path / "incident.html"
    page.write_text(render_report(report), encoding="utf-8")
    return page


def test_chromium_renders_every_plot_with_a_path_per_plane(report_file: Path, tmp_path: Path):
    require_tool(CHROMIUM)
    rendered = render(report_file, tmp_path)
    dom = parse(rendered.dom)

    figures = {f.attrs["data-series"]: f for f in dom.find_all("figure") if "data-series" in f.attrs}
    assert set(figures) == {*SERIES, "findings"}
    for key in SERIES:
        assert len(figures[key].find_all("svg")) == 1, f"{key}: one inline SVG"
        for plane in PLANES:
            groups = figures[key].find_all("g", id=f"{key}-plane-{plane}")
            assert len(groups) == 1, f"{key}: no line for plane {plane}"
            paths = groups[0].find_all("path")
            assert paths and all(p.attrs.get("d") for p in paths), f"{key}: plane {plane} has no drawn path"
            assert f"plane {plane}" in groups[0].find_all("title")[0].all_text()  # hover tooltip
        # the finding is shaded on every plot of the shared timeline
        assert figures[key].find_all("g", id=f"{key}-span-0"), f"{key}: the finding's span is not shaded"
    # one time axis: every plot shows the same window, so the same tick labels
    ticks = {key: re.findall(r"\d\d:\d\d:\d\d", figures[key].all_text()) for key in (*SERIES, "findings")}
    assert len({tuple(t) for t in ticks.values()}) == 1 and ticks["share"], ticks


def test_findings_table_lists_plane_2_failure_and_escapes_text(report_file: Path, tmp_path: Path):
    require_tool(CHROMIUM)
    dom = parse(render(report_file, tmp_path).dom)
    rows = dom.find_all("table", id="findings-table")[0].find_all("tr")[1:]
    assert [(r.attrs["data-kind"], r.attrs["data-plane"]) for r in rows] == [("plane_failure", "2")]
    cells = [td.all_text().strip() for td in rows[0].find_all("td")]
    assert cells[0] == "plane_failure" and cells[1] == "2"
    assert "2m" in cells[7]  # lasted about two minutes
    events = dom.find_all("table", id="events-table")[0].find_all("tr")[1:]
    assert {r.attrs["data-source"] for r in events} >= {"bgp", "port", "finding"}
    # the title went through autoescaping: text in the DOM, not markup
    assert dom.find_all("h1")[0].all_text() == "Plane 2 <outage> & recovery"
    assert not dom.find_all("outage")


def test_the_report_makes_no_request(report_file: Path, tmp_path: Path):
    require_tool(CHROMIUM)
    html = report_file.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!#)", html), "a CSS url() other than a local #reference"
    for attribute, value in re.findall(r'\s((?:xlink:)?href|src)="([^"]*)"', html):
        assert value.startswith("#") or value.startswith("data:"), f"{attribute}={value} would be fetched"
    assert 10_000 < len(html.encode()) < 1_000_000

    rendered = render(report_file, tmp_path / "page")
    assert rendered.page_requests() == []


def test_the_request_check_would_see_a_page_fetch(tmp_path: Path):
    """The NetLog check above can fail: a page with a remote image is caught (the lookup goes nowhere)."""
    require_tool(CHROMIUM)
    page = tmp_path / "fetching.html"
    page.write_text('<!DOCTYPE html><img src="http://fetch-probe.invalid/x.png">', encoding="utf-8")
    rendered = render(page, tmp_path)
    assert [r["url"] for r in rendered.page_requests()] == ["http://fetch-probe.invalid/x.png"]

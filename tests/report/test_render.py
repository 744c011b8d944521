"""What the page says, in-process: escaping of store values, and a still-firing finding."""

from __future__ import annotations

import time

from planewatch.report import build_report, render
from planewatch.schemas import BgpSession, Finding
from planewatch.store.embedded import EmbeddedStore

HOSTILE = '<img src=x onerror="alert(1)">'


def test_store_values_are_escaped_and_an_open_finding_runs_to_the_window_end(chdb_store: EmbeddedStore):
    """A switch or server name is whatever the network says: it must come out as text, never markup."""
    t0 = float(int(time.time()) // 60 * 60 - 600)
    chdb_store.write([
        BgpSession(ts=t0 + 10, plane=1, fabric="f<1>", node=HOSTILE, protocol="p", peer_ip="10.1.255.1", state="Established"),
        BgpSession(ts=t0 + 70, plane=1, fabric="f<1>", node=HOSTILE, protocol="p", peer_ip="10.1.255.1", state="Active"),
        Finding(ts=t0 + 72, plane=1, fabric="f<1>", fingerprint="fp", kind="plane_failure", subject=HOSTILE,
                severity="critical", status="firing", started_at=t0 + 70, summary="<script>alert(2)</script>"),
    ])
    report = build_report(chdb_store, t0, t0 + 300)
    html = render(report)

    assert HOSTILE not in html and "<script>" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html  # in the event table and the findings table
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    [finding] = report.findings
    assert finding.resolved is None and finding.duration is None
    assert '<span class="firing">still firing</span>' in html
    assert "f<1>" not in html and "f&lt;1&gt;" in html  # the fabric name in the header
    # no inventory in this store: the report says why share and broadcast are empty instead of showing nothing
    assert any("no switch inventory" in note for note in report.notes)
    assert "no switch inventory" in html


def test_per_plane_table_puts_the_outage_in_numbers(plane_down_store: EmbeddedStore, plane_down_recording):
    """Plane 2 carries next to nothing while its finding is open; the others a third each; a quarter outside."""
    report = build_report(plane_down_store, plane_down_recording.start, plane_down_recording.end)
    [finding] = report.findings
    assert (finding.kind, finding.plane) == ("plane_failure", 2)
    rows = {s.plane: s for s in report.summaries()}
    assert rows[2].share_during < 0.05 and rows[2].flood_during < rows[1].flood_during / 4
    for plane in (1, 3, 4):
        assert abs(rows[plane].share_during - 1 / 3) < 0.03
        assert rows[plane].churn_events == 0
    for plane in (1, 2, 3, 4):
        assert abs(rows[plane].share_outside - 0.25) < 0.03
    assert rows[2].churn_events > 0
    assert '<table id="planes-table">' in render(report)

"""``planewatch report`` as an operator runs it: real processes on a store written by ``planewatch up``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLANEWATCH = [sys.executable, "-m", "planewatch"]
SMALL = ["--racks", "2", "--servers-per-rack", "4"]


def planewatch(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLANEWATCH, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plane 2 fails 60 s into a 300 s run, recorded flat out by ``planewatch up``."""
    data = tmp_path_factory.mktemp("report-cli") / "store"
    run = planewatch("up", "--data", str(data), "--scenario", "plane-down", "--plane", "2", "--at", "60",
                     "--for", "120", "--duration", "300", "--speed", "max", *SMALL)
    assert run.returncode == 0, run.stderr
    return data


def test_default_window_covers_the_incident_and_says_where_it_wrote(store: Path, tmp_path: Path):
    out = tmp_path / "incident.html"
    run = planewatch("report", "--data", str(store), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert f"wrote {out} (" in run.stdout and "KiB)" in run.stdout
    assert "1 finding(s)" in run.stdout
    html = out.read_text(encoding="utf-8")
    assert html.count('<figure class="plot"') == 4
    assert 'data-kind="plane_failure" data-plane="2"' in html
    assert out.stat().st_size < 1_000_000


def test_plane_focus_and_title(store: Path, tmp_path: Path):
    out = tmp_path / "p3.html"
    run = planewatch("report", "--data", str(store), "--out", str(out), "--plane", "3", "--title", "Plane 3 <quiet>")
    assert run.returncode == 0, run.stderr
    html = out.read_text(encoding="utf-8")
    assert "<h1>Plane 3 &lt;quiet&gt;</h1>" in html
    assert "No findings in this window." in html  # plane 2 failed, not plane 3
    assert "0 finding(s)" in run.stdout


def test_an_empty_window_says_what_the_store_holds(store: Path, tmp_path: Path):
    run = planewatch("report", "--data", str(store), "--out", str(tmp_path / "x.html"),
                     "--from", "2001-01-01T00:00:00Z", "--to", "2001-01-01T01:00:00Z")
    assert run.returncode == 1
    message = " ".join(run.stderr.split())
    assert "no data between 2001-01-01 00:00:00 and 2001-01-01 01:00:00 UTC; the store holds" in message
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.html").exists()


def test_backwards_window_and_bad_time_are_refused(store: Path, tmp_path: Path):
    backwards = planewatch("report", "--data", str(store), "--out", str(tmp_path / "x.html"), "--from", "now", "--to", "-1h")
    assert backwards.returncode == 2 and "is not after --from" in backwards.stderr
    garbage = planewatch("report", "--data", str(store), "--out", str(tmp_path / "x.html"), "--from", "yesterday-ish")
    assert garbage.returncode == 2 and "is not a time" in garbage.stderr


def test_no_store_is_a_clear_error(tmp_path: Path):
    run = planewatch("report", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x.html"))
    assert run.returncode == 2
    assert f"no store at {tmp_path / 'missing'}" in " ".join(run.stderr.split())


def test_rewrites_its_own_report_but_not_another_file_without_force(store: Path, tmp_path: Path):
    out = tmp_path / "incident.html"
    assert planewatch("report", "--data", str(store), "--out", str(out)).returncode == 0
    again = planewatch("report", "--data", str(store), "--out", str(out), "--title", "second")
    assert again.returncode == 0, again.stderr
    assert "<h1>second</h1>" in out.read_text(encoding="utf-8")

    notes = tmp_path / "notes.md"
    notes.write_text("my postmortem notes\n")
    refused = planewatch("report", "--data", str(store), "--out", str(notes))
    assert refused.returncode == 2 and "not a planewatch report; pass --force" in " ".join(refused.stderr.split())
    assert notes.read_text() == "my postmortem notes\n"
    forced = planewatch("report", "--data", str(store), "--out", str(notes), "--force")
    assert forced.returncode == 0, forced.stderr
    assert notes.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

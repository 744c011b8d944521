"""``planewatch bench detectors`` at a tiny size: every figure printed, exactly one plane finding.

No speed is asserted (a shared CI machine is too noisy); the full-size run is
``planewatch bench detectors`` (20,000 servers).
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from planewatch.bench import bench_app
from planewatch.bench.detectors import run_detectors_bench
from planewatch.streams import registry


def test_tiny_run_prints_every_figure_and_one_plane_finding():
    lines: list[str] = []
    result = run_detectors_bench(racks=2, servers_per_rack=6, planes=4, seconds=150.0, fault_at=50.0,
                                 fault_for=50.0, out=lines.append)
    text = "\n".join(lines)
    assert result.servers == 12 and result.records > 0
    assert result.storm_records == 12 * 2  # every server's two sessions to the failed plane
    assert result.plane_findings == 1 and result.other_plane_findings == 0
    assert "no-op consumer (reference):" in text
    assert "all detectors (DetectorSet):" in text and "records/s" in text
    for name in registry.available_detectors():
        assert f"{name} alone:" in text
    assert "plane findings for the failed plane 2: 1 plane_failure firing (+0 on other planes) - OK" in text
    assert result.peak_bytes is not None and result.retained_bytes is not None
    assert "detector memory (tracemalloc): peak" in text
    assert set(result.snapshot_bytes) == set(registry.available_detectors())
    assert all(size > 0 for size in result.snapshot_bytes.values())


def test_cli_command_runs_and_exits_0():
    app = typer.Typer()
    app.add_typer(bench_app, name="bench")
    result = CliRunner().invoke(app, ["bench", "detectors", "--racks", "2", "--servers-per-rack", "4",
                                      "--seconds", "150", "--no-memory"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "records/s" in result.output and "- OK" in result.output
    assert "detector memory" not in result.output

"""The sFlow benchmark runs end to end at a tiny size and prints both figures (speed itself is not asserted)."""

from __future__ import annotations

import re
from pathlib import Path

from sflow_corpus import corpus, require_tool
from typer.testing import CliRunner

from planewatch.bench import bench_app
from planewatch.bench.sflow import run_sflow_bench
from planewatch.collectors.sflow import pcap

RATE = r"[\d,]+ samples/s"


def test_bench_prints_ours_and_sfacctd_and_the_ratio() -> None:
    require_tool("sfacctd")
    lines: list[str] = []
    result = run_sflow_bench(datagrams=40, out=lines.append, repeats=1)
    text = "\n".join(lines)
    assert re.search(r"planewatch \(Python\): " + RATE, text), text
    assert re.search(r"sfacctd .*\(C\): " + RATE, text), text
    assert re.search(r"ratio planewatch/sfacctd: \d+\.\d\d", text), text
    assert result.datagrams == 40 and result.ours.samples == 40 * 7
    assert result.sfacctd_flow_samples == result.ip_flow_samples  # the C decoder saw the same IP samples


def test_bench_cli_reads_a_given_capture(tmp_path: Path) -> None:
    require_tool("sfacctd")
    capture = tmp_path / "corpus.pcap"
    pcap.write_pcap(capture, corpus() * 5)
    result = CliRunner().invoke(bench_app, ["sflow", "--pcap", str(capture), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "20 datagrams, 55 samples (35 flow, 20 counter)" in result.output
    assert "sfacctd" in result.output and "ratio planewatch/sfacctd" in result.output

"""`planewatch dashboards build`: the files it writes, what it prints, and the committed copies.

Proved here: build writes Grafana's provisioning layout, prints every file it wrote, is
deterministic (a second build changes nothing and drops dashboards that no longer exist),
passes options through to the files without writing a secret, and that the examples in
dashboards/examples and the tree deploy/compose.yaml mounts are exactly what the code
builds today (the failure message gives the command that refreshes them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planewatch.cli.app import app
from planewatch.dashboards.provisioning import DASHBOARDS_DIR, DATASOURCE_FILE, render_tree, validate_tree

REPO = Path(__file__).resolve().parents[2]
COMMITTED = {
    "dashboards/examples": REPO / "dashboards" / "examples",
    "deploy/grafana/provisioning": REPO / "deploy" / "grafana" / "provisioning",
}
runner = CliRunner()


def _tree(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*")) if path.is_file() and path.name != "README.md"}


def test_build_writes_grafanas_layout_and_prints_each_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = _tree(tmp_path)
    assert {"datasources/planewatch-clickhouse.yaml", "dashboards/planewatch.yaml",
            "alerting/planewatch-rules.yaml"} <= set(files)
    boards = [name for name in files if name.startswith("dashboards/planewatch/")]
    assert len(boards) >= 3 and all(name.endswith(".json") for name in boards)
    for name in files:
        assert f"wrote {tmp_path / name}" in result.output
    assert "checked against the keys Grafana reads" in result.output
    validate_tree(tmp_path)


def test_build_twice_changes_nothing_and_drops_stale_dashboards(tmp_path: Path) -> None:
    assert runner.invoke(app, ["dashboards", "build", "-o", str(tmp_path)]).exit_code == 0
    first = _tree(tmp_path)
    stale = tmp_path / DASHBOARDS_DIR / "removed-board.json"
    stale.write_text("{}", encoding="utf-8")
    assert runner.invoke(app, ["dashboards", "build", "-o", str(tmp_path)]).exit_code == 0
    assert _tree(tmp_path) == first and not stale.exists()


def test_build_options_reach_the_files_and_no_password_is_written(tmp_path: Path) -> None:
    secret = tmp_path / "ch.pass"
    secret.write_text("do-not-write-me", encoding="utf-8")
    result = runner.invoke(app, [
        "dashboards", "build", "-o", str(tmp_path / "out"), "--datasource-uid", "pw-test",
        "--clickhouse-host", "ch1.example", "--clickhouse-port", "8123", "--clickhouse-protocol", "http",
        "--clickhouse-user", "grafana_ro", "--clickhouse-database", "pw", "--clickhouse-password-file", str(secret),
        "--dashboards-path", "/var/lib/grafana/dashboards/planewatch",
    ])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    source = yaml.safe_load((out / DATASOURCE_FILE).read_text(encoding="utf-8"))["datasources"][0]
    assert source["uid"] == "pw-test"
    assert source["jsonData"] == {"host": "ch1.example", "port": 8123, "protocol": "http", "secure": False,
                                  "defaultDatabase": "pw", "username": "grafana_ro"}
    assert source["secureJsonData"] == {"password": f"$__file{{{secret}}}"}
    provider = yaml.safe_load((out / "dashboards" / "planewatch.yaml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/planewatch"
    text = "".join(_tree(out).values())
    assert "do-not-write-me" not in text
    board = json.loads(next((out / DASHBOARDS_DIR).glob("*.json")).read_text(encoding="utf-8"))
    assert '"uid": "pw-test"' in json.dumps(board)


def test_build_into_an_unwritable_place_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["dashboards", "build", "-o", str(blocker / "sub")])
    assert result.exit_code == 1 and "cannot write" in result.output


def test_help_teaches_with_examples() -> None:
    for command in ("build", "push"):
        result = runner.invoke(app, ["dashboards", command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "Examples" in result.output and f"planewatch dashboards {command}" in result.output


@pytest.mark.parametrize("where", sorted(COMMITTED))
def test_committed_provisioning_trees_are_up_to_date(where: str) -> None:
    expected = {path.as_posix(): text for path, text in render_tree().items()}
    committed = _tree(COMMITTED[where])
    assert sorted(committed) == sorted(expected), f"{where} is out of date: run  planewatch dashboards build --out {where}"
    for name, text in expected.items():
        assert committed[name] == text, f"{where}/{name} is out of date: run  planewatch dashboards build --out {where}"

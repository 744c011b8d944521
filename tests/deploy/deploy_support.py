"""What tests/deploy shares: where deploy/ is, planewatch's real command line, and the validators.

The deploy files are checked by the tools a user runs on them, without a container engine
or a cluster (neither exists here):

* ``docker compose config`` (Compose v2, built from source by scripts/deps/deploy.sh):
  validates deploy/compose.yaml against the Compose specification's schema, interpolates
  it and resolves anchors, merges, profiles and relative paths exactly as ``up`` would.
* ``kubectl kustomize`` (or ``kustomize build``): renders deploy/k8s as ``kubectl apply -k``
  would, generated ConfigMaps and image overrides included.
* ``kubernetes-validate --strict`` (PyPI, in its own venv): the rendered objects against
  the JSON schemas generated from each Kubernetes release's OpenAPI spec, with unknown
  fields rejected.
* ``amtool check-config`` (Debian's prometheus-alertmanager): the Alertmanager config.
* planewatch's own CLI (its Click command tree) parses every command line the files run,
  and planewatch's own settings readers accept every environment they set.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Iterable

import pytest
import typer
import yaml

from tooling import require_tool

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
EXAMPLE_INVENTORY = DEPLOY / "examples" / "inventory.yaml"

CLI_CONTRACT: dict[str, frozenset[str]] = {
    "init": frozenset({"--kafka", "--clickhouse", "--database", "--partitions", "--replication-factor", "--cluster"}),
    "collect": frozenset({"--inventory", "--kafka", "--no-gnmi", "--sflow-listen", "--bird"}),
    "stream": frozenset({"--kafka", "--clickhouse", "--inventory", "--database", "--config", "--workdir",
                         "--web-port", "--web-bind", "--alertmanager"}),
}
"""The planewatch subcommands and options deploy/ runs: the files may use nothing else,
and the CLI must offer all of it (test_cli_offers_every_option_the_deploy_files_use)."""

SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY($|_)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """An environment variable that would hold a secret value (``*_FILE`` names hold a path)."""
    return bool(SECRET_NAME.search(name)) and not name.upper().endswith("_FILE")


def pyproject_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


IMAGE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@sha256:[0-9a-f]{64})?$")


def image_tag(image: str) -> str | None:
    match = IMAGE.match(image)
    return match["tag"] if match else None


def is_pinned(image: str) -> bool:
    """A release tag with at least major.minor.patch (``latest``, ``4`` or ``4.1`` move) or a digest."""
    if "@sha256:" in image:
        return True
    tag = image_tag(image)
    return tag is not None and re.match(r"^v?\d+\.\d+\.\d+", tag) is not None


# -- planewatch's command line --------------------------------------------------------------


@functools.cache
def _cli() -> Any:
    """planewatch's Click command tree (Typer carries its own copy of Click: duck-typed here)."""
    from planewatch.cli.app import app

    return typer.main.get_command(app)


def cli_command(name: str) -> Any:
    return _cli().commands.get(name)


def cli_options(name: str) -> set[str]:
    command = cli_command(name)
    if command is None:
        return set()
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("-")}


def used_options(argv: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in argv[1:] if arg.startswith("--")}


def parse_with_cli(argv: list[str]) -> None:
    """Parse ``planewatch ARGV`` with the real CLI (types, choices, unknown options) without running it.

    Skips when the subcommand does not exist yet: test_cli_offers_every_option_the_deploy_files_use
    fails for that, once, with the whole list.
    """
    command = cli_command(argv[0])
    if command is None:
        pytest.skip(f"planewatch has no '{argv[0]}' command yet "
                    "(test_cli_offers_every_option_the_deploy_files_use fails for it)")
    missing = used_options(argv) - cli_options(argv[0])
    if missing:
        pytest.skip(f"planewatch {argv[0]} lacks {sorted(missing)} yet "
                    "(test_cli_offers_every_option_the_deploy_files_use fails for it)")
    try:
        command.make_context(argv[0], list(argv[1:]))
    except Exception as error:  # Click's UsageError / BadParameter / NoSuchOption
        message = error.format_message() if hasattr(error, "format_message") else repr(error)
        pytest.fail(f"planewatch {' '.join(argv)}: {message}")


def missing_from_cli() -> dict[str, list[str]]:
    """Per subcommand, what the deploy files rely on and the CLI does not offer."""
    missing: dict[str, list[str]] = {}
    for name, options in CLI_CONTRACT.items():
        if cli_command(name) is None:
            missing[name] = ["(the whole command)", *sorted(options)]
        elif gaps := sorted(options - cli_options(name)):
            missing[name] = gaps
    return missing


# -- running the validators -----------------------------------------------------------------


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    env.update(extra)
    return env


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=_clean_env(env or {}), cwd=cwd, input=input, capture_output=True, text=True,
                          timeout=timeout, check=False)


@functools.cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` (the command the README gives) when the CLI plugin answers, else ``docker-compose``."""
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ("docker", "compose")
    require_tool("docker-compose")
    return ("docker-compose",)


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([*compose_command(), "--project-directory", str(DEPLOY), "-f", str(COMPOSE_FILE), *args], env=env)


def kustomize_build(path: Path = K8S) -> str:
    if shutil.which("kubectl"):
        argv = ["kubectl", "kustomize", str(path)]
    else:
        require_tool("kustomize")
        argv = ["kustomize", "build", str(path)]
    result = run(argv)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stderr}"
    return result.stdout


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# -- Kubernetes objects ---------------------------------------------------------------------

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def workloads(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Iterable[dict[str, Any]], kind: str, name_prefix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix)]
    assert len(found) == 1, f"expected one {kind} named {name_prefix}*, found {[d['metadata']['name'] for d in found]}"
    return found[0]


VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(arg: str, values: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of command arguments (an undefined one stays as it is)."""
    return VAR_REF.sub(lambda m: values.get(m[1], m[0]), arg)

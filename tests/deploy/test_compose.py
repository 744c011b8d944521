"""deploy/compose.yaml, its Dockerfile and the files it mounts, checked by the tools a user runs.

No container engine runs here, so nothing is started: `docker compose config` validates the
file against the Compose specification and renders it exactly as `up` would, and every
planewatch command line in it is parsed by planewatch's own CLI. See deploy_support.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_support import (
    CLI_CONTRACT,
    COMPOSE_FILE,
    DEPLOY,
    EXAMPLE_INVENTORY,
    REPO,
    compose,
    is_pinned,
    is_secret_name,
    image_tag,
    missing_from_cli,
    parse_with_cli,
    pyproject_version,
    run,
    used_options,
)
from tooling import require_tool

PLANEWATCH_SERVICES = ("planewatch-init", "collector-gnmi", "collector-sflow", "collector-bird", "stream")
INIT = "planewatch-init"
CANARY = "canary-9f4c1e7b-not-a-real-password"


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Secret files as deploy/secrets/create.sh makes them, with a recognisable password."""
    path = tmp_path_factory.mktemp("secrets")
    for name in ("clickhouse-password", "grafana-admin-password"):
        (path / name).write_text(CANARY)
    (path / "fabric-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return path


@pytest.fixture(scope="module")
def env(secrets_dir: Path) -> dict[str, str]:
    return {"PLANEWATCH_INVENTORY": str(EXAMPLE_INVENTORY), "PLANEWATCH_SECRETS_DIR": str(secrets_dir)}


@pytest.fixture(scope="module")
def rendered(env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """`docker compose --profile bird config --format json`: the project as `up` would create it."""
    result = compose("--profile", "bird", "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(rendered: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return rendered[1]["services"]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


# -- the file is valid Compose --------------------------------------------------------------


def test_docker_compose_config_accepts_the_file(env: dict[str, str]) -> None:
    for profiles in ([], ["--profile", "bird"]):
        result = compose(*profiles, "config", "--quiet", env=env)
        assert result.returncode == 0, f"docker compose {' '.join(profiles)} config: {result.stderr}"


def test_the_whole_stack_is_there(services: dict[str, Any]) -> None:
    assert set(services) == {"kafka", "clickhouse", "grafana", "alertmanager", *PLANEWATCH_SERVICES}


def test_without_an_inventory_compose_says_what_to_set(secrets_dir: Path) -> None:
    result = compose("config", "--quiet", env={"PLANEWATCH_SECRETS_DIR": str(secrets_dir)})
    assert result.returncode != 0
    assert "set PLANEWATCH_INVENTORY to your fabric inventory" in result.stderr


def test_the_bird_collector_only_runs_when_asked_for(env: dict[str, str]) -> None:
    result = compose("config", "--services", env=env)
    assert result.returncode == 0, result.stderr
    assert "collector-bird" not in result.stdout.split()
    assert "collector-gnmi" in result.stdout.split()


# -- planewatch's command lines -------------------------------------------------------------


def test_cli_offers_every_option_the_deploy_files_use() -> None:
    missing = missing_from_cli()
    assert not missing, (
        "deploy/compose.yaml and deploy/k8s run planewatch commands the CLI does not offer yet: "
        + "; ".join(f"planewatch {name}: {', '.join(options)}" for name, options in missing.items())
    )


@pytest.mark.parametrize("name", PLANEWATCH_SERVICES)
def test_every_planewatch_command_is_one_the_cli_parses(services: dict[str, Any], name: str) -> None:
    argv = services[name]["command"]
    assert argv[0] in CLI_CONTRACT, f"{name} runs 'planewatch {argv[0]}', which deploy/ does not expect"
    unexpected = used_options(argv) - CLI_CONTRACT[argv[0]]
    assert not unexpected, f"{name}: options outside CLI_CONTRACT: {unexpected}"
    parse_with_cli(argv)


def test_collectors_split_the_protocols(services: dict[str, Any]) -> None:
    gnmi, sflow, bird = (services[n]["command"] for n in ("collector-gnmi", "collector-sflow", "collector-bird"))
    assert "--no-gnmi" not in gnmi and gnmi[gnmi.index("--sflow-listen") + 1] == "off"
    assert "--no-gnmi" in sflow and sflow[sflow.index("--sflow-listen") + 1] == "0.0.0.0:6343"
    assert "--no-gnmi" in bird and bird[bird.index("--sflow-listen") + 1] == "off"
    assert bird[bird.index("--bird") + 1] == "/var/run/calico/bird.ctl"
    for argv in (gnmi, sflow, bird):
        assert argv[argv.index("--kafka") + 1] == "kafka:9092"


def test_sflow_reaches_the_collector_from_the_switches(services: dict[str, Any]) -> None:
    ports = services["collector-sflow"]["ports"]
    assert [(p["target"], p["protocol"], p["published"], p.get("host_ip")) for p in ports] == [(6343, "udp", "6343", None)]


# -- start-up order -------------------------------------------------------------------------


def test_collectors_and_workers_start_after_init_succeeded(services: dict[str, Any]) -> None:
    for name in PLANEWATCH_SERVICES:
        if name == INIT:
            continue
        assert services[name]["depends_on"][INIT]["condition"] == "service_completed_successfully", name


def test_init_runs_once_after_kafka_and_clickhouse_are_healthy(services: dict[str, Any]) -> None:
    init = services[INIT]
    assert init["restart"] == "no"
    conditions = {k: v["condition"] for k, v in init["depends_on"].items()}
    assert conditions == {"kafka": "service_healthy", "clickhouse": "service_healthy"}
    argv = init["command"]
    assert argv[argv.index("--kafka") + 1] == "kafka:9092"
    assert argv[argv.index("--clickhouse") + 1] == "clickhouse:9000"
    assert argv[argv.index("--replication-factor") + 1] == "1", "one Kafka broker holds one replica"


def test_services_others_wait_for_have_healthchecks(services: dict[str, Any]) -> None:
    awaited = {dep for svc in services.values() for dep, how in svc.get("depends_on", {}).items()
               if how["condition"] == "service_healthy"}
    assert awaited >= {"kafka", "clickhouse"}
    for name in awaited:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} is waited for but has no healthcheck"


def test_kafka_is_one_kraft_node(services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert not any("ZOOKEEPER" in key for key in env)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics come from planewatch init"
    assert env["KAFKA_LOG_DIRS"] in {v["target"] for v in services["kafka"]["volumes"] if v["type"] == "volume"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "a KRaft cluster id is a base64 UUID"


# -- images ---------------------------------------------------------------------------------


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert is_pinned(service["image"]), f"{name}: {service['image']} is not pinned to a release"


def test_planewatch_services_run_the_image_built_from_this_checkout(services: dict[str, Any]) -> None:
    for name in PLANEWATCH_SERVICES:
        service = services[name]
        assert service["image"] == f"planewatch:{pyproject_version()}", name
        assert Path(service["build"]["context"]) == REPO
        assert Path(service["build"]["context"], service["build"]["dockerfile"]) == DEPLOY / "Dockerfile"


# -- secrets --------------------------------------------------------------------------------


def test_no_secret_file_s_content_reaches_the_rendered_project(rendered: tuple[str, dict[str, Any]]) -> None:
    """Passwords are files mounted as secrets: with a known password in the secret files, it
    appears nowhere in what compose would hand to the engine (environment, command lines,
    labels). gNMI credentials named by the inventory's password_env are the exception the
    inventory makes: compose passes them through by name (test_no_secret_is_written_in_the_compose_file)."""
    assert CANARY not in rendered[0]


def test_no_secret_is_written_in_the_compose_file(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        env = service.get("environment") or {}
        pairs = dict(e.split("=", 1) if "=" in e else (e, None) for e in env) if isinstance(env, list) else env
        for key, value in pairs.items():
            if is_secret_name(key):
                assert value is None, f"{name}: {key} has a value in compose.yaml; pass it through or use a secret file"
        argv = service.get("command") or []
        secret_args = [a for a in argv if re.search(r"passw|secret|token", str(a), re.IGNORECASE)]
        assert not secret_args, f"{name}: a secret on the command line"


def test_secret_files_are_read_by_the_services_that_need_them(services: dict[str, Any]) -> None:
    def secret_targets(name: str) -> set[str]:
        return {s["target"] for s in services[name].get("secrets", [])}

    for name in ("planewatch-init", "stream"):
        env = services[name]["environment"]
        assert env["PLANEWATCH_CLICKHOUSE_PASSWORD_FILE"] in secret_targets(name), name
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] in secret_targets("grafana")
    assert "/etc/planewatch/fabric-ca.pem" in secret_targets("collector-gnmi"), "the example inventory's ca_file"
    assert "/run/secrets/clickhouse_password" in " ".join(services["clickhouse"]["entrypoint"])


def _container_environment(project: dict[str, Any], name: str) -> dict[str, str]:
    """The service's environment, every mounted secret's path replaced by the file compose would mount there."""
    service = project["services"][name]
    files = {s["target"]: project["secrets"][s["source"]]["file"] for s in service.get("secrets", [])}
    env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
    return {k: files.get(v, v) for k, v in env.items()}


@pytest.mark.parametrize("name", PLANEWATCH_SERVICES)
def test_planewatch_accepts_each_service_s_environment(rendered: tuple[str, dict[str, Any]], name: str) -> None:
    """planewatch's own settings readers take what compose sets (variable names, values, secret files)."""
    from planewatch.kafka.settings import KafkaSettings
    from planewatch.store.server import ClickHouseSettings

    project = rendered[1]
    environ = _container_environment(project, name)
    argv = project["services"][name]["command"]
    kafka = KafkaSettings.from_env(argv[argv.index("--kafka") + 1], environ)
    assert kafka.security_protocol == "PLAINTEXT"
    if "--clickhouse" in argv:
        settings = ClickHouseSettings.from_env(argv[argv.index("--clickhouse") + 1], environ=environ)
        assert settings.user == "planewatch" == project["services"]["clickhouse"]["environment"]["CLICKHOUSE_USER"]
        assert settings.password.get_secret_value() == CANARY


def test_the_secrets_script_makes_readable_random_passwords_once(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    script = DEPLOY / "secrets" / "create.sh"
    first = run(["sh", str(script)], env={"PLANEWATCH_SECRETS_DIR": str(secrets)})
    assert first.returncode == 0, first.stderr
    assert "fabric-ca.pem: missing" in first.stderr
    passwords = {}
    for name in ("clickhouse-password", "grafana-admin-password"):
        path = secrets / name
        passwords[name] = path.read_text()
        assert re.fullmatch(r"[0-9a-f]{48}", passwords[name]), "48 hex digits, no newline"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, "compose mounts secret files as they are"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert passwords["clickhouse-password"] != passwords["grafana-admin-password"]
    again = run(["sh", str(script)], env={"PLANEWATCH_SECRETS_DIR": str(secrets)})
    assert again.returncode == 0 and "exists, kept" in again.stdout
    assert {n: (secrets / n).read_text() for n in passwords} == passwords


def test_secret_files_are_never_committed() -> None:
    secret_files = ["deploy/.env", "deploy/secrets/clickhouse-password", "deploy/secrets/fabric-ca.pem"]
    ignored = run(["git", "check-ignore", "--no-index", *secret_files], cwd=REPO)
    assert ignored.stdout.split() == secret_files
    kept = run(["git", "check-ignore", "--no-index", "deploy/secrets/create.sh"], cwd=REPO)
    assert kept.returncode == 1, "create.sh itself is part of the repository"


# -- what the services mount ----------------------------------------------------------------


def test_every_mounted_file_exists(services: dict[str, Any], env: dict[str, str]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind" and not volume["source"].startswith("/var/run/calico"):
                assert Path(volume["source"]).exists(), f"{name} mounts {volume['source']}, which does not exist"


def test_the_bird_collector_reaches_calico_s_socket_directory(services: dict[str, Any]) -> None:
    bird = services["collector-bird"]
    mounts = {v["target"]: v for v in bird["volumes"]}
    calico = mounts["/var/run/calico"]
    assert (calico["type"], calico["source"], calico.get("read_only")) == ("bind", "/var/run/calico", True)
    assert bird["uts"] == "host", "the node is named by the host's hostname"
    assert bird["user"] == "0:0" and bird["cap_drop"] == ["ALL"]


def test_stream_workers_can_be_scaled(services: dict[str, Any]) -> None:
    """`--scale stream=N` needs no fixed container name, no host port, and a table store per replica."""
    stream = services["stream"]
    assert "container_name" not in stream and not stream.get("ports")
    argv = stream["command"]
    workdir = argv[argv.index("--workdir") + 1]
    stores = [v for v in stream["volumes"] if v["target"] == workdir]
    assert stores and stores[0]["type"] == "volume" and not stores[0].get("source"), "an anonymous volume per replica"
    assert argv[argv.index("--alertmanager") + 1] == "http://alertmanager:9093"


def test_thresholds_file_is_one_planewatch_reads() -> None:
    from planewatch.streams.config import DetectorsConfig

    DetectorsConfig.load(DEPLOY / "thresholds.yaml")


# -- Grafana --------------------------------------------------------------------------------

DATASOURCE_KEYS = {"name", "type", "uid", "access", "orgId", "url", "user", "database", "basicAuth", "basicAuthUser",
                   "withCredentials", "isDefault", "jsonData", "secureJsonData", "version", "editable"}
CLICKHOUSE_JSON_KEYS = {"host", "port", "protocol", "secure", "username", "defaultDatabase", "tlsSkipVerify", "tlsAuth",
                        "tlsAuthWithCACert", "path", "dialTimeout", "queryTimeout", "version"}


def test_grafana_installs_the_clickhouse_plugin_before_it_starts(services: dict[str, Any]) -> None:
    env = services["grafana"]["environment"]
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+", env["GF_PLUGINS_PREINSTALL_SYNC"])
    assert "GF_INSTALL_PLUGINS" not in env, "deprecated; broken in Grafana 13.1"
    major = int(image_tag(services["grafana"]["image"]).split(".")[0])
    assert major >= 12, "plugins.preinstall_sync needs Grafana 12 or later"


def test_grafana_provisions_the_store_as_its_datasource(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    mounts = {v["target"]: v for v in grafana["volumes"]}
    provisioning = Path(mounts["/etc/grafana/provisioning"]["source"])
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    files = sorted((provisioning / "datasources").glob("*.yaml"))
    assert files, "no datasource provisioning file"
    doc = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    assert set(doc) <= {"apiVersion", "datasources", "deleteDatasources", "prune"} and doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    # Grafana ignores unknown keys silently: a misspelt one would just not apply.
    assert set(source) <= DATASOURCE_KEYS, set(source) - DATASOURCE_KEYS
    assert set(source["jsonData"]) <= CLICKHOUSE_JSON_KEYS, set(source["jsonData"]) - CLICKHOUSE_JSON_KEYS
    assert set(source["secureJsonData"]) == {"password"}
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["protocol"] == "native" and source["jsonData"]["port"] == 9000
    values = " ".join(str(v) for part in (source["jsonData"], source["secureJsonData"]) for v in part.values())
    env = grafana["environment"]
    for name in re.findall(r"\$__env\{(\w+)\}", values):
        assert name in env, f"the datasource reads $__env{{{name}}}, which the grafana service does not set"
    assert env["PLANEWATCH_CLICKHOUSE_HOST"] == "clickhouse"
    assert env["PLANEWATCH_CLICKHOUSE_USER"] == services["clickhouse"]["environment"]["CLICKHOUSE_USER"]
    assert source["secureJsonData"]["password"] == "$__file{/run/secrets/clickhouse_password}"
    assert "/run/secrets/clickhouse_password" in {s["target"] for s in grafana["secrets"]}


# -- Alertmanager ---------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool(services: dict[str, Any]) -> None:
    require_tool("amtool")
    mounts = {v["target"]: v for v in services["alertmanager"]["volumes"]}
    config = mounts["/etc/alertmanager/alertmanager.yml"]["source"]
    result = run(["amtool", "check-config", config])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--cluster.listen-address=" in services["alertmanager"]["command"]


def test_alertmanager_groups_and_inhibits_by_fabric_and_plane() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["alertname", "fabric", "plane"]
    (rule,) = config["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="plane_failure"'] and rule["equal"] == ["fabric", "plane"]


# -- the image ------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    lines, current = [], ""
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                lines.append((word.upper(), rest.strip()))
            current = ""
    return lines


def test_image_is_pinned_and_runs_planewatch_as_a_fixed_non_root_user() -> None:
    instructions = _dockerfile()
    base = [rest for word, rest in instructions if word == "FROM"]
    assert len(base) == 1 and is_pinned(base[0]) and base[0].startswith("python:3.11.")
    (user,) = [rest for word, rest in instructions if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid, so runAsNonRoot can check it"
    assert ("ENTRYPOINT", '["planewatch"]') in instructions
    k8s_uids = {int(m) for m in re.findall(r"runAsUser: (\d+)", "".join(p.read_text() for p in (DEPLOY / "k8s").glob("*.yaml")))}
    assert k8s_uids <= {int(uid), 0}, "the Kubernetes pods run as the image's user (or root, for BIRD's socket)"


def test_image_gets_the_same_package_as_pip_install_from_a_checkout(tmp_path: Path) -> None:
    """Build a wheel from exactly what the Dockerfile COPYs, and one from a copy of the checkout
    (what git tracks or would): the same files, so nothing the package needs is left out."""
    copied = tmp_path / "context"
    copied.mkdir()
    for word, rest in _dockerfile():
        if word == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                source = source.rstrip("/")
                src = REPO / source
                assert src.exists(), f"the Dockerfile copies {source}, which does not exist"
                if src.is_dir():
                    shutil.copytree(src, copied / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    (copied / source).write_bytes(src.read_bytes())

    def wheel_files(project: Path, out: Path) -> set[str]:
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(project)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        (wheel,) = out.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            return {n for n in archive.namelist() if ".dist-info/" not in n}

    checkout = tmp_path / "checkout"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    for name in listed.stdout.splitlines():
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    from_image = wheel_files(copied, tmp_path / "wheel-image")
    from_checkout = wheel_files(checkout, tmp_path / "wheel-checkout")
    assert from_image == from_checkout, f"missing from the image: {sorted(from_checkout - from_image)}"
    assert any(n.startswith("planewatch/schemas/sql/") for n in from_image), "the migrations travel with the package"


def test_dockerignore_keeps_the_build_context_to_what_is_copied() -> None:
    lines = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "everything is excluded first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {source.rstrip("/") for word, rest in _dockerfile() if word == "COPY" for source in rest.split()[:-1]}
    assert copied == allowed, f"copied, not in the context: {copied - allowed}; in the context, not copied: {allowed - copied}"

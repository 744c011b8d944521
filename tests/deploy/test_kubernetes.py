"""deploy/k8s, checked as `kubectl apply -k deploy/k8s` would send it, without a cluster.

The kustomization is rendered with `kubectl kustomize`; the objects are validated strictly
against the JSON schemas of every Kubernetes release from 1.25 to 1.37 (kubernetes-validate:
types, required fields, unknown fields). What a schema cannot see, and an API server or the
kubelet would only tell at run time, is checked here: selectors that match their pods,
$(VAR) references that resolve, mounts of declared volumes, Secrets and keys the README
creates, and every command line parsed by planewatch's own CLI. See deploy_support.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_support import (
    CLI_CONTRACT,
    DEPLOY,
    K8S,
    by_kind,
    expand,
    is_pinned,
    is_secret_name,
    kustomize_build,
    load_all,
    one,
    parse_with_cli,
    pod_spec,
    pyproject_version,
    run,
    used_options,
    workloads,
    VAR_REF,
)
from tooling import require_tool

VERSIONS = [f"1.{minor}" for minor in range(25, 38)]
NAMESPACE = "planewatch"


@pytest.fixture(scope="module")
def rendered() -> str:
    return kustomize_build()


@pytest.fixture(scope="module")
def docs(rendered: str) -> list[dict[str, Any]]:
    return load_all(rendered)


@pytest.fixture(scope="module")
def settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    return one(docs, "ConfigMap", "planewatch-settings")["data"]


@pytest.fixture(scope="module")
def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    return one(docs, "ConfigMap", "planewatch-config")["data"]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def planewatch_containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(doc, c) for doc in workloads(docs) for c in containers(doc) if c["image"].startswith("planewatch")]


def container_env(doc: dict[str, Any], container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Name -> value (a string) or valueFrom (a dict), envFrom ConfigMaps first, as the kubelet builds it."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", var.get("valueFrom"))
    return env


def argv_of(doc: dict[str, Any], container: dict[str, Any], docs: list[dict[str, Any]], node: str = "node-r1-s01") -> list[str]:
    env = container_env(doc, container, docs)
    values = {k: v for k, v in env.items() if isinstance(v, str)}
    values["NODE_NAME"] = node  # the downward API's spec.nodeName
    return [expand(arg, values) for arg in container.get("command", [])[1:] + container["args"]]


def test_kustomization_renders_everything_into_one_namespace(docs: list[dict[str, Any]]) -> None:
    assert one(docs, "Namespace", NAMESPACE)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert {d["kind"] for d in docs} == {"Namespace", "ServiceAccount", "ConfigMap", "Job", "Deployment", "DaemonSet",
                                         "StatefulSet", "Service", "PodDisruptionBudget"}
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("version", VERSIONS)
def test_objects_match_the_kubernetes_schemas_strictly(rendered: str, tmp_path: Path, version: str) -> None:
    require_tool("kubernetes-validate")
    manifest = tmp_path / "planewatch.yaml"
    manifest.write_text(rendered)
    result = run(["kubernetes-validate", "--strict", "--kubernetes-version", version, str(manifest)])
    problems = [line for line in result.stdout.splitlines() if not line.startswith("INFO")]
    assert result.returncode == 0 and not problems, "\n".join(problems) + result.stderr
    assert result.stdout.count("INFO") == len(load_all(rendered)), "every object was checked against a schema"


def test_no_secret_object_is_kept_in_the_repository(docs: list[dict[str, Any]]) -> None:
    assert not by_kind(docs, "Secret"), "Secrets are created with kubectl (deploy/README.md), never committed"
    assert not list(K8S.rglob("*secret*.yaml"))


# -- planewatch's command lines -------------------------------------------------------------


def test_command_lines_resolve_and_use_only_the_expected_options(docs: list[dict[str, Any]]) -> None:
    seen = set()
    for doc, container in planewatch_containers(docs):
        argv = argv_of(doc, container, docs)
        assert argv[0] in CLI_CONTRACT, f"{doc['metadata']['name']} runs 'planewatch {argv[0]}'"
        assert used_options(argv) <= CLI_CONTRACT[argv[0]], used_options(argv) - CLI_CONTRACT[argv[0]]
        assert not [a for a in argv if VAR_REF.search(a)], f"{doc['metadata']['name']}: unresolved $(VAR) in {argv}"
        seen.add(argv[0])
    assert seen == set(CLI_CONTRACT)


@pytest.mark.parametrize("workload", ["planewatch-init", "planewatch-collector-gnmi", "planewatch-collector-sflow",
                                      "planewatch-collector-bird", "planewatch-stream"])
def test_each_command_line_parses(docs: list[dict[str, Any]], workload: str) -> None:
    (doc,) = [d for d in workloads(docs) if d["metadata"]["name"] == workload]
    for container in containers(doc):
        parse_with_cli(argv_of(doc, container, docs))


def test_collectors_split_the_protocols(docs: list[dict[str, Any]]) -> None:
    def argv(name: str) -> list[str]:
        doc = one(docs, {"gnmi": "Deployment", "sflow": "Deployment", "bird": "DaemonSet"}[name], f"planewatch-collector-{name}")
        return argv_of(doc, containers(doc)[0], docs)

    gnmi, sflow, bird = argv("gnmi"), argv("sflow"), argv("bird")
    assert "--no-gnmi" not in gnmi and gnmi[gnmi.index("--sflow-listen") + 1] == "off"
    assert "--no-gnmi" in sflow and sflow[sflow.index("--sflow-listen") + 1] == "0.0.0.0:6343"
    assert "--no-gnmi" in bird and bird[bird.index("--sflow-listen") + 1] == "off"
    assert bird[bird.index("--bird") + 1] == "node-r1-s01=/var/run/calico/bird.ctl"


# -- images and pods ------------------------------------------------------------------------


def test_images_are_pinned_to_this_release(docs: list[dict[str, Any]]) -> None:
    for doc in workloads(docs):
        for container in containers(doc):
            assert is_pinned(container["image"]), container["image"]
            if container["image"].startswith("planewatch"):
                assert container["image"] == f"planewatch:{pyproject_version()}"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": "planewatch", "newTag": pyproject_version()}]
    assert kustomization["labels"][0]["pairs"]["app.kubernetes.io/version"] == pyproject_version()


def test_selectors_match_their_pods(docs: list[dict[str, Any]]) -> None:
    pods = {doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"] for doc in workloads(docs)}
    for doc in workloads(docs):
        if doc["kind"] != "Job":
            selector = doc["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods[doc["metadata"]["name"]].items(), doc["metadata"]["name"]
    for doc in [*by_kind(docs, "Service"), *by_kind(docs, "PodDisruptionBudget")]:
        selector = doc["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        matched = [name for name, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"{doc['kind']} {doc['metadata']['name']} selects {matched}"


def test_mounts_and_config_keys_exist(docs: list[dict[str, Any]], config: dict[str, str]) -> None:
    for doc in workloads(docs):
        volumes = {v["name"]: v for v in pod_spec(doc).get("volumes", [])}
        claims = {t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])}
        for container in containers(doc):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in claims, f"{doc['metadata']['name']}: {mount['name']}"
                volume = volumes.get(mount["name"], {})
                if "configMap" in volume and "subPath" in mount:
                    assert mount["subPath"] in one(docs, "ConfigMap", volume["configMap"]["name"])["data"]
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = container.get(probe, {}).get("tcpSocket", {}).get("port")
                assert port is None or port in ports
    assert set(config) == {"inventory.yaml", "thresholds.yaml"}


def test_every_pod_reads_the_settings_its_command_line_refers_to(docs: list[dict[str, Any]], settings: dict[str, str]) -> None:
    """Kubernetes leaves an undefined $(VAR) in place, so a missing one would reach planewatch verbatim."""
    for doc, container in planewatch_containers(docs):
        env = container_env(doc, container, docs)
        for arg in container["args"]:
            for name in VAR_REF.findall(arg):
                assert name in env, f"{doc['metadata']['name']}: $({name}) is not in the container's environment"
    assert settings["PLANEWATCH_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"


def test_pods_other_than_bird_meet_the_restricted_pod_security_standard(docs: list[dict[str, Any]]) -> None:
    for doc in workloads(docs):
        spec = pod_spec(doc)
        assert spec.get("automountServiceAccountToken") is False, doc["metadata"]["name"]
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in containers(doc):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True
            assert "resources" in container and "memory" in container["resources"]["limits"]
        if doc["kind"] != "DaemonSet":
            assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
            assert not [v for v in spec.get("volumes", []) if "hostPath" in v], doc["metadata"]["name"]


# -- the BIRD DaemonSet ---------------------------------------------------------------------


def test_bird_collector_runs_beside_every_calico_node_and_reads_its_socket(docs: list[dict[str, Any]]) -> None:
    bird = one(docs, "DaemonSet", "planewatch-collector-bird")
    spec = pod_spec(bird)
    (container,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/var/run/calico"]
    assert volumes[mount["name"]]["hostPath"] == {"path": "/var/run/calico", "type": "Directory"}
    assert mount["readOnly"] is True, "connect(2) to a socket works through a read-only mount"
    node = [e for e in container["env"] if e["name"] == "NODE_NAME"][0]
    assert node["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "$(NODE_NAME)=/var/run/calico/bird.ctl" in container["args"]
    assert not spec.get("hostNetwork")
    assert {"operator": "Exists"} in spec["tolerations"], "calico-node runs on tainted nodes too"
    # root only to connect to root's socket, with no capability left
    assert spec["securityContext"]["runAsUser"] == 0
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


# -- the stream workers ---------------------------------------------------------------------


def test_stream_workers_are_a_scalable_statefulset_with_their_own_table_store(docs: list[dict[str, Any]]) -> None:
    stream = one(docs, "StatefulSet", "planewatch-stream")
    assert stream["spec"]["replicas"] >= 2, "one worker per fabric and a standby"
    assert stream["spec"]["podManagementPolicy"] == "Parallel"
    (container,) = containers(stream)
    argv = container["args"]
    workdir = argv[argv.index("--workdir") + 1]
    (claim,) = stream["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": workdir} in container["volumeMounts"]
    assert pod_spec(stream)["securityContext"]["fsGroup"] == pod_spec(stream)["securityContext"]["runAsUser"]
    headless = one(docs, "Service", stream["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert one(docs, "PodDisruptionBudget", "planewatch-stream")["spec"]["maxUnavailable"] == 1


def test_collectors_never_run_twice_during_a_rollout(docs: list[dict[str, Any]]) -> None:
    for doc in by_kind(docs, "Deployment"):
        assert doc["spec"]["replicas"] == 1 and doc["spec"]["strategy"]["type"] == "Recreate", doc["metadata"]["name"]


def test_sflow_service_keeps_the_switches_source_addresses(docs: list[dict[str, Any]]) -> None:
    service = one(docs, "Service", "planewatch-sflow")
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["protocol"]) == (6343, "UDP")
    sflow = one(docs, "Deployment", "planewatch-collector-sflow")
    (container,) = containers(sflow)
    assert {"name": port["targetPort"], "containerPort": 6343, "protocol": "UDP"} in container["ports"]


def test_init_job_creates_topics_for_the_cluster(docs: list[dict[str, Any]], settings: dict[str, str]) -> None:
    job = one(docs, "Job", "planewatch-init")
    argv = argv_of(job, containers(job)[0], docs)
    assert argv[0] == "init"
    assert int(argv[argv.index("--partitions") + 1]) == int(settings["KAFKA_PARTITIONS"]) >= 1
    assert int(argv[argv.index("--replication-factor") + 1]) == 3
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


# -- configuration and secrets --------------------------------------------------------------


def test_configuration_files_are_ones_planewatch_reads(tmp_path: Path, config: dict[str, str]) -> None:
    from planewatch.inventory import load_inventory
    from planewatch.streams.config import DetectorsConfig

    load_inventory(K8S / "config" / "inventory.yaml")
    DetectorsConfig.load(K8S / "config" / "thresholds.yaml")
    assert config["inventory.yaml"] == (K8S / "config" / "inventory.yaml").read_text()


def test_no_secret_value_is_in_the_manifests_or_the_settings(docs: list[dict[str, Any]], settings: dict[str, str]) -> None:
    for name in settings:
        assert not is_secret_name(name), f"settings.env holds {name}; secrets belong in a Secret"
    for doc, container in planewatch_containers(docs):
        for var in container.get("env", []):
            if is_secret_name(var["name"]):
                assert "secretKeyRef" in var.get("valueFrom", {}), f"{var['name']} is not read from a Secret"
        assert not [a for a in container["args"] if re.search(r"passw|secret|token", a, re.IGNORECASE)]


def _readme_secrets() -> dict[str, set[str]]:
    """The Secrets and keys deploy/README.md's `kubectl create secret generic` commands create."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    created: dict[str, set[str]] = {}
    for line in text.splitlines():
        if "create secret generic" not in line:
            continue
        words = shlex.split(line)
        name = words[words.index("generic") + 1]
        keys = {w.split("=", 2)[1] for w in words if w.startswith(("--from-file=", "--from-literal="))}
        created[name] = keys
    return created


def _secret_reads(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secret -> keys the pods read, from secretKeyRef and from files the settings and inventory name."""
    reads: dict[str, set[str]] = {}
    mounted: dict[str, str] = {}
    for doc in workloads(docs):
        volumes = {v["name"]: v for v in pod_spec(doc).get("volumes", [])}
        for container in containers(doc):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    reads.setdefault(ref["name"], set()).add(ref["key"])
            for mount in container.get("volumeMounts", []):
                secret = volumes.get(mount["name"], {}).get("secret")
                if secret:
                    mounted[mount["mountPath"]] = secret["secretName"]
                    reads.setdefault(secret["secretName"], set())
    texts = [(K8S / "config" / "settings.env").read_text(), (K8S / "config" / "inventory.yaml").read_text()]
    for path in re.findall(r"(/etc/planewatch/secrets/[\w./-]+)", "\n".join(texts)):
        directory, _, key = path.rpartition("/")
        assert directory in mounted, f"{path} is named in deploy/k8s/config but no Secret is mounted at {directory}"
        reads[mounted[directory]].add(key)
    return reads


def test_every_secret_the_pods_read_is_created_by_the_readme(docs: list[dict[str, Any]]) -> None:
    created, reads = _readme_secrets(), _secret_reads(docs)
    assert set(reads) == {"planewatch-gnmi", "planewatch-kafka", "planewatch-clickhouse"}
    for name, keys in reads.items():
        assert name in created, f"the pods read Secret {name}, which deploy/README.md does not create"
        missing = sorted(keys - created[name])
        assert not missing, f"Secret {name}: the pods read {missing}, which the README does not create"


def test_the_readme_s_secret_commands_make_valid_secrets(tmp_path: Path) -> None:
    """Run them (kubectl's client-side dry run) with files in place, and validate what they make."""
    require_tool("kubectl")
    text = (DEPLOY / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    commands = [shlex.split(line.strip()) for line in text.splitlines() if "create secret generic" in line]
    assert commands
    for words in commands:
        for word in words:
            if word.startswith("--from-file="):
                path = tmp_path / word.split("=", 2)[2]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("not-a-real-secret")
        result = run([*words, "--dry-run=client", "-o", "yaml"], cwd=tmp_path)
        assert result.returncode == 0, f"{' '.join(words)}: {result.stderr}"
        secret = yaml.safe_load(result.stdout)
        assert secret["kind"] == "Secret" and secret["metadata"]["namespace"] == NAMESPACE


def test_gnmi_collector_has_what_the_inventory_names(docs: list[dict[str, Any]]) -> None:
    from planewatch.inventory import load_inventory

    inventory = load_inventory(K8S / "config" / "inventory.yaml")
    gnmi = one(docs, "Deployment", "planewatch-collector-gnmi")
    (container,) = containers(gnmi)
    env = {e["name"] for e in container["env"]}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for switch in inventory.switches.values():
        settings = switch.gnmi
        assert settings is not None and not settings.insecure
        if settings.username_env:
            assert settings.username_env in env
        assert settings.password_env is None or settings.password_env in env
        for path in (settings.ca_file, settings.password_file):
            if path is not None:
                assert str(Path(path).parent) in mounts, f"{switch.name}: {path} is not in a mounted Secret"


def test_kafka_settings_examples_are_ones_planewatch_accepts(tmp_path: Path, settings: dict[str, str]) -> None:
    """settings.env's commented SASL_SSL block, uncommented, with the Secret's files in place."""
    from planewatch.kafka.settings import KafkaSettings

    lines = (K8S / "config" / "settings.env").read_text().splitlines()
    example = dict(line.lstrip("# ").split("=", 1) for line in lines if re.match(r"#\s+PLANEWATCH_KAFKA_\w+=", line))
    assert example["PLANEWATCH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    environ = {**settings, **example, "PLANEWATCH_KAFKA_SASL_USERNAME": "planewatch"}
    for name, value in list(environ.items()):
        if name.endswith("_FILE"):
            local = tmp_path / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text("not-a-real-secret\n")
            environ[name] = str(local)
    kafka = KafkaSettings.from_env(settings["KAFKA_BOOTSTRAP"], environ)
    assert kafka.security_protocol == "SASL_SSL" and kafka.sasl_mechanism == "SCRAM-SHA-512"
    plain = KafkaSettings.from_env(settings["KAFKA_BOOTSTRAP"], settings)
    assert plain.security_protocol == "PLAINTEXT"

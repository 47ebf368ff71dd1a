"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

- Every Kubernetes resource validates, strictly (no unknown field), against the Kubernetes API schemas
  of the oldest and newest versions we support (kubernetes-validate, which bundles them).
- What schemas cannot know is checked here: settings names and values parse, autoscalers and
  disruption budgets fit the partitions, MongoDB is a replica set. The Strimzi (Kafka) resources are
  checked in test_deploy_kafka.py, the network policies in test_deploy_network_policies.py.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

from kith_shared.topics import ACTIVITY
from tests.deploy_files import (
    CONSOLE,
    K8S,
    SERVICES,
    Service,
    compose,
    everything,
    find,
    k8s_environment,
    manifests,
    of_kind,
    pod_spec,
    production_settings,
    tool,
)

pytestmark = pytest.mark.unit

#: The Kubernetes versions the manifests are written for: the oldest we support and the newest bundled.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
STRIMZI_GROUPS = ("kafka.strimzi.io/", "core.strimzi.io/")
CLUSTER = "kith"
ALL_SERVICES = (*SERVICES, CONSOLE)


def is_strimzi(document: dict[str, Any]) -> bool:
    return str(document["apiVersion"]).startswith(STRIMZI_GROUPS)


# --- kustomize ----------------------------------------------------------------------------------------


def test_every_manifest_file_is_part_of_the_kustomization() -> None:
    listed = {K8S / "secret.example.yaml"}
    for directory in (K8S, K8S / "console"):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        listed |= {directory / entry for entry in kustomization.get("resources", [])}
        listed.add(directory / "kustomization.yaml")
    files = set(K8S.rglob("*.yaml"))
    assert files - listed == set(), "a manifest no kustomization applies"
    assert listed <= files, "a kustomization lists a file that does not exist"


def test_manifests_cover_the_whole_system() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in manifests()}
    assert ("Namespace", "kith") in kinds
    assert {("Kafka", CLUSTER), ("KafkaNodePool", "controller"), ("KafkaNodePool", "broker")} <= kinds
    assert {
        ("StatefulSet", "mongo"),
        ("Service", "mongo"),
        ("Job", "mongo-init"),
        ("PodDisruptionBudget", "mongo"),
    } <= kinds
    for service in SERVICES:
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
            assert (kind, service.name) in kinds
        assert ("KafkaUser", f"kith-{service.name}") in kinds
    assert not any(kind == "Secret" for kind, _ in kinds), "secrets are created by the operator, never applied"
    console = {(doc["kind"], doc["metadata"]["name"]) for doc in everything()} - kinds
    assert {
        (kind, "console") for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    } <= console


@pytest.mark.parametrize("console", [False, True], ids=["base", "with-console"])
def test_kubectl_kustomize_renders_the_same_resources(console: bool, tmp_path: Path) -> None:
    kubectl = tool("kubectl", installed_by_setup=False)
    directory = K8S
    if console:
        directory = tmp_path / "k8s"
        shutil.copytree(K8S, directory)
        with (directory / "kustomization.yaml").open("a") as kustomization:
            kustomization.write("components:\n  - console\n")
    rendered = subprocess.run(  # noqa: S603 - kubectl from PATH, on our own files
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    expected = manifests(console=console)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in documents) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in expected
    )
    for doc in documents:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kith"
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "kith", doc["metadata"]["name"]


# --- schemas ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_resources_validate_strictly_against_the_api_schemas(version: str) -> None:
    validated = 0
    for doc in everything():
        if is_strimzi(doc):
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{where} is invalid for Kubernetes {version}: {path}: {exc.message}")
        except SchemaNotFoundError:
            pytest.fail(f"{where}: no Kubernetes {version} schema for {doc['apiVersion']}")
        validated += 1
    assert validated == sum(1 for doc in everything() if not is_strimzi(doc)) > 30


def test_the_kubernetes_schema_check_rejects_an_unknown_field() -> None:
    deployment = copy.deepcopy(find(manifests(), "Deployment", "ingest"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("service", ALL_SERVICES, ids=lambda service: service.name)
def test_deployment_uses_the_image_port_probes_and_resources(service: Service) -> None:
    documents = everything()
    spec = pod_spec(find(documents, "Deployment", service.name))
    (container,) = spec["containers"]
    assert container["image"] == service.image
    if service.name in compose()["services"]:
        assert container["image"] == compose()["services"][service.name]["image"]
    assert [port["containerPort"] for port in container["ports"]] == [service.port]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}, f"{bound} of cpu and memory"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (k8s_service,) = [d for d in of_kind(documents, "Service") if d["metadata"]["name"] == service.name]
    assert k8s_service["spec"]["ports"][0]["port"] == service.port
    template = find(documents, "Deployment", service.name)["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/port"] == str(service.port)


@pytest.mark.parametrize("service", ALL_SERVICES, ids=lambda service: service.name)
def test_env_names_are_settings_fields_and_values_parse(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = k8s_environment(everything(), service)
    assert environment["OTEL_SERVICE_NAME"] == service.name
    assert environment["OTEL_TRACES_EXPORTER"] == "none", "tracing is off until an operator turns it on"
    production_settings(service, environment, monkeypatch)


@pytest.mark.parametrize("service", ALL_SERVICES, ids=lambda service: service.name)
def test_each_service_autoscales_and_keeps_a_replica_through_disruptions(service: Service) -> None:
    documents = everything()
    deployment = find(documents, "Deployment", service.name)
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    autoscaler = find(documents, "HorizontalPodAutoscaler", service.name)["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name}
    assert 2 <= autoscaler["minReplicas"] < autoscaler["maxReplicas"]
    if service.name in ("scoring", "recommend"):
        assert autoscaler["maxReplicas"] <= ACTIVITY.partitions, "a consumer past the partitions idles"
    (metric,) = autoscaler["metrics"]
    assert metric["resource"]["name"] == "cpu"
    budget = find(documents, "PodDisruptionBudget", service.name)["spec"]
    assert budget["maxUnavailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()


# --- MongoDB ------------------------------------------------------------------------------------------


def test_mongo_is_a_three_member_replica_set_with_a_budget_that_keeps_a_majority() -> None:
    documents = manifests()
    mongo = find(documents, "StatefulSet", "mongo")
    compose_image = compose()["services"]["mongo"]["image"]
    (container,) = pod_spec(mongo)["containers"]
    assert container["image"] == compose_image
    args = container["args"]
    assert args[args.index("--replSet") + 1] == "rs0"
    assert "--keyFile" in args
    replicas = mongo["spec"]["replicas"]
    assert replicas == 3
    assert mongo["spec"]["serviceName"] == "mongo"
    headless = find(documents, "Service", "mongo")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    budget = find(documents, "PodDisruptionBudget", "mongo")["spec"]
    assert replicas - budget["maxUnavailable"] > replicas // 2
    # The initiation Job names every member, and every service's URI names the same set.
    scripts = find(documents, "ConfigMap", "mongo-init")["data"]
    members = [f"mongo-{i}.mongo:27017" for i in range(replicas)]
    assert "`mongo-${i}.mongo:27017`" in scripts["initiate.js"]
    assert f"[{', '.join(str(i) for i in range(replicas))}]" in scripts["initiate.js"]
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())["stringData"]
    assert ",".join(members) in example["mongo-uri"]
    assert "replicaSet=rs0" in example["mongo-uri"]
    secret_keys = {
        ref["key"]
        for doc in everything()
        if doc["kind"] in ("Deployment", "StatefulSet", "Job")
        for container in [*pod_spec(doc).get("initContainers", []), *pod_spec(doc)["containers"]]
        for item in container.get("env", [])
        if (ref := item.get("valueFrom", {}).get("secretKeyRef")) and ref["name"] == "kith-secrets"
    }
    volume_keys = {
        item["key"]
        for volume in pod_spec(mongo)["volumes"]
        if volume.get("secret", {}).get("secretName") == "kith-secrets"
        for item in volume["secret"]["items"]
    }
    assert secret_keys | volume_keys == set(example), "secret.example.yaml lists exactly the keys the pods read"
    assert "console-session-secret" in secret_keys, "the console component reads its session secret"


def test_inline_scripts_parse(tmp_path: Path) -> None:
    documents = manifests()
    bash = tool("bash", installed_by_setup=False)
    node = tool("node")
    job = find(documents, "Job", "mongo-init")
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["bash", "-c"]
    scripts = {"init.sh": container["args"][0], **find(documents, "ConfigMap", "mongo-init")["data"]}
    for name, text in scripts.items():
        path = tmp_path / name
        path.write_text(text)
        argv = [bash, "-n", str(path)] if name.endswith(".sh") else [node, "--check", str(path)]
        checked = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
        assert checked.returncode == 0, f"{name}: {checked.stderr}"
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    for referenced in ("/scripts/initiate.js", "/scripts/users.js"):
        assert referenced in scripts["init.sh"]
        assert str(Path(referenced).parent) in mounted

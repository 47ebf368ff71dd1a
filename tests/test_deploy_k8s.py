"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

- Every Kubernetes resource validates, strictly (no unknown field), against the Kubernetes API schemas
  of the oldest and newest versions we support (kubernetes-validate, which bundles them).
- Every Strimzi resource validates against the Strimzi CRD schemas and, since those let unknown fields
  through, against the CRDs' TypeScript types with the compiler's excess-property check
  (@kubernetes-models/strimzi-kafka-operator, generated from Strimzi's released CRDs; see
  deploy/tools/check-custom-resources.mjs).
- What schemas cannot know is checked here: topics and retention agree with kith_shared.topics, each
  service reaches Kafka as its own user with the ACLs its topics need, settings names and values
  parse, autoscalers and disruption budgets fit the partitions. The network policies are checked in
  test_deploy_network_policies.py.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

from kith_shared.topics import ACTIVITY, ALL_TOPICS
from tests.deploy_files import (
    BY_NAME,
    CONSOLE,
    DUMMY_SECRET,
    K8S,
    SERVICES,
    TOOLS,
    Service,
    compose,
    env_names,
    everything,
    find,
    load_settings,
    manifests,
    of_kind,
    pod_spec,
    settings_class,
    settings_variables,
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


def check_custom_resources(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Run deploy/tools/check-custom-resources.mjs over the documents; return its report."""
    node = tool("node")
    tool("the Strimzi CRD models", TOOLS / "node_modules" / "@kubernetes-models" / "strimzi-kafka-operator")
    result = subprocess.run(  # noqa: S603 - node from PATH, on our own script
        [node, str(TOOLS / "check-custom-resources.mjs")],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    assert (result.returncode == 1) == bool(report["errors"])
    return report


def test_strimzi_resources_validate_against_the_crd_schemas() -> None:
    documents = everything()
    report = check_custom_resources(documents)
    assert report["errors"] == []
    strimzi = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in documents if is_strimzi(d))
    assert sorted(report["checked"]) == strimzi
    assert len(strimzi) == 1 + 2 + len(ALL_TOPICS) + len(SERVICES)


def test_the_crd_check_rejects_wrong_types_values_and_unknown_fields() -> None:
    documents = copy.deepcopy([doc for doc in manifests() if is_strimzi(doc)])
    find(documents, "KafkaTopic", ACTIVITY.name)["spec"]["partitions"] = "6"
    find(documents, "Kafka", CLUSTER)["spec"]["kafka"]["listeners"][0]["type"] = "internl"
    find(documents, "KafkaNodePool", "broker")["spec"]["storage"]["volumes"][0]["deletClaim"] = False
    errors = check_custom_resources(documents)["errors"]
    assert {(error["resource"], error["check"]) for error in errors} == {
        (f"KafkaTopic/{ACTIVITY.name}", "schema"),
        (f"Kafka/{CLUSTER}", "schema"),
        ("KafkaNodePool/broker", "types"),
    }


# --- Kafka --------------------------------------------------------------------------------------------


def test_kafka_runs_in_kraft_mode_with_controller_and_broker_pools() -> None:
    documents = manifests()
    kafka = find(documents, "Kafka", CLUSTER)["spec"]
    assert "zookeeper" not in kafka
    compose_version = compose()["services"]["kafka"]["image"].split(":")[1]
    assert kafka["kafka"]["version"] == compose_version, "the cluster runs the Kafka version compose runs"
    pools = {pool["metadata"]["name"]: pool for pool in of_kind(documents, "KafkaNodePool")}
    for pool in pools.values():
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        assert pool["spec"]["storage"]["volumes"][0]["deleteClaim"] is False
    assert pools["controller"]["spec"]["roles"] == ["controller"]
    assert pools["controller"]["spec"]["replicas"] % 2 == 1, "a KRaft quorum needs an odd number of controllers"
    assert pools["broker"]["spec"]["roles"] == ["broker"]
    config = kafka["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["min.insync.replicas"] < pools["broker"]["spec"]["replicas"], "one broker may be down"


def test_kafka_topics_match_the_declared_topics_and_retention() -> None:
    topics = of_kind(manifests(), "KafkaTopic")
    declared = {(spec.name, spec.partitions, spec.retention_ms) for spec in ALL_TOPICS}
    found = {(t["metadata"]["name"], t["spec"]["partitions"], t["spec"]["config"]["retention.ms"]) for t in topics}
    assert found == declared
    brokers = find(manifests(), "KafkaNodePool", "broker")["spec"]["replicas"]
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        assert topic["spec"].get("topicName", topic["metadata"]["name"]) == topic["metadata"]["name"]
        assert topic["spec"]["config"]["min.insync.replicas"] < topic["spec"]["replicas"] <= brokers


def granted(user: dict[str, Any], kind: str) -> dict[str, set[str]]:
    """Return a KafkaUser's allowed operations by resource name, for one resource type."""
    operations: dict[str, set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow"
        assert acl["resource"].get("patternType", "literal") == "literal", "no prefix grants"
        assert "All" not in acl["operations"]
        if acl["resource"]["type"] == kind:
            operations.setdefault(acl["resource"]["name"], set()).update(acl["operations"])
    return operations


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_each_service_has_a_kafka_user_allowed_what_its_topics_say(name: str) -> None:
    user = find(manifests(), "KafkaUser", f"kith-{name}")
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert user["spec"]["authorization"]["type"] == "simple"
    topics = granted(user, "topic")
    assert set(topics) <= {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        if name in spec.consumers:
            assert {"Read", "Describe"} <= topics.get(spec.name, set()), f"{name} consumes {spec.name}"
        if any(producer.split()[0] == name for producer in spec.producers):
            assert {"Write", "Describe"} <= topics.get(spec.name, set()), f"{name} produces to {spec.name}"
    group = settings_class(BY_NAME[name])().model_dump().get("consumer_group")
    if group is None:  # reads every partition with no group (recommend): no group to grant
        assert granted(user, "group") == {}, f"{name} uses no consumer group"
    else:
        assert "Read" in granted(user, "group").get(group, set()), f"{name} commits offsets of group {group}"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_each_service_reaches_kafka_as_its_user_over_tls(name: str) -> None:
    documents = manifests()
    service = BY_NAME[name]
    environment = k8s_environment(documents, service)
    listener = next(x for x in find(documents, "Kafka", CLUSTER)["spec"]["kafka"]["listeners"] if x["tls"])
    assert listener["authentication"]["type"] == "scram-sha-512"
    prefix = f"{service.prefix}KAFKA__"
    assert environment[f"{prefix}BOOTSTRAP_SERVERS"] == f"{CLUSTER}-kafka-bootstrap:{listener['port']}"
    assert environment[f"{prefix}SECURITY_PROTOCOL"] == "SASL_SSL"
    assert environment[f"{prefix}SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert environment[f"{prefix}SASL_USERNAME"] == f"kith-{name}"
    (container,) = pod_spec(find(documents, "Deployment", name))["containers"]
    password = next(item for item in container["env"] if item["name"] == f"{prefix}SASL_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": f"kith-{name}", "key": "password"}
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(find(documents, "Deployment", name))["volumes"]}
    ca_directory = str(Path(environment[f"{prefix}SSL_CAFILE"]).parent)
    (ca_volume,) = [volume for volume, path in mounts.items() if path == ca_directory]
    assert volumes[ca_volume]["secret"]["secretName"] == f"{CLUSTER}-cluster-ca-cert"
    assert [item["path"] for item in volumes[ca_volume]["secret"]["items"]] == [
        Path(environment[f"{prefix}SSL_CAFILE"]).name
    ]


# --- services -----------------------------------------------------------------------------------------


def k8s_environment(documents: list[dict[str, Any]], service: Service) -> dict[str, str]:
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in of_kind(documents, "ConfigMap")}
    (container,) = pod_spec(find(documents, "Deployment", service.name))["containers"]
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        environment[item["name"]] = item.get("value", DUMMY_SECRET)
    return environment


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
    cls = settings_class(service)
    environment = settings_variables(environment)
    unknown = sorted(set(environment) - env_names(cls))
    assert not unknown, f"{service.name}: {unknown} are not fields of {cls.__name__}"
    settings = load_settings(cls, environment, monkeypatch)
    assert getattr(settings, "environment", None) == "production"
    assert getattr(settings, "port", None) == service.port


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

"""The Kafka side of the Kubernetes manifests (deploy/k8s): Strimzi resources, checked without a cluster.

- Every Strimzi resource validates against the Strimzi CRD schemas and, since those let unknown fields
  through, against the CRDs' TypeScript types with the compiler's excess-property check
  (@kubernetes-models/strimzi-kafka-operator, generated from Strimzi's released CRDs; see
  deploy/tools/check-custom-resources.mjs).
- Kafka runs in KRaft mode; topics and retention agree with kith_shared.topics; each service reaches
  Kafka over TLS as its own user with the ACLs its topics need.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kith_shared.topics import ACTIVITY, ALL_TOPICS
from tests.deploy_files import (
    BY_NAME,
    SERVICES,
    TOOLS,
    compose,
    everything,
    find,
    k8s_environment,
    manifests,
    of_kind,
    pod_spec,
    settings_class,
    tool,
)

pytestmark = pytest.mark.unit

STRIMZI_GROUPS = ("kafka.strimzi.io/", "core.strimzi.io/")
CLUSTER = "kith"


def is_strimzi(document: dict[str, Any]) -> bool:
    return str(document["apiVersion"]).startswith(STRIMZI_GROUPS)


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

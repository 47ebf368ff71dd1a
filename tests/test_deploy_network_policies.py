"""The network policies of deploy/k8s: each workload reaches exactly what it needs, nothing else.

A small evaluator of Kubernetes NetworkPolicy semantics (policies add up; a pod no policy selects for
a direction is open in that direction; peers by pod and namespace selector; ports by number or
name) runs over the pods the manifests create, the pods Strimzi creates for the cluster (by the
labels Strimzi gives them), kube-dns, and the outside world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.deploy_files import CONSOLE, SERVICES, everything, of_kind, pod_spec

pytestmark = pytest.mark.unit

CLUSTER = "kith"
#: Labels Strimzi gives the pods of the Kafka cluster "kith" (brokers and controllers) and of its entity operator.
KAFKA_POD_LABELS = {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{CLUSTER}-kafka"}
ENTITY_OPERATOR_LABELS = {
    "strimzi.io/cluster": CLUSTER,
    "strimzi.io/kind": "Kafka",
    "strimzi.io/name": f"{CLUSTER}-entity-operator",
}
ALL_SERVICES = (*SERVICES, CONSOLE)


@dataclass(frozen=True)
class Endpoint:
    """Something traffic can go to or come from: a workload's pods, a cluster add-on, or the outside."""

    name: str
    namespace: str | None
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str | None, int, str], ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


DNS_PORTS = ((None, 53, "UDP"), (None, 53, "TCP"))
OUTSIDE = Endpoint(
    "outside", None, (), ((None, 80, "TCP"), (None, 443, "TCP"), (None, 4317, "TCP"), (None, 6443, "TCP"))
)


def endpoints(documents: list[dict[str, Any]]) -> list[Endpoint]:
    """Return the pods the manifests run (and Strimzi runs for them), kube-dns, and the outside."""
    found = [
        Endpoint(
            "kafka",
            "kith",
            tuple(KAFKA_POD_LABELS.items()),
            ((None, 9090, "TCP"), (None, 9091, "TCP"), (None, 9093, "TCP")),
        ),
        Endpoint("entity-operator", "kith", tuple(ENTITY_OPERATOR_LABELS.items())),
        Endpoint("kube-dns", "kube-system", (("k8s-app", "kube-dns"),), DNS_PORTS),
        OUTSIDE,
    ]
    for doc in documents:
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        ports = tuple(
            (port.get("name"), port["containerPort"], port.get("protocol", "TCP"))
            for container in pod_spec(doc)["containers"]
            for port in container.get("ports", [])
        )
        labels = tuple(doc["spec"]["template"]["metadata"]["labels"].items())
        found.append(Endpoint(doc["metadata"]["name"], doc["metadata"]["namespace"], labels, ports))
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Tell whether a label selector matches a set of labels (matchLabels and matchExpressions)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def peer_matches(peer: dict[str, Any], policy_namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        return endpoint.namespace is None
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), endpoint.label_map)


def port_matches(rule: dict[str, Any], port: tuple[str | None, int, str]) -> bool:
    name, number, protocol = port
    if not rule.get("ports"):
        return True
    return any(
        entry.get("protocol", "TCP") == protocol and entry.get("port") in (None, number, name)
        for entry in rule["ports"]
    )


def policies_for(documents: list[dict[str, Any]], endpoint: Endpoint, direction: str) -> list[dict[str, Any]]:
    return [
        policy
        for policy in of_kind(documents, "NetworkPolicy")
        if policy["metadata"]["namespace"] == endpoint.namespace
        and direction in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], endpoint.label_map)
    ]


def egress(documents: list[dict[str, Any]], source: Endpoint) -> set[tuple[str, int, str]]:
    """Return where the source's pods may connect: (endpoint, port, protocol)."""
    policies = policies_for(documents, source, "Egress")
    assert policies, f"{source.name}: no egress policy selects it, so it may reach anything"
    allowed: set[tuple[str, int, str]] = set()
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            for destination in endpoints(documents):
                if rule.get("to") and not any(
                    peer_matches(peer, policy["metadata"]["namespace"], destination) for peer in rule["to"]
                ):
                    continue
                allowed |= {(destination.name, p[1], p[2]) for p in destination.ports if port_matches(rule, p)}
    return allowed


def ingress(documents: list[dict[str, Any]], destination: Endpoint, port: int) -> set[str]:
    """Return which endpoints may connect to the destination's pods on a port."""
    policies = policies_for(documents, destination, "Ingress")
    assert policies, f"{destination.name}: no ingress policy selects it, so anything may reach it"
    (entry,) = [p for p in destination.ports if p[1] == port]
    allowed: set[str] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if not port_matches(rule, entry):
                continue
            allowed |= {
                source.name
                for source in endpoints(documents)
                if not rule.get("from")
                or any(peer_matches(peer, policy["metadata"]["namespace"], source) for peer in rule["from"])
            }
    return allowed


DNS = {("kube-dns", 53, "UDP"), ("kube-dns", 53, "TCP")}
KAFKA_AND_MONGO = {("kafka", 9093, "TCP"), ("mongo", 27017, "TCP")}
EXPECTED_EGRESS = {
    "ingest": DNS | KAFKA_AND_MONGO,
    "scoring": DNS | KAFKA_AND_MONGO,
    "recommend": DNS | KAFKA_AND_MONGO,
    "console": DNS | {("ingest", 8001, "TCP"), ("scoring", 8002, "TCP"), ("recommend", 8003, "TCP")},
    "mongo": DNS | {("mongo", 27017, "TCP")},
    "mongo-init": DNS | {("mongo", 27017, "TCP")},
    "kafka": DNS | {("kafka", port, "TCP") for port in (9090, 9091, 9093)},
    "entity-operator": DNS | {("kafka", 9091, "TCP"), ("outside", 443, "TCP"), ("outside", 6443, "TCP")},
}


def test_everything_in_the_namespace_is_denied_by_default() -> None:
    documents = everything()
    (default,) = [p for p in of_kind(documents, "NetworkPolicy") if p["spec"]["podSelector"] == {}
                  and "egress" not in p["spec"] and "ingress" not in p["spec"]]  # fmt: skip
    assert sorted(default["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    names = {endpoint.name for endpoint in endpoints(documents) if endpoint.namespace == "kith"}
    assert names == set(EXPECTED_EGRESS), "every pod of the namespace has its expected reach below"


@pytest.mark.parametrize("name", sorted(EXPECTED_EGRESS))
def test_each_workload_reaches_exactly_what_it_needs(name: str) -> None:
    documents = everything()
    (source,) = [endpoint for endpoint in endpoints(documents) if endpoint.name == name]
    assert egress(documents, source) == EXPECTED_EGRESS[name]


def test_only_the_services_and_mongo_itself_reach_mongo_while_anyone_reaches_the_http_apis() -> None:
    documents = everything()
    by_name = {endpoint.name: endpoint for endpoint in endpoints(documents)}
    assert ingress(documents, by_name["mongo"], 27017) == {"ingest", "scoring", "recommend", "mongo", "mongo-init"}
    every_source = {endpoint.name for endpoint in endpoints(documents)}
    for service in ALL_SERVICES:
        assert ingress(documents, by_name[service.name], service.port) == every_source

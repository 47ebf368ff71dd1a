"""Static checks of the containers and deployment files (no Docker engine or cluster runs here).

docker-compose.yml and deploy/k8s parse; every build has its Dockerfile and context; every image is
pinned; every environment variable set on a service is a field of that service's settings class and
the values parse; every declared topic is created with its partitions.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from kith_shared.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    settings_class: str
    prefix: str
    port: int

    @property
    def image(self) -> str:
        return f"kith/{self.name}:0.1.0"


SERVICES = (
    Service("ingest", "kith_ingest.settings", "IngestSettings", "INGEST_", 8001),
    Service("scoring", "kith_scoring.settings", "ScoringSettings", "SCORING_", 8002),
    Service("recommend", "kith_recommend.settings", "RecommendSettings", "RECOMMEND_", 8003),
)
BY_NAME = {service.name: service for service in SERVICES}
#: Stand-in values for required secrets when a test needs the file's values.
DUMMY_SECRET = "static-check-Secret-4711"
REQUIRED_SECRETS = ("MONGO_ROOT_PASSWORD", "KITH_MONGO_PASSWORD", "MONGO_REPLICA_SET_KEY", "KITH_ERASURE_SALT")


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        documents.extend(doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc)
    return documents


def settings_class(service: Service) -> type[BaseSettings]:
    """Import the service's settings class, or skip the test naming what is missing."""
    try:
        module = importlib.import_module(service.module)
    except ImportError as exc:
        pytest.skip(f"{service.module} is not importable yet ({exc}); cannot check {service.name}'s env names")
    cls = getattr(module, service.settings_class, None)
    if cls is None:
        pytest.skip(f"{service.module}.{service.settings_class} does not exist yet; cannot check env names")
    assert isinstance(cls, type)
    assert issubclass(cls, BaseSettings)
    return cls


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def env_names(cls: type[BaseSettings]) -> set[str]:
    """Return every environment variable name the settings class reads (nested models included)."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    delimiter = str(cls.model_config.get("env_nested_delimiter") or "__")
    names: set[str] = set()

    def walk(model: type[BaseModel], path: str) -> None:
        for field_name, info in model.model_fields.items():
            key = f"{path}{field_name}".upper()
            names.add(key)
            nested = _nested_model(info.annotation)
            if nested is not None:
                walk(nested, key + delimiter)

    walk(cls, prefix.upper())
    return names


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Resolve compose's ``${VAR:?msg}`` (to a stand-in secret) and ``${VAR:-default}`` (to the default)."""

    def one(match: re.Match[str]) -> str:
        if match["op"] == "-":
            return match["arg"]
        return DUMMY_SECRET

    return _VARIABLE.sub(one, value).replace("$$", "$")


def compose_environment(service: Service) -> dict[str, str]:
    environment = compose()["services"][service.name]["environment"]
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {str(key): interpolate(str(value)) for key, value in environment.items()}


def k8s_environment(service: Service) -> dict[str, str]:
    documents = manifests()
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in documents if doc["kind"] == "ConfigMap"}
    (container,) = deployment(service)["spec"]["template"]["spec"]["containers"]
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        environment[item["name"]] = item.get("value", DUMMY_SECRET)
    return environment


def deployment(service: Service) -> dict[str, Any]:
    (found,) = [doc for doc in manifests() if doc["kind"] == "Deployment" and doc["metadata"]["name"] == service.name]
    return found


def load_settings(
    cls: type[BaseSettings], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> BaseSettings:
    """Build the settings class from ``environment`` through its real source, the process environment."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return cls()


def image_pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":")
    return (
        bool(repository)
        and "/" not in tag
        and tag not in ("", "latest")
        and (not digest or digest.startswith("sha256:"))
    )


def created_topics(script: str) -> set[tuple[str, int]]:
    return {(name, int(partitions)) for name, partitions in re.findall(r"\b([a-z][a-z0-9.]*\.v\d+):(\d+)\b", script)}


DECLARED_TOPICS = {(spec.name, spec.partitions) for spec in ALL_TOPICS}


# --- docker-compose.yml -------------------------------------------------------------------------------


def test_compose_parses_and_has_the_stack() -> None:
    services = compose()["services"]
    assert {"kafka", "mongo", "topics", "ingest", "scoring", "recommend"} <= set(services)


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_compose_service_image_is_pinned(name: str) -> None:
    image = compose()["services"][name]["image"]
    assert image_pinned(image), f"{name}: image {image!r} must carry a version tag (never 'latest')"


def test_every_build_points_at_an_existing_context_and_dockerfile() -> None:
    builds = {name: spec["build"] for name, spec in compose()["services"].items() if "build" in spec}
    assert set(builds) == set(BY_NAME)
    for name, build in builds.items():
        context = ROOT / build["context"]
        assert context.is_dir(), f"{name}: no build context {context}"
        assert (context / build["dockerfile"]).is_file(), f"{name}: no Dockerfile {build['dockerfile']}"
        assert build["args"] == {"SERVICE": name}, f"{name}: the one Dockerfile is told which service to build"
        assert compose()["services"][name]["image"] == BY_NAME[name].image


def test_kafka_runs_in_kraft_mode_and_mongo_as_a_replica_set() -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    mongo = services["mongo"]
    repository, version = mongo["image"].split(":")
    assert repository == "mongo"
    assert tuple(int(part) for part in version.split(".")[:3]) >= (8, 0, 12)
    assert "--replSet" in mongo["command"]
    health = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in health
    assert "isWritablePrimary" in health


def test_topic_job_creates_every_declared_topic_with_its_partitions() -> None:
    topics = compose()["services"]["topics"]
    assert topics["image"] == compose()["services"]["kafka"]["image"]
    assert "kafka-topics.sh" in " ".join(topics["command"])
    assert created_topics(" ".join(topics["command"])) == DECLARED_TOPICS


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_services_wait_for_their_dependencies_and_have_healthchecks(name: str) -> None:
    spec = compose()["services"][name]
    conditions = {dependency: value["condition"] for dependency, value in spec["depends_on"].items()}
    assert conditions["mongo"] == "service_healthy"
    assert conditions["kafka"] == "service_healthy"
    assert conditions["topics"] == "service_completed_successfully"
    assert "healthcheck" in spec
    assert f":{BY_NAME[name].port}/" in " ".join(spec["healthcheck"]["test"])
    for other in ("kafka", "mongo"):
        assert "healthcheck" in compose()["services"][other]


def test_required_secrets_fail_loudly_when_unset() -> None:
    text = COMPOSE.read_text()
    for variable in REQUIRED_SECRETS:
        assert re.search(r"\$\{" + variable + r":\?[^}]+\}", text), f"{variable} must be required: ${{VAR:?message}}"
    for name in BY_NAME:
        uri = compose()["services"][name]["environment"][f"{BY_NAME[name].prefix}MONGO__URI"]
        assert "${KITH_MONGO_PASSWORD:?" in uri


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_compose_env_names_are_settings_fields_and_values_parse(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = BY_NAME[name]
    cls = settings_class(service)
    environment = compose_environment(service)
    unknown = sorted(set(environment) - env_names(cls))
    assert not unknown, f"{name}: {unknown} are not fields of {cls.__name__}"
    settings = load_settings(cls, environment, monkeypatch)
    assert getattr(settings, "environment", None) == "production"
    assert getattr(settings, "port", None) == service.port
    kafka = getattr(settings, "kafka", None)
    assert kafka is not None
    assert kafka.idempotence is True
    assert kafka.bootstrap_servers == "kafka:9092"


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on PATH")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, check=False)  # noqa: S603
    if probe.returncode != 0:
        reason = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[:1]
        pytest.skip(f"the docker client has no 'compose' plugin here ({''.join(reason)}); compose file not validated")
    secrets = dict.fromkeys(REQUIRED_SECRETS, DUMMY_SECRET)
    base = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}
    argv = [docker, "compose", "-f", str(COMPOSE), "config", "-q"]
    valid = subprocess.run(argv, env={**base, **secrets}, capture_output=True, text=True, check=False)  # noqa: S603
    assert valid.returncode == 0, valid.stderr
    missing = subprocess.run(argv, env=base, capture_output=True, text=True, check=False)  # noqa: S603
    assert missing.returncode != 0
    assert "MONGO_ROOT_PASSWORD" in missing.stderr or "KITH_MONGO_PASSWORD" in missing.stderr


# The Dockerfile and the build context are checked in test_packaging.py.


# --- Kubernetes ---------------------------------------------------------------------------------------


def test_k8s_manifests_parse_and_cover_every_service() -> None:
    documents = manifests()
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}
    assert ("Namespace", "kith") in kinds
    assert ("Job", "kith-topics") in kinds
    for name in BY_NAME:
        assert ("Deployment", name) in kinds
        assert ("Service", name) in kinds
    assert yaml.safe_load((K8S / "kustomization.yaml").read_text())["namespace"] == "kith"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_k8s_deployment_uses_the_compose_image_port_and_probes(name: str) -> None:
    service = BY_NAME[name]
    spec = deployment(service)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == compose()["services"][name]["image"] == service.image
    assert [port["containerPort"] for port in container["ports"]] == [service.port]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["requests"]["memory"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    secret_refs = [item["valueFrom"]["secretKeyRef"] for item in container["env"] if "valueFrom" in item]
    assert any(ref["name"] == "kith-secrets" for ref in secret_refs)
    (k8s_service,) = [d for d in manifests() if d["kind"] == "Service" and d["metadata"]["name"] == name]
    assert k8s_service["spec"]["ports"][0]["port"] == service.port


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_k8s_env_names_are_settings_fields_and_values_parse(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = BY_NAME[name]
    cls = settings_class(service)
    environment = k8s_environment(service)
    unknown = sorted(set(environment) - env_names(cls))
    assert not unknown, f"{name}: {unknown} are not fields of {cls.__name__}"
    settings = load_settings(cls, environment, monkeypatch)
    assert getattr(settings, "environment", None) == "production"
    assert getattr(settings, "port", None) == service.port


def test_k8s_topic_job_creates_every_declared_topic() -> None:
    (job,) = [doc for doc in manifests() if doc["kind"] == "Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == compose()["services"]["kafka"]["image"]
    script = " ".join(container["command"] + container["args"])
    assert "kafka-topics.sh" in script
    assert created_topics(script) == DECLARED_TOPICS

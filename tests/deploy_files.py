"""What the deployment checks share: where the files are, how to read them, the services they describe."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
TOOLS = ROOT / "deploy" / "tools"
OBSERVABILITY = ROOT / "deploy" / "observability"
#: How a developer or CI gets the tools the deployment checks run (README, .ci/run).
SETUP = "bash deploy/tools/setup-system.sh"


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
#: The HTTP-only web console: deployable as the k8s component deploy/k8s/console.
CONSOLE = Service("console", "kith_console.settings", "ConsoleSettings", "CONSOLE_", 8004)
#: Stand-in values for required secrets when a test needs the file's values.
DUMMY_SECRET = "static-check-Secret-4711"
REQUIRED_SECRETS = (
    "MONGO_ROOT_PASSWORD",
    "KITH_MONGO_PASSWORD",
    "MONGO_REPLICA_SET_KEY",
    "KITH_ERASURE_SALT",
    "KITH_CONSOLE_SESSION_SECRET",
)
#: Read by the OpenTelemetry SDK itself (its standard variables), not by a settings class.
OTEL_PREFIX = "OTEL_"


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


#: Kinds that live outside any namespace (kustomize leaves them without one).
CLUSTER_SCOPED = frozenset({"Namespace"})


def kustomize(directory: Path, components: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Return the resources a kustomization lists (files and folders), in the kustomization's namespace.

    A small reading of kustomize's ``resources``, ``components`` and ``namespace``, so every check can
    run without kubectl; ``test_kubectl_kustomize_renders_the_same_resources`` compares it with kustomize.
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for entry in [*kustomization.get("resources", []), *kustomization.get("components", []), *components]:
        path = directory / entry
        if path.is_dir():
            documents.extend(kustomize(path))
        else:
            documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in documents:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
    return documents


def manifests(*, console: bool = False) -> list[dict[str, Any]]:
    """Return what ``kubectl apply -k deploy/k8s`` applies (with the console component, if asked)."""
    return kustomize(K8S, ("console",) if console else ())


def everything() -> list[dict[str, Any]]:
    """Return every resource the manifests can apply, the optional console component included."""
    return manifests(console=True)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    """Return the pod template's spec of a Deployment, StatefulSet or Job."""
    spec = workload["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


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


def settings_variables(environment: dict[str, str]) -> dict[str, str]:
    """Return the variables a settings class must know: all but the OpenTelemetry SDK's own."""
    return {name: value for name, value in environment.items() if not name.startswith(OTEL_PREFIX)}


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Resolve compose's ``${VAR:?msg}`` (to a stand-in secret) and ``${VAR:-default}`` (to the default)."""

    def one(match: re.Match[str]) -> str:
        if match["op"] == "-":
            return match["arg"]
        return DUMMY_SECRET

    return _VARIABLE.sub(one, value).replace("$$", "$")


def load_settings(
    cls: type[BaseSettings], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> BaseSettings:
    """Build the settings class from ``environment`` through its real source, the process environment."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return cls()


def production_settings(service: Service, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> BaseSettings:
    """Return ``service``'s settings built from a deployment's ``environment`` (its OTel variables left out).

    Assert that every variable names a field of the settings class, and that the settings are
    production's, on the service's port.
    """
    cls = settings_class(service)
    variables = settings_variables(environment)
    unknown = sorted(set(variables) - env_names(cls))
    assert not unknown, f"{service.name}: {unknown} are not fields of {cls.__name__}"
    settings = load_settings(cls, variables, monkeypatch)
    assert getattr(settings, "environment", None) == "production"
    assert getattr(settings, "port", None) == service.port
    return settings


def image_pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":")
    return (
        bool(repository)
        and "/" not in tag
        and tag not in ("", "latest")
        and (not digest or digest.startswith("sha256:"))
    )


def tool(name: str, path: Path | None = None, *, installed_by_setup: bool = True) -> str:
    """Return a tool the checks need; skip naming the set-up step when it is missing.

    In CI (``CI`` set) a tool the set-up installs must be there: its absence fails the test instead.
    """
    found = str(path) if path is not None and path.exists() else shutil.which(name)
    if found is None:
        reason = f"{name} is not installed; `{SETUP}` installs it" if installed_by_setup else f"{name} is not installed"
        if installed_by_setup and os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run every deployment check)")
        pytest.skip(reason)
    return found


def k8s_environment(documents: list[dict[str, Any]], service: Service) -> dict[str, str]:
    """Return the environment a service's Deployment gives its container (secrets as a dummy value)."""
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in of_kind(documents, "ConfigMap")}
    (container,) = pod_spec(find(documents, "Deployment", service.name))["containers"]
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        environment[item["name"]] = item.get("value", DUMMY_SECRET)
    return environment

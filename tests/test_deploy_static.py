"""Static checks of docker-compose.yml (no Docker engine runs here; the Dockerfile: test_packaging.py).

docker-compose.yml parses; every build has its Dockerfile and context; every image is pinned; every
environment variable set on a service is a field of that service's settings class and the values
parse; the topic job creates every declared topic with its partitions and retention. The
Kubernetes manifests are checked in test_deploy_k8s.py, the observability files and the compose
profile in test_observability_files.py.
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
    CONSOLE,
    DUMMY_SECRET,
    REQUIRED_SECRETS,
    ROOT,
    Service,
    compose,
    image_pinned,
    interpolate,
    production_settings,
)

pytestmark = pytest.mark.unit


def compose_environment(service: Service) -> dict[str, str]:
    environment = compose()["services"][service.name]["environment"]
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {str(key): interpolate(str(value)) for key, value in environment.items()}


# --- docker-compose.yml -------------------------------------------------------------------------------


def test_compose_parses_and_has_the_stack() -> None:
    services = compose()["services"]
    assert {"kafka", "mongo", "topics", "ingest", "scoring", "recommend", "console"} <= set(services)


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_compose_service_image_is_pinned(name: str) -> None:
    image = compose()["services"][name]["image"]
    assert image_pinned(image), f"{name}: image {image!r} must carry a version tag (never 'latest')"


def test_every_build_points_at_an_existing_context_and_dockerfile() -> None:
    builds = {name: spec["build"] for name, spec in compose()["services"].items() if "build" in spec}
    images = {name: service.image for name, service in BY_NAME.items()} | {CONSOLE.name: CONSOLE.image}
    assert set(builds) == set(images)
    for name, build in builds.items():
        context = ROOT / build["context"]
        assert context.is_dir(), f"{name}: no build context {context}"
        assert (context / build["dockerfile"]).is_file(), f"{name}: no Dockerfile {build['dockerfile']}"
        assert build["args"] == {"SERVICE": name}
        assert compose()["services"][name]["image"] == images[name]


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
    settings = production_settings(service, compose_environment(service), monkeypatch)
    kafka = getattr(settings, "kafka", None)
    assert kafka is not None
    assert kafka.idempotence is True
    assert kafka.bootstrap_servers == "kafka:9092"


def test_the_console_waits_for_the_services_it_shows_and_its_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = compose()["services"][CONSOLE.name]
    conditions = {dependency: value["condition"] for dependency, value in spec["depends_on"].items()}
    assert conditions == dict.fromkeys(BY_NAME, "service_healthy")
    assert f":{CONSOLE.port}/" in " ".join(spec["healthcheck"]["test"])
    assert "${KITH_CONSOLE_SESSION_SECRET:?" in spec["environment"]["CONSOLE_SESSION_SECRET"]
    settings = production_settings(CONSOLE, compose_environment(CONSOLE), monkeypatch)
    assert getattr(settings, "scoring_url", None) == f"http://scoring:{BY_NAME['scoring'].port}"


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

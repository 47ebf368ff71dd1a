"""The local stack: broker, database, the three services and the console as background processes.

State (pids, ports, the development key) lives in ``.local/stack.json`` so that ``kith down`` and
``kith status`` find what ``kith up`` started. Logs go to ``.local/logs/``; the database keeps its
data in ``.local/db`` across restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from kith_devkit.environment import service_environment
from kith_devkit.servers import (
    check_port_free,
    port_open,
    process_alive,
    start_broker,
    start_database,
    stop_process,
    wait_for_kafka,
)
from kith_shared.kafka import ensure_topics
from kith_shared.settings import KafkaSettings

SERVICES = ("ingest", "scoring", "recommend")
#: The web console: an HTTP process over the services' APIs, with no broker or database of its own.
CONSOLE = "console"
HOST = "127.0.0.1"


@dataclass
class Ports:
    """Where each component listens."""

    ingest: int = 8001
    scoring: int = 8002
    recommend: int = 8003
    console: int = 8004
    broker: int = 19092
    database: int = 27027

    def of(self, component: str) -> int:
        """Return the port of a component by name."""
        return int(getattr(self, component))


@dataclass
class Component:
    """One running process of the stack."""

    name: str
    pid: int
    port: int
    log: str

    @property
    def url(self) -> str:
        """Return the component's address as a URL (HTTP for services, a plain address otherwise)."""
        if not self.port:
            return "-"
        return f"http://{HOST}:{self.port}" if self.name in (*SERVICES, CONSOLE) else f"{HOST}:{self.port}"


@dataclass
class StackState:
    """What ``kith up`` started."""

    components: list[Component] = field(default_factory=list)
    dev_key: str | None = None
    tenant: str = "demo"

    def get(self, name: str) -> Component | None:
        """Return the component called ``name``, if started."""
        return next((c for c in self.components if c.name == name), None)


class StackError(RuntimeError):
    """The stack could not be started; the message says what to do."""


def local_dir(root: Path) -> Path:
    """Return the git-ignored folder holding the stack's state, logs and data."""
    return root / ".local"


def state_path(root: Path) -> Path:
    """Return where the stack's state is kept."""
    return local_dir(root) / "stack.json"


def load_state(root: Path) -> StackState | None:
    """Read the stack's state, if a stack was started."""
    path = state_path(root)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return StackState(
        components=[Component(**c) for c in raw.get("components", [])],
        dev_key=raw.get("dev_key"),
        tenant=raw.get("tenant", "demo"),
    )


def save_state(root: Path, state: StackState) -> None:
    """Write the stack's state."""
    path = state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state), indent=2))
    path.chmod(0o600)


def service_env(
    service: str,
    *,
    port: int,
    bootstrap: str,
    mongo_uri: str,
    embedded_broker: bool = True,
    topic_prefix: str = "",
    database: str | None = None,
    auth_database: str | None = None,
) -> dict[str, str]:
    """Return this process's environment pointing a service of the local stack at a broker and a database."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap, idempotence=not embedded_broker, topic_prefix=topic_prefix)
    return service_environment(
        service,
        os.environ,
        port=port,
        kafka=kafka,
        mongo_uri=mongo_uri,
        database=database or None,
        auth_database=auth_database or None,
        host=HOST,
        environment="development",
    )


def spawn_service(service: str, env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a service (``python -m kith_<service>``) in its own process group, logging to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", f"kith_{service}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=cwd,
        )


def console_env(ports: Ports) -> dict[str, str]:
    """Return the environment that points the console at the services of the stack."""
    env = dict(os.environ)
    env.update(
        {
            "CONSOLE_HOST": HOST,
            "CONSOLE_PORT": str(ports.console),
            "CONSOLE_ENVIRONMENT": "development",
            **{f"CONSOLE_{service.upper()}_URL": f"http://{HOST}:{ports.of(service)}" for service in SERVICES},
        }
    )
    return env


def _spawn_console(root: Path, ports: Ports) -> Component:
    log = local_dir(root) / "logs" / f"{CONSOLE}.log"
    process = spawn_service(CONSOLE, console_env(ports), log, cwd=root)
    return Component(CONSOLE, process.pid, ports.console, str(log))


def _spawn_service(root: Path, service: str, ports: Ports) -> Component:
    log = local_dir(root) / "logs" / f"{service}.log"
    env = service_env(
        service,
        port=ports.of(service),
        bootstrap=f"{HOST}:{ports.broker}",
        mongo_uri=f"mongodb://{HOST}:{ports.database}",
    )
    process = spawn_service(service, env, log, cwd=root)
    return Component(service, process.pid, ports.of(service), str(log))


def wait_ready(url: str, within: float, alive: Callable[[], bool]) -> None:
    """Wait until ``url/readyz`` answers 200; raise with the last answer when time runs out."""
    deadline = time.monotonic() + within
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise StackError(f"{url} exited before becoming ready; see its log")
        try:
            answer = httpx.get(f"{url}/readyz", timeout=2.0)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise StackError(f"{url} not ready within {within:g}s: {last}")


def start_stack(root: Path, ports: Ports, say: Callable[[str], None]) -> StackState:
    """Start broker, database, topics and services; return the state (also saved)."""
    existing = load_state(root)
    if existing and any(process_alive(c.pid) for c in existing.components):
        raise StackError("the stack is already running; `make stop` first, or `make status` to see it")
    for name in ("broker", "database", *SERVICES, CONSOLE):
        try:
            check_port_free(name, HOST, ports.of(name))
        except RuntimeError as exc:
            raise StackError(f"{exc}. Nothing was started") from None
    logs = local_dir(root) / "logs"
    state = StackState()
    try:
        broker = start_broker(ports.broker, logs / "broker.log", HOST)
        state.components.append(Component("broker", broker.process.pid, ports.broker, str(broker.log_path)))
        save_state(root, state)
        say(f"broker    listening on {broker.address}")
        database = start_database(ports.database, local_dir(root) / "db", logs / "database.log", HOST)
        state.components.append(Component("database", database.process.pid, ports.database, str(database.log_path)))
        save_state(root, state)
        say(f"database  listening on {database.address} (data in .local/db)")
        kafka = KafkaSettings(bootstrap_servers=broker.address, idempotence=False)
        asyncio.run(wait_for_kafka(broker.address))
        created = asyncio.run(ensure_topics(kafka))
        say(f"topics    {', '.join(created) if created else 'already present'}")
        for service in SERVICES:
            component = _spawn_service(root, service, ports)
            state.components.append(component)
            save_state(root, state)
        state.components.append(_spawn_console(root, ports))
        save_state(root, state)
        for component in state.components[2:]:
            pid = component.pid
            wait_ready(component.url, 60.0, lambda pid=pid: process_alive(pid))  # type: ignore[misc]
            docs = "" if component.name == CONSOLE else f"  (docs: {component.url}/docs)"
            say(f"{component.name:<9} ready at {component.url}{docs}")
    except StackError as exc:
        stop_stack(root, lambda _: None)
        raise StackError(f"{exc}. Everything started was stopped again") from None
    except BaseException:
        stop_stack(root, lambda _: None)
        raise
    return state


def stop_stack(root: Path, say: Callable[[str], None]) -> list[str]:
    """Stop every component, services first; return the names stopped."""
    state = load_state(root)
    if state is None:
        return []
    stopped = []
    for component in reversed(state.components):
        if process_alive(component.pid):
            stop_process(component.pid, timeout=15.0)
            stopped.append(component.name)
            say(f"stopped {component.name} (pid {component.pid})")
    state_path(root).unlink(missing_ok=True)
    return stopped


def component_status(component: Component) -> tuple[bool, str]:
    """Return whether a component is running and a readable readiness line."""
    alive = process_alive(component.pid)
    if not alive:
        return False, "not running"
    if component.name == "simulator":
        return True, "running"
    if component.name not in (*SERVICES, CONSOLE):
        return True, "accepting connections" if port_open(HOST, component.port) else "not listening"
    try:
        answer = httpx.get(f"{component.url}/readyz", timeout=3.0)
    except httpx.HTTPError as exc:
        return True, f"not answering: {exc}"
    body = answer.json()
    if answer.status_code == 200:
        return True, "ready"
    return True, "not ready: " + ", ".join(f"{k}: {v}" for k, v in body.get("checks", {}).items() if v != "ok")

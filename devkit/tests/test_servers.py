"""Starting the embedded servers: a taken port is a clear message, and a stopped server frees its port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kith_devkit.servers import PortTaken, ServerProcess, free_port, port_open, start_broker, start_database


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.unit
def test_broker_on_a_taken_port_says_so(taken_port: int, tmp_path: Path) -> None:
    with pytest.raises(PortTaken) as caught:
        start_broker(taken_port, tmp_path / "broker.log")
    message = str(caught.value)
    assert f"port {taken_port} on 127.0.0.1" in message
    assert "the broker" in message
    assert "already in use" in message
    assert "choose another port" in message
    assert "Traceback" not in message


@pytest.mark.unit
def test_database_on_a_taken_port_says_so(taken_port: int, tmp_path: Path) -> None:
    with pytest.raises(
        PortTaken, match=rf"port {taken_port} on 127\.0\.0\.1, wanted by the database, is already in use"
    ):
        start_database(taken_port, tmp_path / "db", tmp_path / "db.log")
    assert not (tmp_path / "db.log").exists(), "nothing is started when the port is taken"


@pytest.mark.unit
def test_free_port_is_free() -> None:
    port = free_port()
    assert not port_open("127.0.0.1", port)


@pytest.mark.integration
def test_a_stopped_broker_frees_its_port(make_broker: Callable[..., ServerProcess]) -> None:
    broker = make_broker()
    assert port_open(broker.host, broker.port)
    broker.stop()
    assert not port_open(broker.host, broker.port)
    assert broker.process.poll() is not None

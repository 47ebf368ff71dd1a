"""The kith command: help everywhere, readable one-line errors, and a README kept true."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kith_cli.envdoc import BEGIN, END, render
from kith_cli.main import app

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


COMMANDS = [
    [], ["up"], ["down"], ["status"], ["simulate"], ["import"], ["keys", "create"], ["keys", "list"],
    ["keys", "revoke"], ["deadletters", "list"], ["deadletters", "replay"], ["ask", "suggestions"],
    ["ask", "metrics"], ["scoring", "rebuild"], ["recommend", "rebuild"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_status_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--root", str(tmp_path)])
    assert result.exit_code == 3
    assert "make run" in result.output


def test_a_taken_port_is_one_readable_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["up", "--no-demo", "--root", str(tmp_path), "--broker-port", str(port)])
    assert result.exit_code == 1
    assert f"port {port}" in result.output
    assert "already in use" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".local" / "stack.json").exists()


def test_readme_configuration_table_matches_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == render().strip(), "README is stale: run `python -m kith_cli.envdoc --write README.md`"


def test_readme_names_the_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make run" in readme
    assert "make test" in readme
    assert "make test" in ci

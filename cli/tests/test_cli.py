"""The kith command: help everywhere, readable one-line errors, and a README kept true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import kith_cli
from kith_cli.ask import micro_communities_table
from kith_cli.envdoc import BEGIN, END, render
from kith_cli.keys import keys_table
from kith_cli.main import app
from kith_shared.auth import KeyInfo

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


COMMANDS = [
    [], ["up"], ["down"], ["status"], ["simulate"], ["import"], ["keys", "create"], ["keys", "list"],
    ["keys", "revoke"], ["deadletters", "list"], ["deadletters", "replay"], ["ask", "suggestions"],
    ["ask", "metrics"], ["ask", "micro-communities"], ["scoring", "rebuild"], ["recommend", "rebuild"],
    ["members", "erase"], ["members", "reinstate"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "``" not in result.output, "help texts are shown as written: no reStructuredText quotes"


def test_key_ids_are_never_cut_in_a_narrow_terminal() -> None:
    created = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    keys = [
        KeyInfo(key_id=f"{n:012x}", tenant="a-rather-long-tenant-name", name="the key the nightly importer uses",
                scopes=["admin", "events:write", "metrics:read"], created_at=created, revoked_at=created)
        for n in (0x3F2A9C1B7D40, 0x5E0B6A7C8D91)
    ]  # fmt: skip
    console = Console(width=80, record=True)
    console.print(keys_table(keys))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for key in keys:
        assert any(key.key_id in line for line in lines), f"{key.key_id} cut:\n" + "\n".join(lines)


def test_micro_communities_read_as_a_table() -> None:
    body = {
        "items": [
            {"id": "mc-3f2a9c1b7d405e0b", "size": 9, "status": "emerging", "overlaps": [],
             "topics": [{"tag": "foraging", "weight": 0.4}, {"tag": "mushrooms", "weight": 0.3}],
             "growth": {"gained": 3, "lost": 1, "window": "7d"}, "central_members": ["m-00042", "m-00043", "m-00044"]},
            {"id": "mc-0b6a7c8d91e0f2a3", "size": 7, "status": "inside", "topics": [],
             "overlaps": [{"id": "c-0022", "name": "Berlin Run Club", "jaccard": 0.02, "share": 1.0}],
             "growth": {"gained": 0, "lost": 0, "window": "7d"}, "central_members": ["m-00100"]},
        ],
        "next_cursor": None,
    }  # fmt: skip
    console = Console(width=160, record=True)
    console.print(micro_communities_table(body))
    text = console.export_text()
    assert "#foraging, #mushrooms" in text
    assert "+3 / -1 in 7d" in text
    assert "inside Berlin Run Club" in text
    assert "m-00042, m-00043, m-00044" in text
    assert "mc-3f2a9c1b7d405e0b" in text


def test_stack_commands_say_how_to_get_the_development_kit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in ("kith_devkit", "kith_devkit.servers", "kith_devkit.generator"):  # an install without the extra
        monkeypatch.setitem(sys.modules, module, None)
    for command in (["status"], ["down"], ["up", "--no-demo"], ["simulate", "--via", "kafka"]):
        for module in ("stack", "activity"):  # as if never imported in this process
            monkeypatch.delitem(sys.modules, f"kith_cli.{module}", raising=False)
            monkeypatch.delattr(kith_cli, module, raising=False)
        result = runner.invoke(app, [*command, "--root", str(tmp_path)] if command[0] != "simulate" else command)
        assert result.exit_code == 1, result.output
        assert "pip install 'kith-cli[local]'" in result.output
        assert "Traceback" not in result.output


def test_make_status_with_the_stack_down_prints_only_the_message(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on PATH")
    env = {**os.environ, "KITH_HOME": str(tmp_path)}
    # -o: never rebuild the virtual environment from inside a test.
    done = subprocess.run(  # noqa: S603 - make from PATH, fixed arguments
        [make, "-o", ".venv/.installed", "status"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "the local stack is not running" in output
    assert "make:" not in output
    assert "Error" not in output


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


def test_the_local_stack_points_the_console_at_its_services() -> None:
    from kith_cli.stack import Ports, console_env

    env = console_env(Ports(ingest=9101, scoring=9102, recommend=9103, console=9104))
    assert env["CONSOLE_PORT"] == "9104"
    urls = {name: env[f"CONSOLE_{name.upper()}_URL"] for name in ("ingest", "scoring", "recommend")}
    assert urls == {
        "ingest": "http://127.0.0.1:9101",
        "scoring": "http://127.0.0.1:9102",
        "recommend": "http://127.0.0.1:9103",
    }


def test_the_local_stack_gives_each_service_its_own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from kith_cli.stack import service_env
    from kith_ingest.settings import IngestSettings
    from kith_recommend.settings import RecommendSettings
    from kith_scoring.settings import ScoringSettings

    databases = set()
    for service, settings_class in (("ingest", IngestSettings), ("scoring", ScoringSettings),
                                    ("recommend", RecommendSettings)):  # fmt: skip
        env = service_env(service, port=9000, bootstrap="127.0.0.1:19999", mongo_uri="mongodb://127.0.0.1:27999")
        for name, value in env.items():
            if name.startswith(f"{service.upper()}_"):
                monkeypatch.setenv(name, value)
        settings = settings_class()
        assert settings.mongo.uri.get_secret_value() == "mongodb://127.0.0.1:27999"
        databases.add(settings.mongo.database)
    assert databases == {"kith_ingest", "kith_scoring", "kith_recommend"}


@pytest.mark.parametrize(
    "variable",
    [
        "RECOMMEND_DETECTION__RESOLUTION",
        "RECOMMEND_TUNING__MARGIN",
        "RECOMMEND_RANKING__SOCIAL_WEIGHT",
        "RECOMMEND_DISCOVERY__INTERVAL_SECONDS",
    ],
)
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_no_nested_setting_takes_an_infinite_or_missing_number(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import ValidationError

    from kith_recommend.settings import RecommendSettings

    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match="finite number"):
        RecommendSettings()

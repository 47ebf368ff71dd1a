"""The checked-in JSON Schemas and AsyncAPI document match the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kith_devkit.contracts import ASYNCAPI_FILE, main, render, stale_files
from kith_shared.events import EVENT_CLASSES, validate_event
from kith_shared.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_checked_in_contracts_are_up_to_date() -> None:
    stale = stale_files(CONTRACTS)
    assert not stale, f"stale contract files, run `make contracts`: {', '.join(stale)}"


def test_output_is_deterministic() -> None:
    assert render() == render()


def test_check_names_stale_files_and_write_fixes_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--dir", str(tmp_path)]) == 1
    assert "asyncapi.yaml" in capsys.readouterr().err

    assert main(["write", "--dir", str(tmp_path)]) == 0
    assert main(["check", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()

    schema = tmp_path / "schemas" / "post.created.json"
    schema.write_text(schema.read_text().replace("post_id", "postId"))
    (tmp_path / "schemas" / "post.exploded.json").write_text("{}")
    assert main(["check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "post.created.json" in err
    assert "post.exploded.json" in err
    assert "post.viewed.json" not in err

    assert main(["write", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "schemas" / "post.exploded.json").exists()
    assert main(["check", "--dir", str(tmp_path)]) == 0


def test_every_event_type_has_a_schema_carrying_a_valid_example() -> None:
    for event_type in EVENT_CLASSES:
        schema = json.loads((CONTRACTS / "schemas" / f"{event_type}.json").read_text())
        assert schema["properties"]["type"]["const"] == event_type
        assert "data" in schema["required"]
        (sample,) = schema["examples"]
        assert validate_event(sample).type == event_type
    dead_letter = json.loads((CONTRACTS / "schemas" / "dead-letter.json").read_text())
    assert {"reason", "stage", "source_topic", "value_b64"} <= set(dead_letter["required"])


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_asyncapi_describes_every_topic_with_its_messages_and_parties() -> None:
    document = yaml.safe_load((CONTRACTS / ASYNCAPI_FILE).read_text())
    assert document["asyncapi"] == "3.0.0"
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        channel = channels[spec.name]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        names = {document["components"]["messages"][m]["name"] for m in channel["messages"]}
        assert names == (set(spec.event_types) if spec.payload == "event" else {"dead-letter"})
        operations = [
            op for op in document["operations"].values() if op["channel"]["$ref"].endswith(spec.name.replace(".", "-"))
        ]
        senders = {op["tags"][0]["name"] for op in operations if op["action"] == "send"}
        receivers = {op["tags"][0]["name"] for op in operations if op["action"] == "receive"}
        assert senders == set(spec.producers)
        assert receivers == set(spec.consumers)
    for ref in _refs(document):
        if ref.startswith("#/"):
            assert _resolve(document, ref) is not None, ref
        else:
            assert (CONTRACTS / ref).is_file(), ref

"""Generate the checked-in contracts from the models: JSON Schemas and the AsyncAPI document.

``python -m kith_devkit.contracts write`` regenerates ``contracts/`` at the repository root;
``python -m kith_devkit.contracts check`` exits non-zero, naming each stale file, when the
checked-in files no longer match the models. Output is deterministic (sorted keys).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

import yaml

from kith_shared.events import EVENT_CLASSES, SCHEMA_VERSION, DeadLetter
from kith_shared.events.examples import example
from kith_shared.topics import ACTIVITY, ALL_TOPICS, DEAD_LETTER, MICROCOMMUNITIES, TopicSpec

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FORMAT: Final = "application/schema+json;version=draft-2020-12"
KAFKA_BINDING_VERSION: Final = "0.5.0"
DEAD_LETTER_SCHEMA: Final = "dead-letter"
ASYNCAPI_FILE: Final = "asyncapi.yaml"
SCHEMA_DIR: Final = "schemas"


def _ident(name: str) -> str:
    """Turn a type or topic name into an AsyncAPI identifier (letters, digits, dashes)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_schema(event_type: str) -> dict[str, Any]:
    """Return the JSON Schema of one event type, with its example."""
    schema = EVENT_CLASSES[event_type].model_json_schema(mode="validation")
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{event_type}.json"
    schema["examples"] = [example(event_type)]
    return schema


def dead_letter_schema() -> dict[str, Any]:
    """Return the JSON Schema of a dead-letter record."""
    schema = DeadLetter.model_json_schema(mode="serialization")
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{DEAD_LETTER_SCHEMA}.json"
    return schema


def _payload_ref(name: str) -> dict[str, Any]:
    return {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"./{SCHEMA_DIR}/{name}.json"}}


def _message(event_type: str) -> dict[str, Any]:
    model = EVENT_CLASSES[event_type]
    data_doc = (model.model_fields["data"].annotation.__doc__ or "").strip()
    return {
        "name": event_type,
        "title": event_type,
        "summary": data_doc.splitlines()[0] if data_doc else event_type,
        "contentType": "application/cloudevents+json",
        "payload": _payload_ref(event_type),
        "examples": [{"name": "example", "payload": example(event_type)}],
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": (DeadLetter.__doc__ or "").strip(),
        "contentType": "application/json",
        "payload": _payload_ref(DEAD_LETTER_SCHEMA),
    }


def _message_ids(spec: TopicSpec) -> list[str]:
    if spec.payload == "dead_letter":
        return [DEAD_LETTER_SCHEMA]
    return [_ident(event_type) for event_type in sorted(spec.event_types)]


def _channel(spec: TopicSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": spec.name,
        "description": (
            f"{spec.description}\n\nRecord key: {spec.key}. Deployed as '<topic prefix>{spec.name}' "
            f"(the prefix is a setting, empty in production). Sent by: {', '.join(spec.producers)}. "
            f"Received by: {', '.join(spec.consumers)}."
        ),
        "messages": {message: {"$ref": f"#/components/messages/{message}"} for message in _message_ids(spec)},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operations(spec: TopicSpec) -> dict[str, Any]:
    channel = _ident(spec.name)
    operations: dict[str, Any] = {}
    for action, parties in (("send", spec.producers), ("receive", spec.consumers)):
        for party in parties:
            operations[_ident(f"{party} {action} {spec.name}")] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "title": f"{party}: {action} {spec.name}",
                "summary": f"{'Published to' if action == 'send' else 'Consumed from'} {spec.name} by {party}.",
                "tags": [{"name": party}],
                "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"} for message in _message_ids(spec)],
            }
    return operations


def asyncapi_document() -> dict[str, Any]:
    """Return the AsyncAPI 3.0 document describing every topic."""
    event_types = sorted({event_type for spec in ALL_TOPICS for event_type in spec.event_types})
    messages: dict[str, Any] = {_ident(event_type): _message(event_type) for event_type in event_types}
    messages[DEAD_LETTER_SCHEMA] = _dead_letter_message()
    own_keys = {_ident(event_type): MICROCOMMUNITIES.key for event_type in MICROCOMMUNITIES.event_types}
    own_keys[DEAD_LETTER_SCHEMA] = DEAD_LETTER.key
    for name, message in messages.items():
        key = own_keys.get(name, ACTIVITY.key)
        message["bindings"] = {
            "kafka": {"key": {"type": "string", "description": key}, "bindingVersion": KAFKA_BINDING_VERSION}
        }
    operations: dict[str, Any] = {}
    for spec in ALL_TOPICS:
        operations.update(_operations(spec))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Kith event streams",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Member activity of micro-communities as CloudEvents 1.0 with a 'tenant' extension. Producers "
                "may use structured mode (this document's content type), binary mode ('ce_' headers, data as "
                "the value) or plain JSON on the raw topic; everything after ingest is structured mode. The "
                "pair (source, id) identifies an event: a second copy is a duplicate. Generated from the "
                "models by `python -m kith_devkit.contracts write`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka in KRaft mode (docker-compose.yml, deploy/k8s).",
            },
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The embedded Kafka-compatible broker that `make run` starts.",
            },
        },
        "channels": {_ident(spec.name): _channel(spec) for spec in ALL_TOPICS},
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """Return every contract file's path (relative to the contracts folder) and its content."""
    files = {f"{SCHEMA_DIR}/{event_type}.json": _dump_json(event_schema(event_type)) for event_type in EVENT_CLASSES}
    files[f"{SCHEMA_DIR}/{DEAD_LETTER_SCHEMA}.json"] = _dump_json(dead_letter_schema())
    files[ASYNCAPI_FILE] = yaml.safe_dump(
        asyncapi_document(), sort_keys=True, allow_unicode=True, width=120, default_flow_style=False
    )
    return dict(sorted(files.items()))


def stale_files(folder: Path) -> list[str]:
    """Return the contract files in ``folder`` that are missing, outdated, or no longer generated."""
    expected = render()
    stale = [name for name, content in expected.items() if _read(folder / name) != content]
    schema_dir = folder / SCHEMA_DIR
    if schema_dir.is_dir():
        stale.extend(
            f"{SCHEMA_DIR}/{path.name}"
            for path in sorted(schema_dir.glob("*.json"))
            if f"{SCHEMA_DIR}/{path.name}" not in expected
        )
    return sorted(stale)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write(folder: Path) -> list[str]:
    """Write every contract file into ``folder``, remove ones no longer generated; return what changed."""
    changed = stale_files(folder)
    expected = render()
    for name in changed:
        path = folder / name
        if name in expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def default_folder(start: Path | None = None) -> Path:
    """Return ``contracts/`` at the repository root (the folder holding ``shared/pyproject.toml``)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "shared" / "pyproject.toml").is_file():
            return candidate / "contracts"
    raise FileNotFoundError(f"no repository root above {here}; pass --dir")


def main(argv: list[str] | None = None) -> int:
    """Write or check the contracts; ``check`` returns 1 when a file is stale."""
    parser = argparse.ArgumentParser(prog="python -m kith_devkit.contracts", description=__doc__)
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--dir", type=Path, default=None, help="the contracts folder (default: <repo>/contracts)")
    args = parser.parse_args(argv)
    try:
        folder: Path = args.dir or default_folder()
    except FileNotFoundError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.command == "write":
        changed = write(folder)
        sys.stdout.write("".join(f"wrote {folder / name}\n" for name in changed) or f"{folder} is up to date\n")
        return 0
    stale = stale_files(folder)
    if stale:
        sys.stderr.write(
            "stale contract files (run `make contracts`):\n" + "".join(f"  {folder / name}\n" for name in stale)
        )
        return 1
    sys.stdout.write(f"{folder}: {len(render())} contract files up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

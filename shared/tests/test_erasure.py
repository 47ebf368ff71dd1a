"""Tombstones: keyed, one-way, per tenant."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kith_shared.erasure import Tombstones, tombstone
from kith_shared.events import DeadLetter

pytestmark = pytest.mark.unit


def test_a_tombstone_does_not_hold_the_id_and_depends_on_the_secret_and_tenant() -> None:
    key = tombstone("s3cret", "acme", "m-ada")
    assert "m-ada" not in key
    assert "acme" not in key
    assert len(key) == 64
    assert key == tombstone("s3cret", "acme", "m-ada")
    assert key != tombstone("other", "acme", "m-ada")
    assert key != tombstone("s3cret", "globex", "m-ada")
    assert tombstone("s3cret", "a\nb", "c") != tombstone("s3cret", "a", "b\nc")


def test_tombstones_remember_and_forget_members() -> None:
    known = Tombstones("s3cret")
    assert not known.erased("acme", "m-ada")
    known.add("acme", "m-ada")
    assert known.erased("acme", "m-ada")
    assert not known.erased("globex", "m-ada")
    assert not known.erased("acme", "m-bob")
    known.remove("acme", "m-ada")
    assert not known.erased("acme", "m-ada")
    known.replace([tombstone("s3cret", "acme", "m-bob")])
    assert known.erased("acme", "m-bob")
    assert len(known) == 1


def _letter(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> DeadLetter:
    record = SimpleNamespace(topic="t", partition=0, offset=3, key=b"acme:c1", value=value, headers=headers or [])
    return DeadLetter.from_record(record, reason="bad", error="DecodeError", stage="ingest")


def test_a_dead_letter_names_its_members_in_either_mode_and_is_redacted_whole() -> None:
    structured = {"tenant": "acme", "type": "comment.created",
                  "data": {"member_id": "m-a", "replied_to_member_id": "m-b", "text": "hi m-b"}}  # fmt: skip
    letter = _letter(json.dumps(structured).encode())
    assert letter.named_members() == ("acme", ["m-a", "m-b"])
    binary = _letter(json.dumps({"member_id": "m-c"}).encode(), [("ce_type", b"post.created"), ("ce_tenant", b"acme")])
    assert binary.named_members() == ("acme", ["m-c"])
    assert _letter(b"\xff not json").named_members() == (None, [])

    known = Tombstones("s3cret")
    known.add("acme", "m-b")
    assert known.any_erased(*letter.named_members())
    assert not known.any_erased(*binary.named_members())
    redacted = letter.redact("names an erased member")
    assert redacted.redacted
    assert (redacted.value_b64, redacted.key_b64, redacted.headers) == ("", None, [])
    assert "m-b" not in redacted.model_dump_json()
    assert redacted.offset == letter.offset

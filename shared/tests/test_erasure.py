"""Tombstones: keyed, one-way, per tenant."""

from __future__ import annotations

from kith_shared.erasure import Tombstones, tombstone


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

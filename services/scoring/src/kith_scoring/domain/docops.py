"""MongoDB update documents built in memory, merged within a batch, and applied to plain dicts.

Every effect of an event is a commutative update (``$inc``, ``$min``, ``$max``, ``$addToSet``, a
capped and sorted ``$push``), so merging the updates of many events gives the same document
whatever their order. :func:`apply_update` performs the same operations on a dict, which lets the
consumer compute a document's new state without reading it back and lets unit tests run without a
database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]


@dataclass
class Push:
    """A capped push: keep the ``cap`` largest items by ``sort_keys`` (descending)."""

    items: list[dict[str, Any]]
    sort_keys: tuple[str, ...]
    cap: int

    def merged(self, other: Push) -> Push:
        """Return the push that carries both pushes' items, trimmed."""
        return Push(_top(self.items + other.items, self.sort_keys, self.cap), self.sort_keys, self.cap)


def _top(items: list[dict[str, Any]], sort_keys: tuple[str, ...], cap: int) -> list[dict[str, Any]]:
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        unique[tuple(item[k] for k in sort_keys)] = item
    ordered = sorted(unique.values(), key=lambda item: tuple(item[k] for k in sort_keys), reverse=True)
    return ordered[:cap]


@dataclass
class DocUpdate:
    """The merged update of one document."""

    on_insert: dict[str, Any] = field(default_factory=dict)
    inc: dict[str, float] = field(default_factory=dict)
    min: dict[str, Any] = field(default_factory=dict)
    max: dict[str, Any] = field(default_factory=dict)
    add_to_set: dict[str, set[str]] = field(default_factory=dict)
    push: dict[str, Push] = field(default_factory=dict)

    def set_on_insert(self, **values: Any) -> None:
        """Set fields when the document is created."""
        self.on_insert.update(values)

    def add(self, path: str, amount: float) -> None:
        """Add ``amount`` to a numeric field."""
        self.inc[path] = self.inc.get(path, 0) + amount

    def lowest(self, path: str, value: Any) -> None:
        """Keep the smallest value seen."""
        current = self.min.get(path)
        if current is None or value < current:
            self.min[path] = value

    def highest(self, path: str, value: Any) -> None:
        """Keep the largest value seen."""
        current = self.max.get(path)
        if current is None or value > current:
            self.max[path] = value

    def add_all(self, path: str, values: set[str] | list[str]) -> None:
        """Add values to a set field."""
        self.add_to_set.setdefault(path, set()).update(values)

    def push_capped(self, path: str, items: list[dict[str, Any]], sort_keys: tuple[str, ...], cap: int) -> None:
        """Push items into a list that keeps only the ``cap`` largest by ``sort_keys``."""
        incoming = Push(_top(items, sort_keys, cap), sort_keys, cap)
        current = self.push.get(path)
        self.push[path] = incoming if current is None else current.merged(incoming)

    def merge(self, other: DocUpdate) -> None:
        """Fold another update of the same document into this one."""
        for key, value in other.on_insert.items():
            self.on_insert.setdefault(key, value)
        for key, amount in other.inc.items():
            self.add(key, amount)
        for key, value in other.min.items():
            self.lowest(key, value)
        for key, value in other.max.items():
            self.highest(key, value)
        for key, values in other.add_to_set.items():
            self.add_all(key, values)
        for key, push in other.push.items():
            self.push_capped(key, push.items, push.sort_keys, push.cap)

    @property
    def empty(self) -> bool:
        """Tell whether the update changes nothing but insertion defaults."""
        return not (self.inc or self.min or self.max or self.add_to_set or self.push)

    def to_mongo(self) -> Document:
        """Return the MongoDB update document."""
        update: Document = {}
        if self.on_insert:
            update["$setOnInsert"] = dict(self.on_insert)
        if self.inc:
            update["$inc"] = dict(self.inc)
        if self.min:
            update["$min"] = dict(self.min)
        if self.max:
            update["$max"] = dict(self.max)
        if self.add_to_set:
            update["$addToSet"] = {k: {"$each": sorted(v)} for k, v in self.add_to_set.items()}
        if self.push:
            update["$push"] = {
                k: {"$each": p.items, "$sort": dict.fromkeys(p.sort_keys, -1), "$slice": p.cap}
                for k, p in self.push.items()
            }
        return update


class _CopyOnWrite:
    """A new document that shares every part of the original it does not change."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.root: Document = dict(doc)
        self._own = {id(self.root)}

    def parent(self, path: str) -> tuple[Document, str]:
        """Return the (copied) object that holds the last part of ``path``, and that part."""
        *parents, last = path.split(".")
        node = self.root
        for part in parents:
            child = node.get(part)
            if child is None or id(child) not in self._own:
                child = {} if child is None else dict(child)
                node[part] = child
                self._own.add(id(child))
            node = child
        return node, last


def apply_update(doc: Mapping[str, Any] | None, update: DocUpdate) -> Document:
    """Return ``doc`` (None: a new document) with ``update`` applied, as MongoDB would; ``doc`` is left as it was.

    Only the objects on the paths the update writes are copied, so applying a small update to a
    large document costs little.
    """
    result = _CopyOnWrite(update.on_insert if doc is None else doc)
    for path, amount in update.inc.items():
        node, key = result.parent(path)
        node[key] = node.get(key, 0) + amount
    for path, value in update.min.items():
        node, key = result.parent(path)
        if key not in node or value < node[key]:
            node[key] = value
    for path, value in update.max.items():
        node, key = result.parent(path)
        if key not in node or value > node[key]:
            node[key] = value
    for path, values in update.add_to_set.items():
        node, key = result.parent(path)
        current = list(node.get(key, []))
        current.extend(v for v in sorted(values) if v not in current)
        node[key] = current
    for path, push in update.push.items():
        node, key = result.parent(path)
        node[key] = _top(list(node.get(key, [])) + push.items, push.sort_keys, push.cap)
    return result.root


def update_from_document(doc: Mapping[str, Any], *, skip: frozenset[str] = frozenset()) -> DocUpdate:
    """Return an update that adds a stored document's figures into another document.

    Numbers add up (``$inc``), dates and strings keep the extreme the field name asks for: fields
    listed in :data:`MIN_FIELDS` keep the earliest, every other one the latest.
    """
    update = DocUpdate()

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in skip or key == "_id":
                continue
            if isinstance(value, dict):
                walk(value, f"{path}.")
            elif isinstance(value, bool):
                update.highest(path, value)
            elif isinstance(value, int | float):
                update.add(path, value)
            elif isinstance(value, list):
                update.add_all(path, [str(v) for v in value])
            elif path.split(".")[-1] in MIN_FIELDS:
                update.lowest(path, value)
            else:
                update.highest(path, value)

    walk(doc, "")
    return update


#: Date fields that keep the earliest value when figures are merged.
MIN_FIELDS = frozenset({"first", "joined_first", "created"})

"""Checks on free-form maps, so that no user-supplied key can become a MongoDB operator or path."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 5
MAX_KEYS = 100
MAX_BYTES = 8_192


class UnsafeMappingError(ValueError):
    """A free-form map is too large, too deep, or has a key MongoDB would interpret."""


def _walk(value: Any, depth: int, path: str, counter: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise UnsafeMappingError(f"nested deeper than {MAX_DEPTH} levels at {path or 'top'}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeMappingError(f"key {key!r} at {path or 'top'} is not a string")
            if key.startswith("$"):
                raise UnsafeMappingError(f"key {key!r} at {path or 'top'} starts with '$'")
            if "." in key:
                raise UnsafeMappingError(f"key {key!r} at {path or 'top'} contains '.'")
            if "\x00" in key or not key:
                raise UnsafeMappingError(f"key {key!r} at {path or 'top'} is empty or contains NUL")
            counter[0] += 1
            if counter[0] > MAX_KEYS:
                raise UnsafeMappingError(f"more than {MAX_KEYS} keys")
            _walk(item, depth + 1, f"{path}.{key}" if path else key, counter)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, depth + 1, f"{path}[{index}]", counter)


def check_safe_mapping(value: dict[str, Any]) -> dict[str, Any]:
    """Return ``value`` unchanged if it is a small JSON map with safe keys; raise otherwise."""
    _walk(value, 1, "", [0])
    size = len(json.dumps(value, default=str, separators=(",", ":")))
    if size > MAX_BYTES:
        raise UnsafeMappingError(f"{size} bytes of JSON, more than {MAX_BYTES}")
    return value

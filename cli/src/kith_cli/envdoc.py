"""The configuration reference: every environment variable of each service, from its settings class.

``python -m kith_cli.envdoc`` prints the Markdown that README.md holds between the
``<!-- env:begin -->`` and ``<!-- env:end -->`` markers (``--write README.md`` refreshes them); a test
keeps the two equal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

BEGIN = "<!-- env:begin -->"
END = "<!-- env:end -->"


def _settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    from kith_console.settings import ConsoleSettings
    from kith_ingest.settings import IngestSettings
    from kith_recommend.settings import RecommendSettings
    from kith_scoring.settings import ScoringSettings

    return [
        ("ingest", IngestSettings),
        ("scoring", ScoringSettings),
        ("recommend", RecommendSettings),
        ("console", ConsoleSettings),
    ]


def _default_value(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def _show(value: Any) -> str:
    if value is PydanticUndefined:
        return "(required)"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        value = value.value
    if isinstance(value, frozenset | set):
        value = sorted(value)
    text = json.dumps(value) if isinstance(value, dict | list | tuple) else str(value)
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str, defaults: BaseModel | None) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env_name = f"{prefix}{name.upper()}"
        value = getattr(defaults, name) if defaults is not None else _default_value(field)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(annotation, f"{env_name}__", value if isinstance(value, BaseModel) else None)
            continue
        description = (field.description or _inherited_description(model, name)).replace("|", "\\|").replace("\n", " ")
        yield env_name, _show(value), description


def _inherited_description(model: type[BaseModel], name: str) -> str:
    """Return the description a field overridden without one has in the nearest base that gives one."""
    for base in model.__mro__[1:]:
        field = base.model_fields.get(name) if isinstance(base, type) and issubclass(base, BaseModel) else None
        if field is not None and field.description:
            return field.description
    return ""


def render() -> str:
    """Return the Markdown tables of every service's environment variables."""
    parts = []
    for service, cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        parts.append(f"**{service}** (`{prefix}*`)\n")
        parts.append("| variable | default | meaning |\n|---|---|---|")
        parts.extend(f"| `{name}` | `{default}` | {text} |" if default else f"| `{name}` | | {text} |"
                     for name, default, text in _rows(cls, prefix, None))  # fmt: skip
        parts.append("")
    return "\n".join(parts)


def splice(readme: str, block: str) -> str:
    """Return ``readme`` with the text between the markers replaced by ``block``."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """Print the configuration reference, or write it into a README (``--write README.md``)."""
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(splice(path.read_text(), render()))
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

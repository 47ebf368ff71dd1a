#!/usr/bin/env python3
"""Run, or probe, the Kith service an image was built for (``KITH_SERVICE``: ingest, scoring or recommend).

The Dockerfile installs this as ``kith-service`` (the image's command) and runs ``kith-service --check``
as its health check. Serving binds every interface unless ``<SERVICE>_HOST`` says otherwise, on the
service's own port setting (``<SERVICE>_PORT``, default 8001, 8002 or 8003). ``--check`` exits 0 when
the service answers ``/healthz`` on that port, 1 otherwise.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import urllib.error
import urllib.request


def _port(service: str) -> int:
    """Return the port the service listens on: its ``<SERVICE>_PORT``, else its settings' default."""
    configured = os.environ.get(f"{service.upper()}_PORT")
    if configured:
        return int(configured)
    settings = getattr(importlib.import_module(f"kith_{service}.settings"), f"{service.capitalize()}Settings")
    return int(settings.model_fields["port"].default)


def check(service: str, timeout: float = 2.0) -> int:
    """Return 0 when the service answers its health check, 1 otherwise."""
    url = f"http://127.0.0.1:{_port(service)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: list[str]) -> int:
    """Serve the image's service, or with ``--check`` probe it."""
    service = os.environ.get("KITH_SERVICE", "")
    if not service:
        sys.stderr.write("KITH_SERVICE is not set: build the image with --build-arg SERVICE=<name>\n")
        return 2
    if argv == ["--check"]:
        return check(service)
    os.environ.setdefault(f"{service.upper()}_HOST", "0.0.0.0")
    runpy.run_module(f"kith_{service}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

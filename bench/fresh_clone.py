"""A newcomer's wait: from a fresh clone to every consumer at lag 0 with ``make run``.

``python -m bench fresh_clone [--ports 18100] [--within 900] [--warm-cache]``

Clones this repository (its committed ``HEAD``) into a temporary folder, runs ``make run`` there on
non-default ports (``KITH_*_PORT``), with an empty download cache for ``uv`` unless ``--warm-cache``,
then polls ``kith status --json`` until scoring and recommend are both at lag 0, and stops the stack.
Prints when ``make run`` returned, when each consumer reached lag 0, and the install's and the demo
load's own lines; writes ``bench/results/fresh_clone.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import ROOT, finish, parser_for

RESULTS = Path(__file__).resolve().parent / "results" / "fresh_clone.json"
#: The lines of make run's output worth keeping in the figures.
SHOWN = ("install ", "Installed ", "demo ", "still catching up", "caught up", "make: ")


def _run(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    with log.open("ab") as out:
        return subprocess.call(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _lags(clone: Path, env: dict[str, str]) -> dict[str, int | None]:
    answer = subprocess.run(  # noqa: S603 - the clone's own kith command
        [str(clone / ".venv" / "bin" / "kith"), "status", "--json"],
        cwd=clone, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return {lag["service"]: lag["records"] for lag in json.loads(answer.stdout)["consumer_lag"]}
    except (ValueError, KeyError, TypeError):
        return {}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Clone, run, wait for lag 0, stop; return the timings."""
    folder = Path(tempfile.mkdtemp(prefix="kith-fresh-clone-"))
    clone, log = folder / "kith", folder / "make-run.log"
    env = dict(os.environ)
    ports = {"INGEST": 0, "SCORING": 1, "RECOMMEND": 2, "BROKER": 92, "DATABASE": 27}
    env.update({f"KITH_{name}_PORT": str(args.ports + offset) for name, offset in ports.items()})
    if not args.warm_cache:
        env["UV_CACHE_DIR"] = str(folder / "uv-cache")
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)  # noqa: S603, S607
        code = _run(["make", "run"], clone, env, log)
        returned = time.monotonic() - started
        reached: dict[str, float] = {}
        samples: list[dict[str, Any]] = []
        while code == 0 and time.monotonic() - started < args.within:
            lags = _lags(clone, env)
            now = time.monotonic() - started
            samples.append({"t": round(now, 1), **lags})
            for service in ("scoring", "recommend"):
                if lags.get(service) == 0:
                    reached.setdefault(service, now)
                elif lags.get(service):
                    reached.pop(service, None)
            if {"scoring", "recommend"} <= set(reached):
                break
            time.sleep(2.0)
    finally:
        if (clone / ".venv" / "bin" / "kith").exists():
            _run(["make", "stop"], clone, env, log)
        lines = [line for line in log.read_text().splitlines() if line.startswith(SHOWN)] if log.exists() else []
        shutil.rmtree(folder, ignore_errors=True)
    both = max(reached.values()) if {"scoring", "recommend"} <= set(reached) else None
    return {
        "make_run_exit": code,
        "make_run_returned_s": returned,
        "lag_zero_s": reached,
        "clone_to_lag_zero_s": both,
        "cold_download_cache": not args.warm_cache,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "lines": lines,
        "samples": samples,
    }


def markdown(result: dict[str, Any]) -> str:
    """Render the timings."""
    both = result["clone_to_lag_zero_s"]
    reached = result["lag_zero_s"]
    rows = [
        ("`make run` returned", f"{result['make_run_returned_s']:.0f} s (exit {result['make_run_exit']})"),
        ("scoring at lag 0", f"{reached['scoring']:.0f} s" if "scoring" in reached else "not reached"),
        ("recommend at lag 0", f"{reached['recommend']:.0f} s" if "recommend" in reached else "not reached"),
        ("**clone to every consumer at lag 0** (target < 150 s)", f"**{both:.0f} s**" if both else "not reached"),
    ]
    lines = [
        f"Fresh clone (load average {result['load_average_before'][0]:.1f} before, "
        f"{'cold' if result['cold_download_cache'] else 'warm'} download cache)",
        "",
        "| step | seconds from the clone |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "```",
        *result["lines"],
        "```",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the fresh-clone measurement, print it and write the JSON figures."""
    parser = parser_for("fresh_clone", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--ports", type=int, default=18100, help="first of the ports used (default 18100)")
    parser.add_argument("--within", type=float, default=900.0, help="longest wait for lag 0, in seconds")
    parser.add_argument("--warm-cache", action="store_true", help="use uv's usual download cache")
    args = parser.parse_args(argv)
    result = measure(args)
    finish(result, args.output, markdown(result))
    return 0 if result["clone_to_lag_zero_s"] is not None else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

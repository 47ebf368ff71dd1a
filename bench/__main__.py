"""Run benchmarks: ``python -m bench NAME [options]`` or ``python -m bench all --data PATH``.

Each benchmark is a module of this package with a ``main(argv: list[str]) -> int`` function. It
prints a Markdown table of its figures and writes them as JSON under ``bench/results/``.
"""

from __future__ import annotations

import importlib
import signal
import sys

#: Benchmark modules, in the order ``all`` runs them. ``--data`` is passed to those that read data.
BENCHMARKS: dict[str, bool] = {
    "ingest": False,
    "ingest_worstcase": False,
    "scoring": False,
    "recommend_speed": False,
    "recommend_consume": False,
    "recommend_quality": True,
    "recommend_tuning": False,
    "recommend_places": False,
    "microcommunities": True,
    "console": False,
    "pipeline": False,
    "fresh_clone": False,
    "soak": False,
}


def _stop_on_terminate(signum: int, _frame: object) -> None:
    """Stop on SIGTERM as on Ctrl-C, so every benchmark stops the servers it started on its way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    """Dispatch to one benchmark, or run them all."""
    signal.signal(signal.SIGTERM, _stop_on_terminate)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ or "")
        sys.stdout.write("\nbenchmarks: " + ", ".join(BENCHMARKS) + "\n")
        return 0
    name, rest = argv[0], argv[1:]
    if name == "all":
        data_args = rest[rest.index("--data") : rest.index("--data") + 2] if "--data" in rest else []
        status = 0
        for bench_name, wants_data in BENCHMARKS.items():
            module = importlib.import_module(f"bench.{bench_name}")
            status |= int(module.main(data_args if wants_data else []))
        return status
    if name not in BENCHMARKS:
        sys.stderr.write(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}\n")
        return 2
    return int(importlib.import_module(f"bench.{name}").main(rest))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

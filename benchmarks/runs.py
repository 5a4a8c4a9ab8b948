"""Benchmark runs in worker processes, one printed line per finished run (shared by the bench-mf and bench-mo
scripts, whose runs are dicts with ``problem``, ``seed``, ``seconds`` and ``error``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any


def run_logged(
    run_one: Callable[[Any], dict[str, Any]],
    tasks: Sequence[Any],
    jobs: int,
    label: str,
    results: list[dict[str, Any]],
    dump: str | None,
) -> None:
    """Run ``tasks`` on ``jobs`` processes, printing each run's problem, seed, ``label`` column, time and error;
    append the runs to ``results`` and, with ``dump``, save all of ``results`` there as JSON."""
    width = max((len(str(task[0])) for task in tasks), default=12)
    with ProcessPoolExecutor(jobs) as pool:
        for r in pool.map(run_one, tasks):
            error = f"  ERROR {r['error']}" if r["error"] else ""
            print(f"{r['problem']:>{width}} seed {r['seed']} {r[label]:<30} {r['seconds']:6.1f} s{error}", flush=True)
            results.append(r)
    if dump:
        Path(dump).write_text(json.dumps(results))

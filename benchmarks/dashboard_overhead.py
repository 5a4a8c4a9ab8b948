"""Per-trial cost of the live display: 2,000 trials of a trivial objective, dashboard on and off, in a real kernel.

Run with ``make bench-dashboard`` (or ``python benchmarks/dashboard_overhead.py [--trials N]``). The study runs
through ``%%tune`` in a Jupyter kernel started by nbclient, so widget messages are really serialised and sent.
Target: under 1 ms of display overhead per trial on average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import nbformat
from nbclient import NotebookClient

TIMING = """
import json
_study = tune.study
_loop = _study.trials[-1].finished_at - _study.trials[0].started_at
print(json.dumps({{"display": "{display}", "trials": len(_study.trials), "loop_s": _loop,
                  "total_s": _time.perf_counter() - _t0}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    cells = ["%load_ext hpmagic"]
    for display in ("none", "text", "widgets"):
        cells.append(f"%config TuneMagics.display = '{display}'")
        magic = f"%%tune --strategy random --trials {args.trials} --seed 0 --storage :memory: --name bench-{display}"
        # The timer starts in a cell of its own, so the magic's cell holds only the objective.
        cells.append("import time as _time\n_t0 = _time.perf_counter()")
        cells.append(f"{magic}\nx = tune.uniform(-1, 1)\nx * x")
        cells.append(TIMING.format(display=display))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as workdir:
        NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
    results = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out["text"].startswith("{"):
                row = json.loads(out["text"])
                results[row["display"]] = row
    base = results["none"]
    print(f"{args.trials} trials of x*x, random strategy, in-memory store, in a Jupyter kernel (nbclient)\n")
    print("| display | loop per trial | display overhead per trial | whole cell (incl. final plots) |")
    print("|---|---|---|---|")
    for display, row in results.items():
        per = row["loop_s"] / row["trials"] * 1000
        overhead = (row["loop_s"] - base["loop_s"]) / row["trials"] * 1000
        print(f"| {display} | {per:.3f} ms | {overhead:+.3f} ms | {row['total_s']:.2f} s |")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(benchmark ran in {time.perf_counter() - started:.0f} s)")

"""``%%tune --constraint`` in a real Jupyter kernel (nbclient): the best feasible trial's variables are published,
infeasible rows are greyed in the saved output, and a bad constraint is a one-line UsageError that keeps the study."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL = (
    "%%tune --strategy bayes --trials 12 --seed 0 --name lat --constraint 'latency <= 10'\n"
    "x = tune.uniform(-3, 3)\n"
    "latency = abs(x) * 10\n"
    "(x - 2) ** 2\n"
)
CHECK = (
    "import json\n"
    "s = tune.study\n"
    "feasible = [t for t in s.trials if t.feasible]\n"
    "print(json.dumps({'n': len(s.trials), 'best': s.best_trial.number, 'latency': latency,\n"
    "                  'x': x, 'best_x': s.best_trial.params['x'], 'infeasible': len(s.trials) - len(feasible),\n"
    "                  'min_all': min(t.value for t in s.trials), 'best_value': s.best_value}))\n"
)


def test_constraint_in_a_real_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext hpmagic\n%config TuneMagics.display = 'html'"),
        nbformat.v4.new_code_cell(CELL),
        nbformat.v4.new_code_cell(CHECK),
        nbformat.v4.new_code_cell(CELL.replace("--trials 12", "--trials 14 --resume").replace("<= 10", "== 10")),
        nbformat.v4.new_code_cell("print(len(tune.study.trials), tune.study.name)"),
    ]
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    run, check, bad, after = nb.cells[1], nb.cells[2], nb.cells[3], nb.cells[4]
    assert not [o for o in run.outputs if o.output_type == "error"]
    html = "".join(
        o.get("data", {}).get("text/html", "")
        for o in run.outputs
        if o.output_type in ("display_data", "update_display_data", "execute_result")
    )
    result = json.loads("".join(o.text for o in check.outputs if o.output_type == "stream"))
    assert result["n"] == 12 and result["infeasible"] > 0
    assert result["x"] == result["best_x"] and result["latency"] <= 10  # the best feasible trial's variables
    assert result["min_all"] < result["best_value"]  # an infeasible trial scored better
    assert html.count('class="hpmagic-infeasible"') == result["infeasible"]  # every trial is in the 20-row table
    # IPython shows a UsageError as one line on stderr (no traceback), and the cell stops there.
    assert not [o for o in bad.outputs if o.output_type == "error"]
    [message] = ["".join(o.text) for o in bad.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert message.startswith("UsageError: constraint 'latency == 10' compares with ==")
    assert len(message.strip().splitlines()) == 1
    text = "".join(o.text for o in after.outputs if o.output_type == "stream")
    assert text.split() == ["12", "lat"]  # nothing ran, the 12 trials are kept

"""In a real kernel (nbclient): a function defined in an earlier cell sees each trial's values of the variables the
%%tune cell assigns, dict markers are named by their keys, and the best values are published."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELLS = [
    "%load_ext hpmagic",
    "batch_size = 1000\n"
    "def make_model():\n"
    "    return {'batch_size': batch_size, 'lr': params['learning_rate']}\n"
    "def train_loop():\n"
    "    model = make_model()\n"
    "    return (model['batch_size'] - 24) ** 2 + model['lr']",
    "%%tune --strategy random --trials 8 --seed 0 --storage :memory: --name ns\n"
    "batch_size = tune.int(1, 64)\n"
    'params = {"learning_rate": tune.loguniform(1e-3, 0.3)}\n'
    "loss = train_loop()\n"
    "loss",
    "import json\n"
    "study = tune.study\n"
    "print(json.dumps({\n"
    "    'trials': [[t.params, t.value] for t in study.trials],\n"
    "    'best': study.best_params, 'batch_size': batch_size, 'params': params,\n"
    "    'again': train_loop() == study.best_value,\n"
    "}))",
]


def test_functions_of_earlier_cells_see_each_trials_values_in_a_real_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["trials"]) == 8
    for params, value in result["trials"]:
        # Every trial trained with its own batch_size and learning rate, not the notebook's 1000.
        assert value == (params["batch_size"] - 24) ** 2 + params["learning_rate"]
    assert set(result["best"]) == {"batch_size", "learning_rate"}
    assert result["batch_size"] == result["best"]["batch_size"]
    assert result["params"] == {"learning_rate": result["best"]["learning_rate"]}
    assert result["again"] is True

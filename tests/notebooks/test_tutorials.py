"""Three public tutorials written as %%tune cells, run cell by cell in a real kernel (nbclient) as a new user would.

- scikit-learn's grid search over an SVC, whose grid is conditional (``gamma`` only matters for the rbf kernel);
- PyTorch's "optimizing model parameters" loop, in NumPy: ``train_loop`` is defined in an earlier cell and reads the
  ``batch_size`` and ``learning_rate`` globals that the %%tune cell assigns, trained under ``--budget`` with
  ``--prune median``, in the kernel and with ``--jobs 2`` on Dask workers;
- LightGBM's dict of parameters with early stopping, written with scikit-learn's HistGradientBoostingClassifier.

A second kernel (the notebook reopened after a restart) resumes the ``--budget`` study and gets its best trial's
variables back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = """\
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.svm import SVC
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X[:600] / 16, y[:600], test_size=0.3, random_state=0)"""

# The PyTorch tutorial's hyperparameters are globals, and its train_loop reads batch_size from them.
TORCH_SETUP = """\
learning_rate = 1e-3
batch_size = 64
epochs = 5

def train_loop(W, X, y):
    print(f"train_loop: batch_size={batch_size} learning_rate={learning_rate:.6g}")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch_size):
        rows = order[start:start + batch_size]
        logits = X[rows] @ W
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(rows)), y[rows]] -= 1
        W -= learning_rate * X[rows].T @ p / len(rows)
    return W

def test_loop(W, X, y):
    return float(np.mean((X @ W).argmax(axis=1) != y))"""

GRID = """\
%%tune --strategy grid --maximize --name svc-grid --storage tutorials.db
C = tune.choice([1, 10, 100, 1000])
kernel = tune.choice(["linear", "rbf"])
gamma = tune.choice([1e-3, 1e-4]) if kernel == "rbf" else "scale"
model = SVC(C=C, kernel=kernel, gamma=gamma)
cross_val_score(model, X_train, y_train, cv=3).mean()"""

TORCH = """\
%%tune --strategy random --trials 12 --seed 0 --budget 1..8 --prune median --name {name} --storage tutorials.db{extra}
learning_rate = tune.loguniform(1e-3, 3.0)
batch_size = tune.choice([16, 64, 256])
W = np.zeros((64, 10))
for epoch in tune.steps():
    W = train_loop(W, X_train, y_train)
    tune.report(test_loop(W, X_test, y_test), step=epoch)
error = test_loop(W, X_test, y_test)
error"""

LIGHTGBM = """\
%%tune --strategy random --trials 6 --seed 0 --maximize --name hgb-dict --storage tutorials.db
from sklearn.ensemble import HistGradientBoostingClassifier
Xb, yb = load_breast_cancer(return_X_y=True)
Xb_train, Xb_val, yb_train, yb_val = train_test_split(Xb, yb, test_size=0.25, random_state=0)
params = {
    "learning_rate": tune.loguniform(0.01, 0.3),
    "max_leaf_nodes": tune.int(4, 32),
    "l2_regularization": tune.loguniform(1e-6, 1.0),
}
gbm = HistGradientBoostingClassifier(max_iter=60, early_stopping=True, n_iter_no_change=5, random_state=0, **params)
gbm.fit(Xb_train, yb_train)
gbm.score(Xb_val, yb_val)"""

REPORT = """\
import json
from hpmagic import load_study
def describe(name):
    s = load_study(name, "tutorials.db")
    return {"trials": [{"params": t.params, "state": t.state.value, "value": t.value, "stdout": t.stdout or "",
                        "steps": [step for step, _ in t.intermediate]} for t in s.trials],
            "best": s.best_params, "best_value": s.best_value}
print(json.dumps({
    "studies": {n: describe(n) for n in ("svc-grid", "torch", "torch-dask", "hgb-dict")},
    "published": {"batch_size": batch_size, "learning_rate": learning_rate, "error": error,
                  "params": params, "n_iter": int(gbm.n_iter_)},
}))"""

RESUMED = """\
import json
W_again = np.zeros((64, 10))
for _ in range(8):
    W_again = train_loop(W_again, X_train, y_train)
print(json.dumps({"batch_size": batch_size, "learning_rate": learning_rate, "error": error,
                  "again": test_loop(W_again, X_test, y_test)}))"""


def run(cells: list[str], workdir: Path) -> nbformat.NotebookNode:
    """Run the cells in a fresh kernel, in ``workdir``; a failing cell raises, naming it."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return nb


def last_json(cell: Any) -> dict[str, Any]:
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tutorials(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("tutorials")
    cells = [
        "%load_ext hpmagic",
        SETUP,
        GRID,
        TORCH_SETUP,
        TORCH.format(name="torch-dask", extra=" --jobs 2"),
        TORCH.format(name="torch", extra=""),
        LIGHTGBM,
        REPORT,
    ]
    nb = run(cells, workdir)
    return last_json(nb.cells[-1]), nb, workdir


def test_a_grid_over_a_conditional_space_runs_each_configuration_once(tutorials: Any) -> None:
    grid = tutorials[0]["studies"]["svc-grid"]
    configs = [tuple(sorted(t["params"].items())) for t in grid["trials"]]
    # scikit-learn's param_grid: 4 linear + 4 x 2 rbf = 12 configurations, none twice, gamma only with rbf.
    assert len(configs) == 12 and len(set(configs)) == 12, configs
    assert all(("gamma" in dict(c)) == (dict(c)["kernel"] == "rbf") for c in configs)
    assert all(t["state"] == "complete" for t in grid["trials"])


@pytest.mark.parametrize("name", ["torch", "torch-dask"])
def test_a_function_of_an_earlier_cell_trains_with_each_trials_values(tutorials: Any, name: str) -> None:
    study = tutorials[0]["studies"][name]
    assert len(study["trials"]) == 12
    for t in study["trials"]:
        # train_loop read the trial's batch_size and learning_rate, at every step the trial ran, not the notebook's.
        lines = [line for line in t["stdout"].splitlines() if line.startswith("train_loop:")]
        expected = (
            f"train_loop: batch_size={t['params']['batch_size']} learning_rate={t['params']['learning_rate']:.6g}"
        )
        assert lines and set(lines) == {expected}, (t["params"], lines)
        assert len(lines) == len(t["steps"])
    # Different values train different models: the errors differ from trial to trial.
    assert len({round(t["value"], 9) for t in study["trials"] if t["value"] is not None}) > 3


def test_median_pruning_waits_for_its_warm_up(tutorials: Any) -> None:
    trials = tutorials[0]["studies"]["torch"]["trials"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, "median stopping pruned nothing in the tutorial's study"
    # --budget 1..8: the default warm-up is a quarter of it, so no trial is judged before step 3.
    assert min(t["steps"][-1] for t in pruned) >= 3, [t["steps"] for t in pruned]


def test_dict_markers_are_named_by_their_keys_and_the_best_is_published(tutorials: Any) -> None:
    report = tutorials[0]
    study = report["studies"]["hgb-dict"]
    assert set(study["best"]) == {"learning_rate", "max_leaf_nodes", "l2_regularization"}
    assert len({tuple(sorted(t["params"].items())) for t in study["trials"]}) == 6
    assert report["published"]["params"] == study["best"]
    assert 1 <= report["published"]["n_iter"] <= 60  # early stopping ran in the published model's fit
    torch = report["studies"]["torch"]
    # The kernel's globals are the best trial's of the study run last in the kernel with those names.
    assert report["published"]["batch_size"] == torch["best"]["batch_size"]
    assert report["published"]["error"] == torch["best_value"]


def test_resuming_the_budget_study_after_a_restart_republishes_the_best(tutorials: Any) -> None:
    report, _, workdir = tutorials
    best = report["studies"]["torch"]
    cells = ["%load_ext hpmagic", SETUP, TORCH_SETUP, TORCH.format(name="torch", extra=" --resume"), RESUMED]
    nb = run(cells, workdir)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("output_type") == "stream")
    assert "could not rebuild" not in printed
    resumed = last_json(nb.cells[-1])
    assert resumed["batch_size"] == best["best"]["batch_size"]
    assert resumed["learning_rate"] == best["best"]["learning_rate"]
    assert resumed["error"] == best["best_value"]
    # The notebook's train_loop now reads the best values: a full training again gives the best trial's error.
    assert resumed["again"] == pytest.approx(best["best_value"])

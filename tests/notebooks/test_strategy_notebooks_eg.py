"""The evolution and gradient notebooks run top to bottom in a real kernel, and their results hold up.

Each notebook runs once per module (nbclient, the environment's ``python3`` kernel, a fresh working folder); the
tests then read what it printed and what it left in the study store. The ridge optimum is recomputed here, apart
from the notebook, so a notebook that measured itself against a wrong optimum would fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from hpmagic import load_study
from tests.notebooks.helpers import NOTEBOOKS, assert_every_cell_ran, execute, printed, studies

EVOLUTION = NOTEBOOKS / "evolution_architecture.ipynb"
GRADIENT = NOTEBOOKS / "gradient_ridge.ipynb"


@pytest.fixture(scope="module")
def evolution_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("evolution")
    return execute(EVOLUTION, workdir), workdir


@pytest.fixture(scope="module")
def gradient_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("gradient")
    return execute(GRADIENT, workdir), workdir


@pytest.mark.parametrize("run", ["evolution_run", "gradient_run"])
def test_every_cell_ran_without_error(run: str, request: pytest.FixtureRequest) -> None:
    nb, _ = request.getfixturevalue(run)
    assert_every_cell_ran(nb)


# -- evolution ----------------------------------------------------------------------------------------------------


def test_evolution_finds_an_accurate_network(evolution_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = evolution_run
    found = studies(workdir)
    assert set(found) == {"digits-evolution", "digits-random"}
    evolution, sampled = found["digits-evolution"], found["digits-random"]
    assert (evolution["strategy"], sampled["strategy"]) == ("evolution", "random")
    for study in (evolution, sampled):
        assert study["direction"] == "maximize" and study["state"] == "finished"
        assert study["n_trials"] == study["n_complete"] == 30
    assert evolution["best_value"] > 0.9

    text = printed(nb)
    assert "the first 20 trials are the same in both studies: True" in text
    shown = re.search(r"^best validation accuracy: (\S+) \(trial (\d+)\)$", text, re.M)
    assert shown and float(shown.group(1)) == pytest.approx(evolution["best_value"], abs=1e-4)
    # The best trial's variables came back: the architecture line lists as many widths as layers.
    arch = re.search(r"^architecture: (\d) hidden layer\(s\) of widths \[([\d, ]+)\]", text, re.M)
    assert arch and len(arch.group(2).split(",")) == int(arch.group(1))
    test_score = re.search(r"^test accuracy: (\S+)$", text, re.M)
    assert test_score and 0.85 < float(test_score.group(1)) <= 1.0


def test_evolution_children_inherit_their_layers(evolution_run: tuple[nbformat.NotebookNode, Path]) -> None:
    """Every trial used one width per layer, within bounds, and the children reuse widths of earlier trials."""
    _, workdir = evolution_run
    study = load_study("digits-evolution", workdir / "hpmagic.db")
    earlier: set[int] = set()
    inherited = 0
    for trial in study.trials:
        widths = [trial.params[f"units_{i}"] for i in range(trial.params["n_layers"])]
        assert all(8 <= w <= 128 for w in widths)
        assert not any(f"units_{i}" in trial.params for i in range(trial.params["n_layers"], 3))
        if trial.number >= 20:
            inherited += any(w in earlier for w in widths)
        earlier.update(widths)
    assert inherited >= 5, "children should mostly carry widths of their parents"


# -- gradient -----------------------------------------------------------------------------------------------------


def ridge_optimum() -> float:
    """The notebook's problem solved apart from it: the lowest validation MSE over 20,000 log-spaced alphas."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=8)
    A, b = X_train - X_train.mean(axis=0), y_train - y_train.mean()
    A_val, b_val = X_val - X_train.mean(axis=0), y_val - y_train.mean()
    # With A'A = V diag(lam) V', the ridge weights are V diag(1 / (lam + alpha)) V'A'b: all alphas at once.
    lam, V = np.linalg.eigh(A.T @ A)
    alphas = np.logspace(-4, 3, 20_000)
    weights = V @ ((V.T @ (A.T @ b))[:, None] / (lam[:, None] + alphas[None, :]))
    losses = ((A_val @ weights - b_val[:, None]) ** 2).mean(axis=0)
    return float(losses.min())


def test_hypergradient_matches_finite_differences(gradient_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = gradient_run
    text = printed(nb)
    assert "centred fit = sklearn's intercept fit: True" in text
    rows = re.findall(r"^alpha=\S+\s+closed form\s+(\S+)\s+finite difference\s+(\S+)$", text, re.M)
    assert len(rows) == 5
    for exact, numeric in rows:
        assert float(exact) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6)


def test_gradient_runs_reach_the_ridge_optimum(gradient_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = gradient_run
    optimum = ridge_optimum()
    text = printed(nb)
    grid = re.search(r"^dense grid optimum: alpha=(\S+), validation MSE=(\S+)$", text, re.M)
    assert grid and float(grid.group(2)) == pytest.approx(optimum, rel=1e-4)

    found = studies(workdir)
    assert set(found) == {"ridge-hypergradient", "ridge-estimated", "ridge-random"}
    for name, n_trials in [("ridge-hypergradient", 20), ("ridge-estimated", 30)]:
        study = found[name]
        assert study["strategy"] == "gradient" and study["direction"] == "minimize"
        assert study["n_trials"] == study["n_complete"] == n_trials
        assert study["best_value"] <= 1.01 * optimum, (name, study["best_value"], optimum)  # the target
        assert study["best_value"] <= 1.001 * optimum, (name, study["best_value"], optimum)  # and closer still
    # The comparison table: trials each run needed to come within 1% and 0.1%. Reported gradients cost one trial
    # per step, estimated ones three, so the reported run gets within 0.1% no later than the estimated one.
    needed = {}
    for label in ("reported gradient", "estimated gradient"):
        row = re.search(rf"^{label}\s+(\d+)\s+\S+\s+\S+\s+\S+%\s+(\S+)\s+(\S+)$", text, re.M)
        assert row and row.group(2) != "None" and row.group(3) != "None", text
        needed[label] = int(row.group(3))
    assert needed["reported gradient"] <= needed["estimated gradient"], needed


def test_reported_gradients_are_stored_with_their_trials(gradient_run: tuple[nbformat.NotebookNode, Path]) -> None:
    _, workdir = gradient_run
    reported = load_study("ridge-hypergradient", workdir / "hpmagic.db")
    assert all(isinstance(t.user_attrs.get("grad", {}).get("alpha"), float) for t in reported.trials)
    estimated = load_study("ridge-estimated", workdir / "hpmagic.db")
    assert not any("grad" in t.user_attrs for t in estimated.trials)

"""notebooks/multi_objective.ipynb runs top to bottom in a real kernel: accuracy against tree size with a constraint,
a warm start and the importance chart; what it printed is checked against the study it stored, recomputed here."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from hpmagic import importance, load_study
from hpmagic.trial import TrialState
from tests.notebooks.helpers import NOTEBOOKS, assert_every_cell_ran, execute, printed

NOTEBOOK = NOTEBOOKS / "multi_objective.ipynb"
ENQUEUED = {"max_depth": 6, "min_samples_leaf": 4, "ccp_alpha": 1e-3, "criterion": "entropy"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("multi_objective")
    return execute(NOTEBOOK, workdir), workdir


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


def test_the_notebook_runs_and_its_front_is_the_stored_studys(run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = run
    assert_every_cell_ran(nb)
    study = load_study("tree-size", workdir / "hpmagic.db")
    assert study.objective_names == ["accuracy", "nodes"]
    assert [str(d) for d in study.directions] == ["maximize", "minimize"]
    assert study.constraints == ["nodes <= 150"]
    assert len(study.trials) == 40 and all(t.state is TrialState.COMPLETE for t in study.trials)
    assert study.trials[0].params == ENQUEUED  # the warm start ran first

    # the constraint: a trial is infeasible exactly when its tree has more than 150 nodes
    for t in study.trials:
        assert t.feasible == (t.values[1] <= 150), (t.number, t.values, t.violations)
    text = printed(nb)
    infeasible = [t.number for t in study.trials if not t.feasible]
    assert f"{len(infeasible)} of 40 trials broke the constraint nodes <= 150: {infeasible}" in text

    # the front it printed is the feasible non-dominated set, recomputed here by brute force
    feasible = [t for t in study.trials if t.feasible]
    expected = sorted(
        t.number
        for t in feasible
        if not any(
            (o.values[0] >= t.values[0] and o.values[1] <= t.values[1])
            and (o.values[0] > t.values[0] or o.values[1] < t.values[1])
            for o in feasible
        )
    )
    shown = [int(n) for n in re.findall(r"^front: trial (\d+):", text, re.M)]
    assert shown == expected == [t.number for t in study.best_trials]
    assert len(expected) >= 3  # a trade-off, not one winner

    # the pick: the smallest front tree within 0.01 of the front's best accuracy, refitted to the same size
    front = study.best_trials
    top = max(t.values[0] for t in front)
    pick = min((t for t in front if t.values[0] >= top - 0.01), key=lambda t: t.values[1])
    assert f"picked trial {pick.number}: accuracy {pick.values[0]:.4f}, {pick.values[1]:.0f} nodes" in text
    assert f"refitted: {pick.values[1]:.0f} nodes" in text


def test_the_pareto_plot_and_the_importance_chart_are_drawn(run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = run
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {name: next(c for c in code if name in c.source) for name in ("pareto_front", "plot.importance")}
    assert _images(by_source["pareto_front"]) == 1 and _images(by_source["plot.importance"]) == 1
    # the importance explains the primary objective, accuracy: the stored study gives the same shares
    shares = importance(load_study("tree-size", workdir / "hpmagic.db"))
    line = re.search(r"^importance for accuracy: (.*)$", printed(nb), re.M)
    assert line is not None
    assert line.group(1) == str({name: round(share, 3) for name, share in shares.items()})
    assert set(shares) == set(ENQUEUED) and np.isclose(sum(shares.values()), 1.0, atol=0.05)

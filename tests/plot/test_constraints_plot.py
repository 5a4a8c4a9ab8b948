"""Plots of a study with constraints: infeasible trials drawn apart, the best-so-far line over feasible ones only."""

from __future__ import annotations

import matplotlib
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.plot import convergence, convergence_data, param_scatter
from hpmagic.trial import Trial, TrialState

matplotlib.use("Agg")


def _study(seed: int = 0):
    return hpmagic.optimize(
        lambda p: (p["x"] - 2) ** 2,
        {"x": tune.uniform(-5, 5)},
        strategy="random",
        n_trials=15,
        seed=seed,
        constraints=["x <= 0"],
    )


def test_convergence_draws_infeasible_trials_as_grey_crosses_and_the_best_over_feasible_ones():
    study = _study()
    ax = convergence(study)
    feasible = [t for t in study.trials if t.feasible]
    infeasible = [t for t in study.trials if not t.feasible]
    points, crosses = ax.collections[0], ax.collections[1]
    assert sorted(points.get_offsets()[:, 0].tolist()) == [t.number for t in feasible]
    assert crosses.get_label() == "infeasible"
    assert sorted(crosses.get_offsets()[:, 0].tolist()) == [t.number for t in infeasible]
    line = ax.lines[0].get_ydata()
    assert np.nanmin(line) == study.best_value  # not the better value of an infeasible trial
    assert min(t.value for t in infeasible) < study.best_value
    ax.figure.clf()


def test_param_scatter_marks_the_best_feasible_and_crosses_the_rest():
    study = _study(1)
    ax = param_scatter(study, "x")
    best = ax.collections[1].get_offsets()[0]
    assert tuple(best) == (study.best_trial.params["x"], study.best_value)
    crosses = next(c for c in ax.collections if c.get_label() == "infeasible")
    assert all(x > 0 for x in crosses.get_offsets()[:, 0])
    assert all(x <= 0 for x in ax.collections[0].get_offsets()[:, 0])
    ax.figure.clf()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-100, 100, allow_nan=False), st.booleans()), min_size=1, max_size=30),
    st.sampled_from(["minimize", "maximize"]),
)
def test_best_so_far_is_the_running_best_of_the_feasible_trials(runs, direction):
    trials = []
    for i, (value, ok) in enumerate(runs):
        t = Trial(number=i, state=TrialState.COMPLETE, value=value)
        t.violations = [0.0 if ok else 1.0]
        trials.append(t)
    data = convergence_data(trials, direction)
    pick = max if direction == "maximize" else min
    for i in range(len(runs)):
        seen = [v for v, ok in runs[: i + 1] if ok]
        if seen:
            assert data.best_so_far[i] == pick(seen)
        else:
            assert np.isnan(data.best_so_far[i])
    assert data.feasible.tolist() == [ok for _, ok in runs]


def test_parallel_coordinates_greys_infeasible_trials_and_marks_the_best_feasible():
    from matplotlib.colors import to_rgba

    from hpmagic.plot import parallel_coordinates, parallel_data

    study = _study(2)
    data = parallel_data(study.trials, study.space, study.direction)
    n_bad = int((~data.feasible).sum())
    assert n_bad and not data.feasible[:n_bad].any() and data.feasible[n_bad:].all()  # infeasible drawn first
    assert data.numbers[-1] == study.best_trial.number
    ax = parallel_coordinates(study)
    lines = next(c for c in ax.collections if c.get_gid() == "trials")
    colors = lines.get_colors()
    grey = to_rgba("#8c959f")[:3]
    assert all(tuple(c[:3]) == grey for c in colors[:n_bad])
    assert all(tuple(c[:3]) != grey for c in colors[n_bad:])
    assert [line.get_label() for line in ax.lines if line.get_label().startswith("best")] == [
        f"best: trial {study.best_trial.number}"
    ]
    ax.figure.clf()

"""Samplers that learn constraints: bayes's feasibility model, evolution's constrained tournament."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.samplers import BayesSampler, EvolutionSampler
from hpmagic.samplers._feasibility import FeasibilityModel
from hpmagic.space import Space
from hpmagic.trial import Trial

DISK = "(x1 - 2.5) ** 2 + (x2 - 7.5) ** 2 <= 50"


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def test_bayes_learns_where_the_disk_constraint_holds():
    space = {"x1": tune.uniform(-5, 10), "x2": tune.uniform(0, 15)}
    sampler = BayesSampler(n_candidates=500)
    study = hpmagic.optimize(branin, space, strategy=sampler, n_trials=22, seed=0, constraints=[DISK])
    assert sampler.n_model_asks > 0 and sampler.n_fallbacks == 0
    assert sampler.feasibility({"x1": 2.5, "x2": 7.5}) > 0.9  # the disk's centre
    grid = [(a, b) for a in np.linspace(-5, 10, 16) for b in np.linspace(0, 15, 16)]
    p = np.array([sampler.feasibility({"x1": a, "x2": b}) for a, b in grid])
    inside = np.array([(a - 2.5) ** 2 + (b - 7.5) ** 2 <= 50 for a, b in grid])
    # 89-95% of a 16 x 16 grid on the right side of 0.5 over seeds 0-2 (corners no trial visited stay near 0.5)
    assert ((p > 0.5) == inside).mean() > 0.85
    assert p[inside].mean() > 0.85 and p[~inside].mean() < 0.4
    assert study.best_trial.feasible


def test_the_feasibility_model_separates_the_two_sides_of_a_linear_bound():
    rng = np.random.default_rng(0)
    x = rng.random((30, 2))
    margins = (x[:, 0] + x[:, 1] - 1.0)[:, None]  # feasible below the diagonal
    model = FeasibilityModel(x, margins)
    p = model.probability(np.array([[0.1, 0.1], [0.9, 0.9], [0.2, 0.3], [0.8, 0.7]]))
    assert p[0] > 0.95 and p[2] > 0.9
    assert p[1] < 0.05 and p[3] < 0.1


def test_bayes_without_a_feasible_trial_searches_for_one():
    space = {"x": tune.uniform(0, 10)}
    sampler = BayesSampler(n_initial_points=4, n_candidates=300)
    study = hpmagic.optimize(lambda p: -p["x"], space, strategy=sampler, n_trials=10, seed=1, constraints=["x <= 1"])
    # Maximising x runs into the bound: the first feasible trial comes from the model, which steers below 1.
    assert any(t.feasible for t in study.trials[4:])
    assert study.best_trial is not None and study.best_trial.params["x"] <= 1


def _trial(number, loss, violation):
    t = Trial(number=number, params={"x": number / 10}, state=TrialState.COMPLETE, value=loss)
    t.violations = [violation]
    return t


def test_evolution_tournament_prefers_feasible_then_less_violation():
    sampler = EvolutionSampler(population=4, tournament=4)
    history = [_trial(0, 0.1, 3.0), _trial(1, 5.0, 0.0), _trial(2, 0.2, 0.5), _trial(3, 9.0, 0.0)]
    sampler.setup(Space({"x": tune.uniform(0, 1)}), direction="minimize", seed=0, history=history)
    winner = sampler._tournament(np.random.default_rng(0))
    assert winner.params == history[1].params  # feasible and best of the feasible, though trial 0 scores better
    infeasible = [_trial(0, 0.1, 3.0), _trial(1, 5.0, 0.4), _trial(2, 0.2, 0.5)]
    sampler.setup(Space({"x": tune.uniform(0, 1)}), direction="minimize", seed=0, history=infeasible)
    assert sampler._tournament(np.random.default_rng(0)).params == infeasible[1].params  # the least violation


def test_evolution_keeps_the_feasible_best_when_not_regularized():
    sampler = EvolutionSampler(population=2, tournament=1, regularized=False)
    history = [_trial(0, 0.1, 1.0), _trial(1, 0.5, 0.0), _trial(2, 0.3, 0.0), _trial(3, 0.05, 2.0)]
    sampler.setup(Space({"x": tune.uniform(0, 1)}), direction="minimize", seed=0, history=history)
    assert [m.params for m in sampler.members] == [history[2].params, history[1].params]


@pytest.mark.parametrize("strategy", ["bayes", "evolution"])
def test_a_study_without_constraints_is_unchanged(strategy):
    space = {"x": tune.uniform(-3, 3), "y": tune.int(0, 4)}

    def fn(p):
        return (p["x"] - 1) ** 2 + p["y"]

    options = {"n_candidates": 300} if strategy == "bayes" else {}
    a = hpmagic.optimize(fn, space, strategy=strategy, n_trials=12, seed=4, strategy_options=options)
    b = hpmagic.optimize(
        fn, space, strategy=strategy, n_trials=12, seed=4, strategy_options=options, constraints=["x <= 100"]
    )
    assert [t.params for t in a.trials] == [t.params for t in b.trials]

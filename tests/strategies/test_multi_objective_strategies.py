"""Strategies on several objectives: NSGA-II selection in evolution, ParEGO in bayes (its EHVI: test_ehvi.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.objectives import Objectives
from hpmagic.pareto import crowding_distance, front_order, nondominated_ranks
from hpmagic.samplers import BayesSampler, EvolutionSampler
from hpmagic.space import Float, Space
from hpmagic.trial import Trial
from hpmagic.types import Direction

SPACE = Space({f"x{i}": Float(0.0, 1.0) for i in range(3)})
TWO = Objectives(("f1", "f2"), (Direction.MINIMIZE, Direction.MAXIMIZE))


def zdt1(params):
    """ZDT1 on three variables, its second objective negated so the study maximises it."""
    x = [params[f"x{i}"] for i in range(3)]
    g = 1 + 9 * (x[1] + x[2]) / 2
    return [x[0], -(g * (1 - math.sqrt(x[0] / g)))]


def told(sampler, n, objective=zdt1, start=0):
    trials = []
    for number in range(start, start + n):
        params = sampler.ask(number)
        values = objective(params)
        trial = Trial(number=number, params=params, state=TrialState.COMPLETE, value=values[0], values=values)
        sampler.tell(trial)
        trials.append(trial)
    return trials


def as_losses(trials):
    return np.array([[t.values[0], -t.values[1]] for t in trials])


def test_nsga2_keeps_the_whole_front_and_ranks_its_population():
    sampler = EvolutionSampler(population=12, tournament=2)
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=0, n_trials=80)
    trials = told(sampler, 80)
    members = sampler.members
    assert len(members) == 12
    everything = as_losses(trials)
    front = {trials[i].number for i in np.flatnonzero(nondominated_ranks(everything) == 0)}
    kept = {m.order for m in members}
    # Elitism: the members are numbered by age among complete trials (all complete here: age == number).
    if len(front) <= 12:
        assert front <= kept
    else:
        assert kept <= front
    # The population is ordered as NSGA-II ranks it: by front, then by crowding distance, lonelier first.
    points = np.array([sampler._vectors[m.order] for m in members])
    order, ranks, crowding = front_order(points)
    assert order.tolist() == list(range(12))
    for r in set(ranks.tolist()):
        within = crowding[ranks == r]
        assert within.tolist() == sorted(within.tolist(), reverse=True)
        assert np.allclose(within, crowding_distance(points[ranks == r]))


def test_nsga2_tournament_prefers_the_front():
    sampler = EvolutionSampler(population=6, tournament=6)  # a tournament of everyone: the winner is the best
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=1, n_trials=30)
    told(sampler, 30)
    winner = sampler._tournament(np.random.default_rng(0))
    rank, distance = sampler._crowded[winner.order]
    assert rank == 0 and distance == max(c for r, c in sampler._crowded.values() if r == 0)


def test_nsga2_survivors_use_constrained_domination():
    def constrained(params):
        return zdt1(params)

    sampler = EvolutionSampler(population=5, tournament=2)
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=2, n_trials=40)
    for number in range(40):
        params = sampler.ask(number)
        values = constrained(params)
        violation = max(0.0, params["x0"] - 0.5)  # only x0 <= 0.5 is feasible
        trial = Trial(
            number=number,
            params=params,
            state=TrialState.COMPLETE,
            value=values[0],
            values=values,
            violations=[violation],
        )
        sampler.tell(trial)
    assert all(m.params["x0"] <= 0.5 for m in sampler.members)


def test_single_objective_evolution_is_unchanged_by_the_new_path():
    a, b = EvolutionSampler(population=5), EvolutionSampler(population=5)
    b.objectives = None
    for sampler in (a, b):
        sampler.setup(SPACE, direction="minimize", seed=3, n_trials=20)
    ta = told(a, 20, objective=lambda p: [sum(p.values())] * 2)
    tb = told(b, 20, objective=lambda p: [sum(p.values())] * 2)
    assert [t.params for t in ta] == [t.params for t in tb]
    assert not a._crowded


def test_parego_fits_the_augmented_chebyshev_of_normalised_objectives():
    sampler = BayesSampler(n_initial_points=5, multi_objective="parego")
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=4, n_trials=12)
    trials = told(sampler, 12)
    weights = sampler._weights
    assert weights is not None and weights.sum() == pytest.approx(1.0) and np.all(weights >= 0)
    losses = as_losses(trials)
    normalised = (losses - losses.min(axis=0)) / np.ptp(losses, axis=0)
    expected = (weights * normalised).max(axis=1) + 0.05 * (weights * normalised).sum(axis=1)
    assert sampler._model_data()[1] == pytest.approx(expected.tolist())
    assert sampler.n_model_asks > 0


def test_parego_draws_new_weights_per_ask():
    sampler = BayesSampler(n_initial_points=4, multi_objective="parego")
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=5, n_trials=10)
    told(sampler, 6)
    drawn = []
    for number in range(6, 10):
        told(sampler, 1, start=number)
        drawn.append(tuple(sampler._weights))
    assert len(set(drawn)) == len(drawn)


def test_parego_counts_a_failed_trial_as_the_worst_scalarisation():
    sampler = BayesSampler(n_initial_points=3, multi_objective="parego")
    sampler.objectives = TWO
    sampler.setup(SPACE, direction="minimize", seed=6, n_trials=8)
    told(sampler, 4)
    params = sampler.ask(4)
    sampler.tell(Trial(number=4, params=params, state=TrialState.FAILED, error="boom"))
    told(sampler, 1, start=5)
    scores = sampler._model_data()[1]
    assert len(scores) == 6 and scores[4] == max(scores)


@pytest.mark.parametrize("strategy", ["evolution", "bayes", "random", "grid"])
def test_a_multi_objective_study_runs_with_every_strategy(strategy):
    study = hpmagic.optimize(
        lambda p: {"f1": p["x"], "f2": (1 - p["x"]) ** 2 + p["y"]},
        {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
        strategy=strategy,
        n_trials=14,
        seed=0,
        directions={"f1": "minimize", "f2": "minimize"},
        strategy_options={"evolution": {"population": 6}, "grid": {"points": 3}}.get(strategy),
    )
    assert len(study.trials) == (9 if strategy == "grid" else 14) and all(t.values is not None for t in study.trials)
    assert study.best_trials
    sampler = study._strategy._sampler() if study._strategy is not None else None
    assert sampler is None or sampler.objectives == study.objectives

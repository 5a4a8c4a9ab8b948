"""Gradient descent: the conformance suite, convergence, hypergradients, log scales and the parameters it fixes.

Convergence is measured as a user would see it: the best trial's parameters after a budget, over several seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import GradientSampler, RandomSampler, get_strategy
from hpmagic.trial import Trial
from tests.strategies.conformance import (
    ODD_CHOICES,
    StrategyConformance,
    assert_valid,
    configs,
    drive,
    loss,
    make_trial,
    mixed_space,
)

SEEDS = range(5)


class TestGradientConformance(StrategyConformance):
    # A short random start, so that most of the 30 trials are the descent's.
    n_trials = 30
    resume_exact = True

    def make_strategy(self, **kw: Any) -> GradientSampler:
        return GradientSampler(**{"initial": 6, **kw})

    def make_exploring_strategy(self) -> GradientSampler:
        # The distribution test needs 200 draws from the prior: a random start longer than that.
        return GradientSampler(initial=1000)


class TestCentralGradientConformance(TestGradientConformance):
    def make_strategy(self, **kw: Any) -> GradientSampler:
        return GradientSampler(**{"initial": 6, "method": "central", **kw})


# -- options ------------------------------------------------------------------------------------------------------


def test_registered_with_its_options() -> None:
    strategy = get_strategy("gradient", initial=4, lr=0.1, schedule="1/t", method="Central", c=0.05)
    assert isinstance(strategy, GradientSampler)
    assert (strategy.initial, strategy.lr, strategy.schedule, strategy.method, strategy.c) == (
        4,
        0.1,
        "1/t",
        "central",
        0.05,
    )
    with pytest.raises(OptionError, match="has no option 'steps'"):
        get_strategy("gradient", steps=3)


@pytest.mark.parametrize(
    "options",
    [
        {"initial": 0},
        {"initial": 1.5},
        {"lr": 0},
        {"lr": float("nan")},
        {"schedule": "exp"},
        {"method": "adam"},
        {"c": 0},
        {"c": 0.9},
    ],
)
def test_bad_options_are_option_errors(options: dict[str, Any]) -> None:
    with pytest.raises(OptionError):
        GradientSampler(**options)


# -- convergence --------------------------------------------------------------------------------------------------

QUADRATIC_SPACE = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})


def quadratic(p: dict[str, Any]) -> float:
    """A 2-d quadratic in the unit cube, its optimum (0.3, 0.7) inside, curvatures 2 and 4."""
    return (p["x"] - 0.3) ** 2 + 2 * (p["y"] - 0.7) ** 2


def best_of(trials: list[Trial]) -> dict[str, Any]:
    return min((t for t in trials if t.value is not None), key=lambda t: t.value).params


@pytest.mark.parametrize(("method", "budget"), [("spsa", 60), ("central", 40)])
def test_converges_on_a_quadratic(method: str, budget: int) -> None:
    for seed in SEEDS:
        best = best_of(drive(GradientSampler(method=method), QUADRATIC_SPACE, quadratic, budget, seed=seed))
        assert abs(best["x"] - 0.3) < 1e-2 and abs(best["y"] - 0.7) < 1e-2, (method, seed, best)


def test_descent_beats_random_search_on_the_same_budget() -> None:
    for seed in SEEDS:
        descent = min(t.value for t in drive(GradientSampler(), QUADRATIC_SPACE, quadratic, 40, seed=seed))
        sampled = min(t.value for t in drive(RandomSampler(), QUADRATIC_SPACE, quadratic, 40, seed=seed))
        assert descent < sampled / 10, (seed, descent, sampled)


def test_maximizing_climbs() -> None:
    for seed in SEEDS:
        trials = drive(GradientSampler(), QUADRATIC_SPACE, lambda p: -quadratic(p), 60, seed=seed, direction="maximize")
        best = max((t for t in trials), key=lambda t: t.value).params
        assert abs(best["x"] - 0.3) < 1e-2 and abs(best["y"] - 0.7) < 1e-2, (seed, best)


def trials_to_reach(study: hpmagic.Study, close: Any) -> int | None:
    """How many trials the study ran before its first trial that satisfies ``close(params)``."""
    for i, trial in enumerate(study.trials):
        if trial.value is not None and close(trial.params):
            return i + 1
    return None


def test_reported_hypergradient_needs_fewer_trials() -> None:
    """With ``tune.report(value, grad=...)`` each descent step costs one trial; an estimate costs two more."""
    target = 1.234

    def exact(p: dict[str, Any]) -> float:
        value = (p["x"] - target) ** 2
        tune.report(value, grad={"x": 2 * (p["x"] - target)})
        return value

    def plain(p: dict[str, Any]) -> float:
        return (p["x"] - target) ** 2

    def close(params: dict[str, Any]) -> bool:
        return abs(params["x"] - target) < 1e-3

    space = {"x": tune.uniform(-5, 5)}
    for seed in SEEDS:
        with_grad = hpmagic.optimize(exact, space, strategy="gradient", n_trials=60, seed=seed)
        estimated = hpmagic.optimize(plain, space, strategy="gradient", n_trials=60, seed=seed)
        n_grad, n_estimated = trials_to_reach(with_grad, close), trials_to_reach(estimated, close)
        assert n_grad is not None and n_estimated is not None, (seed, n_grad, n_estimated)
        assert n_grad < n_estimated, (seed, n_grad, n_estimated)
        assert n_grad <= 16, (seed, n_grad)  # 8 random trials, then about one trial per step


def test_hypergradient_is_converted_to_the_unit_cube() -> None:
    """Chain rule: d/du = d/dx * dx/du, with dx/du = x ln(high/low) on a log scale and high - low on a linear one."""
    space = Space({"a": Float(1e-5, 1.0, log=True), "b": Float(-2.0, 3.0), "n": Int(1, 3)})
    strategy = GradientSampler()
    strategy.setup(space, direction="maximize", seed=0)
    trial = make_trial(0, {"a": 1e-3, "b": 0.5, "n": 2}, 1.0)
    trial.user_attrs["grad"] = {"a": 7.0, "b": -2.0}
    grad = strategy._unit_grad(trial)
    assert grad is not None
    # Maximizing: the loss is -value, so the signs flip.
    np.testing.assert_allclose(grad, [-7.0 * 1e-3 * math.log(1e5), 2.0 * 5.0])


def test_partial_hypergradient_is_replaced_by_an_estimate() -> None:
    def partial(p: dict[str, Any]) -> float:
        value = quadratic(p)
        tune.report(value, grad={"x": 2 * (p["x"] - 0.3)})  # nothing for y
        return value

    strategy = GradientSampler()
    study = hpmagic.optimize(
        partial, {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}, strategy=strategy, n_trials=60, seed=0
    )
    assert any("without y" in note for note in strategy.notes), strategy.notes
    assert abs(study.best_params["x"] - 0.3) < 1e-2 and abs(study.best_params["y"] - 0.7) < 1e-2


# -- log scales ---------------------------------------------------------------------------------------------------


def test_log_dimension_is_descended_in_the_log_domain() -> None:
    """The optimum of (log10(a) + 2)^2 over loguniform(1e-5, 1), a quadratic in the unit cube's coordinate."""

    def estimated(p: dict[str, Any]) -> float:
        return (math.log10(p["a"]) + 2) ** 2

    def exact(p: dict[str, Any]) -> float:
        value = (math.log10(p["a"]) + 2) ** 2
        tune.report(value, grad={"a": 2 * (math.log10(p["a"]) + 2) / (p["a"] * math.log(10))})
        return value

    space = {"a": tune.loguniform(1e-5, 1)}
    for fn in (estimated, exact):
        for seed in SEEDS:
            study = hpmagic.optimize(fn, space, strategy="gradient", n_trials=40, seed=seed)
            assert abs(math.log10(study.best_params["a"]) + 2) < 1e-2, (fn.__name__, seed, study.best_params)


# -- what the descent does not tune ---------------------------------------------------------------------------------


def test_integer_and_categorical_parameters_are_fixed_after_the_start() -> None:
    space = mixed_space()
    strategy = GradientSampler(initial=10)
    trials = drive(strategy, space, loss, 40, seed=2)
    start_best = min(trials[:10], key=lambda t: t.value)
    for trial in trials[10:]:
        assert_valid(space, trial.params)
        for name in ("n", "width", "const", "kind"):
            assert trial.params[name] == start_best.params[name], (trial.number, name)
    assert strategy.fixed == {n: start_best.params[n] for n in ("n", "width", "const", "kind")}
    note = next(note for note in strategy.notes if "fixed" in note)
    assert "n=" in note and "kind=" in note and "gradient descent tunes x, lr" in note
    # The floats moved on from the start's best point, and improved on it.
    assert min(t.value for t in trials[10:]) < start_best.value


def test_a_space_without_floats_is_random_search() -> None:
    space = Space({"n": Int(1, 9), "kind": Categorical(ODD_CHOICES)})
    strategy = GradientSampler(initial=3)
    trials = drive(strategy, space, loss, 20, seed=4)
    assert configs(trials) == configs(drive(RandomSampler(), space, loss, 20, seed=4))
    assert any("no float parameters" in note for note in strategy.notes)


def test_run_time_markers_keep_the_best_value() -> None:
    """A marker created inside the trial has no gradient either: the descent keeps the start's best value."""

    def fn(p: dict[str, Any]) -> float:
        k = tune.int(1, 5, name="k")
        return (p["x"] - 0.4) ** 2 + abs(k - 3)

    strategy = GradientSampler(initial=8)
    study = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy=strategy, n_trials=30, seed=1)
    start_k = min(study.trials[:8], key=lambda t: t.value).params["k"]
    assert {t.params["k"] for t in study.trials[8:]} == {start_k}
    assert strategy.fixed == {"k": start_k}
    assert any("'k'" in note for note in strategy.notes)


# -- failures and resuming ----------------------------------------------------------------------------------------


def test_failures_shrink_the_step_and_return_to_the_best_point() -> None:
    """The optimum (x = 0.65) lies in a region where trials fail (x > 0.6): the descent ends at the edge."""

    def fenced(p: dict[str, Any]) -> float | None:
        return None if p["x"] > 0.6 else (p["x"] - 0.65) ** 2

    space = Space({"x": Float(0.0, 1.0)})
    for seed in SEEDS:
        strategy = GradientSampler()
        trials = drive(strategy, space, fenced, 40, seed=seed)
        assert any(t.value is None for t in trials[8:])  # the descent did step over the edge
        best = best_of(trials)
        assert 0.57 < best["x"] <= 0.6, (seed, best)


def test_resume_continues_the_descent_exactly() -> None:
    whole = drive(GradientSampler(), QUADRATIC_SPACE, quadratic, 40, seed=6)
    first = drive(GradientSampler(), QUADRATIC_SPACE, quadratic, 17, seed=6)
    rest = drive(GradientSampler(), QUADRATIC_SPACE, quadratic, 23, seed=6, history=first)
    assert configs(first + rest) == configs(whole)


def test_resume_from_another_strategy_starts_from_its_best_trial() -> None:
    history = drive(RandomSampler(), QUADRATIC_SPACE, quadratic, 12, seed=0)
    start = min(history, key=lambda t: t.value)
    strategy = GradientSampler()
    trials = drive(strategy, QUADRATIC_SPACE, quadratic, 30, seed=0, history=history)
    assert any(f"from trial {start.number}" in note for note in strategy.notes), strategy.notes
    assert min(t.value for t in trials) < start.value / 10

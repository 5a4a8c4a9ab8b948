"""Samplers under schedulers: the conformance suite for the combinations, BOHB's budget rule, and bad pairings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from IPython.core.error import UsageError

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.space import Float, Space
from hpmagic.strategies import (
    ASHAScheduler,
    BayesSampler,
    EvolutionSampler,
    HyperbandScheduler,
    MedianStopping,
    RandomSampler,
    build_search,
    search_label,
)
from hpmagic.trial import Trial, TrialState
from tests.magic.conftest import run
from tests.strategies.conformance import StrategyConformance, make_trial


class TestBOHBConformance(StrategyConformance):
    """bayes proposing the configurations of hyperband's brackets."""

    n_trials = 16

    def make_strategy(self, **kw: Any) -> HyperbandScheduler:
        scheduler = HyperbandScheduler().attach(BayesSampler(n_initial_points=4, n_candidates=200, **kw))
        scheduler.resource = (1, 9)
        return scheduler

    def make_exploring_strategy(self) -> HyperbandScheduler:
        scheduler = HyperbandScheduler().attach(BayesSampler(n_initial_points=300))
        scheduler.resource = (1, 243)
        return scheduler


class TestEvolutionASHAConformance(StrategyConformance):
    n_trials = 16

    def make_strategy(self, **kw: Any) -> ASHAScheduler:
        scheduler = ASHAScheduler().attach(EvolutionSampler(population=4, tournament=2, **kw))
        scheduler.resource = (1, 9)
        return scheduler


class TestBayesMedianConformance(StrategyConformance):
    n_trials = 12

    def make_strategy(self, **kw: Any) -> MedianStopping:
        return MedianStopping(BayesSampler(n_initial_points=4, n_candidates=200, **kw))

    def make_exploring_strategy(self) -> MedianStopping:
        return MedianStopping(BayesSampler(n_initial_points=300))


def test_hyperband_draws_each_new_configuration_from_its_sampler_when_first_run() -> None:
    """Configurations are asked of the sampler lazily, under the number of the trial that first runs them."""

    class Counting(RandomSampler):
        name = "counting"

        def setup(self, *args: Any, **kwargs: Any) -> None:
            super().setup(*args, **kwargs)
            self.asked: list[int] = []

        def ask(self, number: int) -> dict[str, Any]:
            self.asked.append(number)
            return super().ask(number)

    sampler = Counting()
    scheduler = HyperbandScheduler().attach(sampler)
    scheduler.resource = (1, 9)
    scheduler.setup(Space({"x": Float(0, 1)}), direction="minimize", seed=0)
    requests = [scheduler.ask(n) for n in range(3)]
    assert sampler.asked == [0, 1, 2]
    assert [r.attrs["config"] for r in requests] == [0, 1, 2]


def test_bayes_models_the_largest_budget_with_enough_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOHB's rule, used when the model does not take the budget as an input."""
    from hpmagic.samplers import _gp

    monkeypatch.setattr(_gp, "MF_BUDGET_INPUT", False)
    space = Space({"x": Float(-5.0, 5.0)})
    sampler = BayesSampler(n_initial_points=3)
    sampler.setup(space, direction="minimize", seed=0)

    def told(number: int, x: float, budget: int) -> Trial:
        trial = make_trial(number, {"x": x}, (x - 1.0) ** 2 + 10.0 / budget)
        trial.user_attrs["budget"] = budget
        return trial

    for i, x in enumerate([-4.0, -2.0, 0.0, 2.0, 4.0]):
        sampler.tell(told(i, x, 1))
    for i, x in enumerate([0.0, 2.0], start=5):
        sampler.tell(told(i, x, 3))
    u, y = sampler._model_data()
    assert len(y) == 5 and min(y) == pytest.approx(1.0 + 10.0)  # only budget 1 has 3 results
    sampler.tell(told(7, 4.0, 3))
    u, y = sampler._model_data()
    assert len(y) == 3 and min(y) == pytest.approx(1.0 + 10.0 / 3)  # budget 3 has enough now


def test_bohb_runs_end_to_end_and_records_its_name() -> None:
    seen: list[tuple[int, int]] = []

    def fn(params: dict[str, Any]) -> float:
        return (params["x"] - 0.3) ** 2

    study = hpmagic.optimize(
        lambda p: fn(p),
        {"x": tune.uniform(0, 1)},
        strategy="bayes",
        scheduler="hyperband",
        budget=(1, 9),
        seed=0,
        n_trials=None,
        strategy_options={"n_initial_points": 3, "eta": 3},
    )
    seen = [(t.user_attrs["rung"], t.user_attrs["budget"]) for t in study.trials]
    assert study.strategy_name == "bayes+hyperband"
    assert len(study.trials) == 9 + 3 + 1 + 5 + 1 + 3  # the whole schedule of 1..9, then it ends by itself
    assert (2, 9) in seen and (0, 1) in seen
    assert study.tabs == ("partial_dependence",)


@pytest.mark.parametrize(
    ("strategy", "scheduler", "options", "words"),
    [
        ("grid", "hyperband", {}, "cannot draw its configurations from grid; use one of: bayes, evolution, random"),
        ("gradient", "asha", {}, "cannot draw its configurations from gradient"),
        ("bayes", "pbt", {}, "brings its own sampler"),
        ("hyperband", "asha", {}, "--strategy hyperband already schedules trials"),
        ("bayes", "warp", {}, "unknown scheduler 'warp'; choose one of: asha, hyperband, median, pbt"),
        ("bayes", "hyperband", {"eta": "three"}, "option eta takes integer, got 'three'"),
        ("bayes", "hyperband", {"n_initial_points": 2.5}, "option n_initial_points takes integer or None"),
        ("random", "hyperband", {"etta": 2}, "neither the random strategy nor the hyperband scheduler"),
        ("evolution", None, {"regularized": 1}, "option regularized takes true/false, got 1"),
    ],
)
def test_bad_pairings_and_options_are_one_line_errors(
    strategy: str, scheduler: str | None, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(OptionError) as info:
        build_search(strategy, scheduler, options)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_labels_name_what_ran() -> None:
    assert search_label(build_search("bayes")) == "bayes"
    assert search_label(build_search("hyperband")) == "hyperband"
    assert search_label(build_search("random", "hyperband")) == "hyperband"
    assert search_label(build_search("evolution", "asha")) == "evolution+asha"
    assert search_label(build_search("bayes", "median")) == "bayes"
    assert search_label(build_search("pbt")) == "pbt"


def test_the_magic_combines_a_sampler_and_a_scheduler(ip) -> None:
    cell = (
        "x = tune.uniform(0, 1)\n"
        "for step in tune.steps():\n"
        "    tune.report((x - 0.4) ** 2 + 1 / step, step)\n"
        "(x - 0.4) ** 2\n"
    )
    assert run(ip, "--strategy evolution --scheduler asha --budget 1..9 --trials 12 --seed 1", cell).success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == "evolution+asha" and len(study.trials) == 12
    assert {t.user_attrs["budget"] for t in study.trials} >= {1, 3}
    with pytest.raises(UsageError, match="cannot draw its configurations from grid"):
        ip.run_cell("%%tune --strategy grid --scheduler hyperband --budget 1..9\nx = tune.uniform(0, 1)\nx\n")
        raise_last(ip)
    with pytest.raises(UsageError, match="--prune median is the median scheduler; it cannot be combined"):
        ip.run_cell("%%tune --prune median --scheduler asha --budget 1..9\nx = tune.uniform(0, 1)\nx\n")
        raise_last(ip)


def raise_last(ip) -> None:
    """IPython shows a UsageError instead of raising it: re-raise what the last cell failed with."""
    import sys

    error = getattr(sys, "last_value", None)
    if isinstance(error, UsageError):
        raise error


def test_pruned_combination_trials_are_told_to_the_sampler() -> None:
    """Median stopping over bayes: pruned trials reach the sampler, which learns from the value they reached."""
    study = hpmagic.optimize(
        _reporting,
        {"x": tune.uniform(0, 1)},
        strategy="bayes",
        scheduler="median",
        budget=(1, 5),
        n_trials=14,
        seed=0,
        strategy_options={"n_initial_points": 3, "n_startup": 3},
    )
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states


def _reporting(params: dict[str, Any]) -> float:
    value = 0.0
    for step in tune.steps():
        value = (params["x"] - 0.2) ** 2 + 1.0 / step
        tune.report(value, step)
    return value


def _told(number: int, x: float, value: float, budget: int | None) -> Trial:
    trial = make_trial(number, {"x": x}, value)
    if budget is not None:
        trial.user_attrs["budget"] = budget
    return trial


def test_bohb_draws_at_random_until_results_at_two_budgets() -> None:
    """With results at the smallest budget only, the model would repeat what successive halving already ranks by:
    new configurations stay random draws until a promotion has finished."""
    sampler = BayesSampler(n_initial_points=3, n_candidates=200)
    sampler.setup(Space({"x": Float(-5.0, 5.0)}), direction="minimize", seed=0)
    for i, x in enumerate(np.linspace(-4, 4, 6)):
        sampler.tell(_told(i, float(x), float(x) ** 2, 1))
    sampler.ask(6)
    assert sampler.n_model_asks == 0
    sampler.tell(_told(7, 0.0, 0.0, 3))
    sampler.ask(8)
    assert sampler.n_model_asks == 1
    assert sampler._model.n_features == 2  # x, and log(budget) as a second input


def test_bohb_follows_the_largest_budget_where_it_disagrees_with_the_smallest() -> None:
    """One GP over every budget, scored at the largest: many cheap results inform the model without dictating it.

    Here the optimum moves from x = -2 at budget 1 to x = 2 at budget 9 (as the best learning rate moves with the
    epochs), with only three results at budget 9; proposals go where the largest budget says.
    """
    sampler = BayesSampler(n_initial_points=4, n_candidates=500)
    sampler.setup(Space({"x": Float(-5.0, 5.0)}), direction="minimize", seed=0)
    number = 0
    for budget, optimum, xs in (
        (1, -2.0, np.linspace(-5, 5, 12)),
        (3, 0.0, [-2.5, -2.0, -1.5]),
        (9, 2.0, [-2.0, 0.0, 1.0]),
    ):
        for x in xs:
            sampler.tell(_told(number, float(x), (float(x) - optimum) ** 2, budget))
            number += 1
    proposals = []
    for _ in range(3):
        params = sampler.ask(number)
        proposals.append(params["x"])
        sampler.tell(_told(number, params["x"], (params["x"] + 2.0) ** 2, 1))  # run at budget 1, as a bracket does
        number += 1
    assert sampler.n_model_asks == 3
    assert all(x > 0.5 for x in proposals), proposals


def test_bayes_without_budgets_ignores_the_multi_fidelity_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain bayes proposes the same points whatever the multi-fidelity knobs say."""
    from hpmagic.samplers import _gp

    def proposals() -> list[float]:
        sampler = BayesSampler(n_initial_points=3, n_candidates=200)
        sampler.setup(Space({"x": Float(-5.0, 5.0)}), direction="minimize", seed=0)
        out = []
        for i in range(8):
            x = sampler.ask(i)["x"]
            out.append(x)
            sampler.tell(_told(i, x, (x - 1.0) ** 2, None))
        assert sampler._model.n_features == 1
        return out

    before = proposals()
    monkeypatch.setattr(_gp, "MF_BUDGET_INPUT", False)
    monkeypatch.setattr(_gp, "MF_MIN_BUDGETS", 5)
    assert proposals() == before

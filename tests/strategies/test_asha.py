"""ASHA: the conformance suite, rungs, promotions that stay correct when results arrive out of order, %%tune."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.schedulers._asha import rung_budgets
from hpmagic.space import Float, Space
from hpmagic.strategies import ASHAScheduler, TrialRequest, get_strategy
from hpmagic.trial import Trial, TrialState
from tests.magic.conftest import run
from tests.strategies.conformance import StrategyConformance, assert_valid, failing_loss, mixed_space


def make(resource: tuple[int, int] = (1, 9), **kw: Any) -> ASHAScheduler:
    strategy = ASHAScheduler(**kw)
    strategy.resource = resource  # what Study.optimize sets from --budget before setup
    return strategy


class TestASHAConformance(StrategyConformance):
    n_trials = 16
    # In a sequential run every ask depends only on the results told before it: replaying the history reproduces it.
    resume_exact = True

    def make_strategy(self, **kw: Any) -> ASHAScheduler:
        return make((1, 9), **kw)

    def make_exploring_strategy(self) -> ASHAScheduler:
        # A rung promotes floor(n / eta) configurations: with eta = 1000, 200 trials are all new random ones.
        return make((1, 9), eta=1000)


def told(request: TrialRequest, number: int, value: float | None) -> Trial:
    """The trial the loop would record for ``request`` (its attrs become user_attrs)."""
    return Trial(
        number=number,
        params=dict(request.params),
        state=TrialState.FAILED if value is None else TrialState.COMPLETE,
        value=value,
        user_attrs={**request.attrs, "budget": request.budget},
    )


def test_rung_budgets() -> None:
    assert rung_budgets(1, 27, 3) == [1, 3, 9, 27]
    assert rung_budgets(1, 100, 3) == [1, 3, 9, 27, 81, 100]
    assert rung_budgets(2, 50, 4) == [2, 8, 32, 50]
    assert rung_budgets(5, 5, 3) == [5]
    strategy = make((1, 27), min_resource=3)
    strategy.setup(Space({"x": Float(0, 1)}), direction="minimize", seed=0)
    assert strategy.budgets == [3, 9, 27]
    request = strategy.ask(0)
    assert request.budget == 3 and request.attrs == {"rung": 0, "config": 0} and request.resume_from is None


def test_promotes_the_best_of_each_rung_as_soon_as_a_third_is_known() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    strategy = make((1, 9))
    strategy.setup(space, direction="minimize", seed=0)
    asked = [strategy.ask(i) for i in range(3)]
    assert [r.attrs["rung"] for r in asked] == [0, 0, 0]
    values = [3.0, 1.0, 2.0]
    for i, (request, value) in enumerate(zip(asked, values, strict=True)):
        strategy.tell(told(request, i, value))
    promotion = strategy.ask(3)
    assert promotion.attrs == {"rung": 1, "config": 1} and promotion.resume_from == 1 and promotion.budget == 3
    assert promotion.params == asked[1].params
    # floor(3 / 3) = 1 promotion from rung 0 until more results come: the next ask is a new configuration.
    assert strategy.ask(4).attrs == {"rung": 0, "config": 3}


def reference_promotion(results: list[dict[int, float]], promoted: list[set[int]], eta: int) -> tuple[int, int] | None:
    """ASHA's rule written out plainly: (rung, config) to promote from the top rung down, or None for a new one."""
    for k in reversed(range(len(results) - 1)):
        ranked = sorted(results[k], key=lambda c: (results[k][c], c))
        for c in ranked[: len(ranked) // eta]:
            if math.isfinite(results[k][c]) and c not in promoted[k]:
                return k, c
    return None


@pytest.mark.parametrize("seed", range(6))
def test_promotions_stay_correct_with_results_told_in_a_shuffled_order(seed: int) -> None:
    """Several trials run at once and finish in any order: every ask must follow ASHA's rule on what is known."""
    shuffle = random.Random(seed)
    space = Space({"x": Float(0.0, 1.0), "lr": Float(1e-4, 1.0, log=True)})
    strategy = make((1, 27))
    strategy.setup(space, direction="minimize", seed=seed)
    results: list[dict[int, float]] = [{} for _ in range(4)]
    promoted: list[set[int]] = [set() for _ in range(4)]
    latest: dict[int, int] = {}
    running: list[tuple[TrialRequest, int]] = []
    number = 0
    for _ in range(250):
        expected = reference_promotion(results, promoted, 3)
        request = strategy.ask(number)
        assert_valid(space, request.params)
        if expected is None:
            assert request.attrs["rung"] == 0 and request.resume_from is None and request.budget == 1
        else:
            k, c = expected
            assert request.attrs == {"rung": k + 1, "config": c}
            assert request.resume_from == latest[c] and request.budget == [1, 3, 9, 27][k + 1]
            promoted[k].add(c)
        running.append((request, number))
        number += 1
        # Between one and four trials finish now, in random order; one in ten fails.
        shuffle.shuffle(running)
        for _ in range(min(len(running), shuffle.randint(0, 3))):
            request, n = running.pop()
            x = request.params["x"]
            value = None if shuffle.random() < 0.1 else (x - 0.3) ** 2 + 1 / request.budget + 0.01 * n % 7
            strategy.tell(told(request, n, value))
            c, k = request.attrs["config"], request.attrs["rung"]
            results[k][c] = math.inf if value is None else value
            latest[c] = n
    assert any(promoted[2])  # the run climbed to the top rung


def test_failed_and_pruned_trials() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    strategy = make((1, 9))
    strategy.setup(space, direction="maximize", seed=0)
    asked = [strategy.ask(i) for i in range(6)]
    strategy.tell(told(asked[0], 0, None))  # failed: the worst
    pruned = told(asked[1], 1, 0.9)
    pruned.state = TrialState.PRUNED  # pruned by a wrapper: its last reported value counts
    strategy.tell(pruned)
    for i in range(2, 6):
        strategy.tell(told(asked[i], i, 0.1 * i))
    first, second = strategy.ask(6), strategy.ask(7)
    assert (first.attrs["config"], second.attrs["config"]) == (1, 5)  # 0.9 then 0.5; the failed one never


def test_a_resumed_study_makes_the_same_promotions(tmp_path) -> None:
    def fn(params: dict[str, Any]) -> float:
        return failing_loss(params) if failing_loss(params) is not None else float("nan")

    space = {"x": tune.uniform(-2, 3), "lr": tune.loguniform(1e-4, 1)}
    common: dict[str, Any] = dict(strategy="asha", seed=1, budget=(1, 27), name="a", max_failures=None)
    whole = hpmagic.optimize(fn, space, n_trials=60, storage=str(tmp_path / "w.db"), **common)
    common["storage"] = str(tmp_path / "a.db")
    hpmagic.optimize(fn, space, n_trials=25, **common)
    resumed = hpmagic.optimize(fn, space, n_trials=60, resume=True, **common)
    assert [t.user_attrs for t in resumed.trials] == [t.user_attrs for t in whole.trials]
    keys = [(t.user_attrs["config"], t.user_attrs["rung"]) for t in resumed.trials]
    assert len(set(keys)) == len(keys)


def test_options_are_checked() -> None:
    with pytest.raises(OptionError, match="eta must be an integer >= 2"):
        ASHAScheduler(eta=1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(OptionError, match="min_resource must be an integer >= 1"):
            ASHAScheduler(min_resource=bad)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="outside the budget range 1..9"):
        make((1, 9), min_resource=10).setup(mixed_space(), direction="minimize", seed=0)
    assert get_strategy("asha", eta=2, min_resource=4).grace == 4


def test_asha_through_the_magic(ip) -> None:
    ip.run_cell("seen = []")
    cell = (
        "x = tune.uniform(0, 1)\n"
        "model = []\n"
        "for epoch in tune.steps():\n"
        "    model.append(epoch)\n"
        "    tune.report(x + epoch, step=epoch)\n"
        "seen.append(list(model))\n"
        "x + len(model)\n"
    )
    result = run(ip, "--strategy asha --budget 1..9 --trials 20 --state model --seed 0 --maximize", cell)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == "asha" and len(study.trials) == 20
    promoted = [t for t in study.trials if "continues" in t.user_attrs]
    assert promoted
    for t in study.trials:
        assert ip.user_ns["seen"][t.number] == list(range(1, t.user_attrs["budget"] + 1))
    for t in promoted:
        assert t.user_attrs["start"] == study.trials[t.user_attrs["continues"]].user_attrs["budget"]

"""Hyperband: the conformance suite, the bracket table, synchronous promotions, resuming, and %%tune end to end."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic._checks import MAX_SIZE
from hpmagic.errors import OptionError
from hpmagic.run import build_run
from hpmagic.schedulers._hyperband import bracket_plan
from hpmagic.space import Categorical, Float, Space
from hpmagic.strategies import HyperbandScheduler, get_strategy
from hpmagic.trial import Trial, TrialState
from tests.magic.conftest import run
from tests.strategies.conformance import StrategyConformance, assert_valid, loss


def make(resource: tuple[int, int] = (1, 9), **kw: Any) -> HyperbandScheduler:
    strategy = HyperbandScheduler(**kw)
    strategy.resource = resource  # what Study.optimize sets from --budget before setup
    return strategy


class TestHyperbandConformance(StrategyConformance):
    # 1..9 gives brackets of 9+3+1, 5+1 and 3 trials: 16 trials cross promotions and a second bracket.
    n_trials = 16
    # Replaying the history reproduces every decision, so a resumed run asks what the uninterrupted one asked.
    resume_exact = True

    def make_strategy(self, **kw: Any) -> HyperbandScheduler:
        return make((1, 9), **kw)

    def make_exploring_strategy(self) -> HyperbandScheduler:
        # 1..243: the first bracket starts 243 random configurations, so 200 trials are all fresh draws.
        return make((1, 243))


def run_schedule(
    strategy: HyperbandScheduler,
    space: Space,
    objective: Any = loss,
    *,
    seed: int = 0,
    history: list[Trial] = (),  # type: ignore[assignment]
    limit: int = 10_000,
) -> list[tuple[Any, Trial]]:
    """Ask/tell like the loop (user_attrs from the request's attrs) until exhausted; (request, trial) pairs."""
    strategy.setup(space, direction="minimize", seed=seed, history=list(history))
    out = []
    number = len(history)
    while not strategy.is_exhausted() and len(out) < limit:
        request = strategy.ask(number)
        value = objective(request.params)
        trial = Trial(
            number=number,
            params=dict(request.params),
            user_attrs={**request.attrs, "budget": request.budget},
            state=TrialState.FAILED if value is None else TrialState.COMPLETE,
            value=value,
        )
        if request.resume_from is not None:
            trial.user_attrs["continues"] = request.resume_from
        strategy.tell(trial)
        out.append((request, trial))
        number += 1
    return out


def test_bracket_table_for_eta_3_and_r_27() -> None:
    assert bracket_plan(1, 27, 3) == [
        [(27, 1), (9, 3), (3, 9), (1, 27)],
        [(12, 3), (4, 9), (1, 27)],  # ceil(4/3 * 9) = 12
        [(6, 9), (2, 27)],
        [(4, 27)],
    ]
    # The paper's R = 81 bracket s=3: 34 configurations at 3 steps, then 11, 3 and 1.
    assert bracket_plan(1, 81, 3)[1] == [(34, 3), (11, 9), (3, 27), (1, 81)]
    # A range that is not a power of eta: budgets rounded, within [min, max], the last rung at the maximum.
    for rungs in bracket_plan(2, 100, 3):
        budgets = [b for _n, b in rungs]
        assert budgets == sorted(set(budgets)) and budgets[-1] == 100 and budgets[0] >= 2
    assert bracket_plan(5, 5, 3) == [[(1, 5)]]


@settings(max_examples=60, deadline=None)
@given(low=st.integers(1, 10**4), span=st.integers(0, 10**12), eta=st.integers(2, 10**7))
def test_a_budget_whose_first_bracket_would_exhaust_memory_is_refused_with_a_budget_that_works(
    low: int, span: int, eta: int
) -> None:
    """``--budget 1..1000000000`` opened a first bracket of 3^18 configurations, allocated at once: the kernel was
    killed for its memory. Every plan now stays within MAX_SIZE configurations, or the budget is refused before
    the study, with a minimum that works."""
    high = low + span
    try:
        plan = bracket_plan(low, high, eta)
    except OptionError as exc:
        assert "\n" not in str(exc)
        suggested = int(str(exc).rsplit("--budget ", 1)[1].split("..")[0])
        assert suggested > low
        plan = bracket_plan(suggested, high, eta)
    assert max(rungs[0][0] for rungs in plan) <= MAX_SIZE


def test_an_absurd_budget_is_refused_before_the_study() -> None:
    with pytest.raises(OptionError, match="starts a bracket of 387,420,489 configurations"):
        build_run(space=Space({"x": Float(0, 1)}), strategy="hyperband", budget=(1, 10**9), n_trials=3)


def test_the_whole_schedule_runs_with_the_right_rungs_and_promotions() -> None:
    space = Space({"x": Float(-2.0, 3.0), "lr": Float(1e-4, 1.0, log=True)})
    strategy = make((1, 27))
    pairs = run_schedule(strategy, space)
    assert strategy.is_exhausted() and len(pairs) == 69
    counts: dict[tuple[int, int], int] = {}
    budgets: dict[tuple[int, int], set[int]] = {}
    for request, _trial in pairs:
        key = (request.attrs["bracket"], request.attrs["rung"])
        counts[key] = counts.get(key, 0) + 1
        budgets.setdefault(key, set()).add(request.budget)
    assert counts == {
        (3, 0): 27, (3, 1): 9, (3, 2): 3, (3, 3): 1,
        (2, 0): 12, (2, 1): 4, (2, 2): 1,
        (1, 0): 6, (1, 1): 2,
        (0, 0): 4,
    }  # fmt: skip
    assert budgets == {
        (3, 0): {1}, (3, 1): {3}, (3, 2): {9}, (3, 3): {27},
        (2, 0): {3}, (2, 1): {9}, (2, 2): {27},
        (1, 0): {9}, (1, 1): {27},
        (0, 0): {27},
    }  # fmt: skip
    # Steps actually trained with --state: each segment costs its budget minus the one it continues from.
    trained = sum(r.budget - (pairs[r.resume_from][0].budget if r.resume_from is not None else 0) for r, _ in pairs)
    assert trained == 357

    by_number = {t.number: (r, t) for r, t in pairs}
    for request, trial in pairs:
        assert_valid(space, request.params)
        rung = request.attrs["rung"]
        if rung == 0:
            assert request.resume_from is None
            continue
        # A promotion continues the same configuration's latest trial, one rung down, with eta times its budget.
        earlier_request, earlier = by_number[request.resume_from]
        assert earlier_request.attrs["config"] == request.attrs["config"]
        assert earlier_request.attrs["rung"] == rung - 1 and earlier.params == trial.params
        assert request.budget == 3 * earlier_request.budget
        # ...and was asked only after every trial of the rung below had been told (synchronous halving).
        same_rung_below = [
            t for r, t in pairs if r.attrs["bracket"] == request.attrs["bracket"] and r.attrs["rung"] == rung - 1
        ]
        assert trial.number > max(t.number for t in same_rung_below)
        # The promoted configurations are the best 1/eta of the rung below.
        keep = counts[(request.attrs["bracket"], rung)]
        best = sorted(same_rung_below, key=lambda t: t.value)[:keep]
        assert earlier in best


def test_failed_trials_count_as_the_worst_and_are_never_promoted() -> None:
    space = Space({"x": Float(0.0, 1.0)})

    def objective(params: dict[str, Any]) -> float | None:
        return None if params["x"] < 0.5 else params["x"]

    pairs = run_schedule(make((1, 27)), space, objective)
    for request, _trial in pairs:
        if request.resume_from is not None:
            assert request.params["x"] >= 0.5  # its earlier segment completed
    first_bracket = [r for r, _ in pairs if r.attrs["bracket"] == 3]
    failed_at_rung0 = sum(1 for r in first_bracket if r.attrs["rung"] == 0 and r.params["x"] < 0.5)
    promoted = sum(1 for r in first_bracket if r.attrs["rung"] == 1)
    assert promoted == min(9, 27 - failed_at_rung0)


def test_maximize_promotes_the_highest_values() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    strategy = make((1, 9))
    strategy.setup(space, direction="maximize", seed=0)
    rung0 = [strategy.ask(i) for i in range(9)]
    for i, request in enumerate(rung0):
        strategy.tell(
            Trial(i, dict(request.params), TrialState.COMPLETE, request.params["x"], user_attrs=request.attrs)
        )
    promoted = [strategy.ask(9 + i) for i in range(3)]
    assert sorted(r.params["x"] for r in promoted) == sorted(r.params["x"] for r in rung0)[-3:]


def test_results_told_out_of_order_and_parallel_asks() -> None:
    """Trials told in another order than asked are matched by their numbers; a blocked ask opens a bracket."""
    space = Space({"x": Float(0.0, 1.0)})
    strategy = make((1, 9))
    strategy.setup(space, direction="minimize", seed=0)
    rung0 = [strategy.ask(i) for i in range(9)]
    assert {r.attrs["bracket"] for r in rung0} == {2}
    # Every rung-0 trial is running: the next ask starts the next bracket instead of waiting.
    extra = strategy.ask(9)
    assert extra.attrs == {"bracket": 1, "rung": 0, "config": 9} and extra.budget == 3
    for i in (4, 0, 8, 2, 6, 1, 7, 3, 5):
        request = rung0[i]
        strategy.tell(
            Trial(i, dict(request.params), TrialState.COMPLETE, request.params["x"], user_attrs=request.attrs)
        )
    promoted = [strategy.ask(10 + i) for i in range(3)]
    assert [r.attrs["rung"] for r in promoted] == [1, 1, 1]
    assert sorted(r.params["x"] for r in promoted) == sorted(r.params["x"] for r in rung0)[:3]
    best = min(range(9), key=lambda i: rung0[i].params["x"])
    assert promoted[0].resume_from == best  # trial numbers as told, not as asked


def test_resume_rebuilds_the_brackets_and_never_repeats_a_finished_segment(tmp_path) -> None:
    def fn(params: dict[str, Any]) -> float:
        for step in tune.steps():
            tune.report(params["x"] / step, step=step)
        return params["x"] / 2 ** len(tune.steps())

    space = {"x": tune.uniform(0, 1), "kind": tune.choice(["a", "b"])}
    common: dict[str, Any] = dict(strategy="hyperband", seed=3, name="hb", budget=(1, 27))
    whole = hpmagic.optimize(fn, space, n_trials=None, storage=str(tmp_path / "whole.db"), **common)
    common["storage"] = str(tmp_path / "hb.db")
    assert len(whole.trials) == 69
    hpmagic.optimize(fn, space, n_trials=20, **common)
    hpmagic.optimize(fn, space, n_trials=41, resume=True, **common)
    resumed = hpmagic.optimize(fn, space, n_trials=None, resume=True, **common)

    def segments(study: Any) -> list[tuple[Any, ...]]:
        return [
            (t.user_attrs["bracket"], t.user_attrs["rung"], t.user_attrs["config"], t.user_attrs.get("continues"))
            for t in study.trials
        ]

    assert len(resumed.trials) == 69
    assert segments(resumed) == segments(whole)
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert len({s[:3] for s in segments(resumed)}) == 69  # no (configuration, rung) ran twice


def test_resume_after_an_interrupted_trial_asks_it_again() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    full = run_schedule(make((1, 9)), space)
    done = [t for _r, t in full[:11]]
    interrupted = full[11][1]
    interrupted.state = TrialState.INTERRUPTED  # not in the history the loop passes
    strategy = make((1, 9))
    rest = run_schedule(strategy, space, history=done)
    assert strategy.n_replayed == 11
    assert [r.attrs for r, _ in rest] == [r.attrs for r, _ in full[11:]]
    assert rest[0][0].resume_from == full[11][0].resume_from


def test_options_are_checked() -> None:
    for eta in (1, 0, 2.5, True, "3"):
        with pytest.raises(OptionError, match="eta must be an integer >= 2"):
            HyperbandScheduler(eta=eta)  # type: ignore[arg-type]
    assert get_strategy("hyperband", eta=4).eta == 4
    with pytest.raises(OptionError, match="needs a resource range"):
        HyperbandScheduler().setup(Space({"x": Float(0, 1)}), direction="minimize", seed=0)
    with pytest.raises(OptionError, match="needs a resource range"):
        hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="hyperband")


def test_dynamic_markers_keep_their_value_across_promotions() -> None:
    strategy = make((1, 9))
    strategy.setup(Space({}), direction="minimize", seed=0)
    dim = Categorical(list(range(1000)))
    a = Trial(0, user_attrs={"bracket": 2, "rung": 0, "config": 5})
    b = Trial(12, user_attrs={"bracket": 2, "rung": 1, "config": 5})
    c = Trial(13, user_attrs={"bracket": 2, "rung": 1, "config": 6})
    values = [strategy.sample_dynamic(t, "units_0", dim) for t in (a, b, c)]
    assert values[0] == values[1] and values[0] != values[2]


def test_hyperband_through_the_magic_continues_each_configuration(ip) -> None:
    """Without --trials the whole schedule runs; promoted trials restore the model where the last segment ended."""
    ip.run_cell("seen = {}")
    cell = (
        "lr = tune.loguniform(1e-3, 1)\n"
        "model = {'lr': lr, 'steps': []}\n"
        "for epoch in tune.steps():\n"
        "    model['steps'].append(epoch)\n"
        "    tune.report(lr * epoch, step=epoch)\n"
        "seen[len(seen)] = list(model['steps'])\n"
        "lr * len(model['steps'])\n"
    )
    result = run(ip, "--strategy hyperband --budget 1..9 --state model --seed 0 --maximize --storage :memory:", cell)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == "hyperband" and study.last_finish.reason == "exhausted"
    assert len(study.trials) == 13 + 6 + 3
    seen = ip.user_ns["seen"]
    for t in study.trials:
        budget = t.user_attrs["budget"]
        assert seen[t.number] == list(range(1, budget + 1))  # restored steps plus this segment's: never a gap
        if "continues" in t.user_attrs:
            earlier = study.trials[t.user_attrs["continues"]]
            assert t.user_attrs["start"] == earlier.user_attrs["budget"] == earlier.user_attrs["resource"]
            assert t.params == earlier.params
        assert 1 <= budget <= 9 and t.user_attrs["resource"] == budget
    # With --trials the study stops there.
    result = run(ip, "--strategy hyperband --budget 1..9 --trials 5 --seed 0 --storage :memory:", cell)
    assert result.success and len(ip.user_ns["tune"].study.trials) == 5
    assert math.isfinite(ip.user_ns["tune"].study.best_value)


def test_the_python_api_runs_the_schedule_with_n_trials_none() -> None:
    study = hpmagic.optimize(
        lambda p: (p["x"] - 0.3) ** 2,
        {"x": tune.uniform(0, 1)},
        strategy="hyperband",
        n_trials=None,
        budget=(1, 9),
        seed=0,
    )
    assert len(study.trials) == 22 and study.last_finish.reason == "exhausted"
    assert {t.user_attrs["budget"] for t in study.trials} == {1, 3, 9}


def test_a_resumed_study_with_another_budget_starts_a_fresh_schedule(tmp_path) -> None:
    """Segments trained to other budgets are not this schedule's; only identical ones (same budget) are reused."""
    common: dict[str, Any] = dict(strategy="hyperband", seed=0, name="hb", storage=str(tmp_path / "hb.db"))
    hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, n_trials=10, budget=(1, 9), **common)
    study = hpmagic.optimize(
        lambda p: p["x"], {"x": tune.uniform(0, 1)}, n_trials=None, budget=(1, 27), resume=True, **common
    )
    # The old study's first 9 trials (configurations 0-8 at 1 step) are the new schedule's first 9; its 10th (a
    # promotion to 3 steps) is not, so the new schedule runs from configuration 9 on.
    assert len(study.trials) == 10 + 69 - 9
    assert [t.user_attrs["config"] for t in study.trials[10:28]] == list(range(9, 27))
    assert [t.user_attrs["budget"] for t in study.trials[10:28]] == [1] * 18


def test_a_trial_told_twice_does_not_take_another_request() -> None:
    strategy = make((1, 9))
    strategy.setup(Space({"x": Float(0.0, 1.0)}), direction="minimize", seed=0)
    first, second = strategy.ask(0), strategy.ask(1)
    trial = Trial(0, dict(first.params), TrialState.COMPLETE, 0.5, user_attrs=first.attrs)
    strategy.tell(trial)
    strategy.tell(trial)
    assert list(strategy._pending.values()) == [second]

"""PBT: the conformance suite, rounds, exploit (state copied from the donor) and explore (bounds, resampling)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from IPython.core.error import UsageError

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.magic import parse_tune_line
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import PBTScheduler, get_strategy, pbt_schedule
from hpmagic.trial import Trial, TrialState
from tests.magic.conftest import run
from tests.strategies.conformance import StrategyConformance, assert_valid, mixed_space


def make(resource: tuple[int, int] = (1, 9), **kw: Any) -> PBTScheduler:
    strategy = PBTScheduler(**kw)
    strategy.resource = resource  # what Study.optimize sets from --budget before setup
    return strategy


class TestPBTConformance(StrategyConformance):
    # 4 members, rounds of 1 step up to 9: 16 trials are 4 rounds, with an exploit after each.
    n_trials = 16
    # Rounds depend only on the seed and the results told: replaying the history reproduces the run.
    resume_exact = True

    def make_strategy(self, **kw: Any) -> PBTScheduler:
        return make((1, 9), population=4, **kw)

    def make_exploring_strategy(self) -> PBTScheduler:
        # The first round of a population of 200 is 200 fresh random configurations.
        return make((1, 9), population=200)


def run_rounds(
    strategy: PBTScheduler, space: Space, objective: Any, *, seed: int = 0, limit: int = 10_000
) -> list[tuple[Any, Trial]]:
    strategy.setup(space, direction="minimize", seed=seed)
    out = []
    while not strategy.is_exhausted():
        assert len(out) < limit, f"PBT's schedule did not end within {limit} trials"
        request = strategy.ask(len(out))
        value = objective(request.params)
        trial = Trial(
            number=len(out),
            params=dict(request.params),
            state=TrialState.FAILED if value is None else TrialState.COMPLETE,
            value=value,
            user_attrs={**request.attrs, "budget": request.budget},
        )
        if request.resume_from is not None:
            trial.user_attrs["continues"] = request.resume_from
        strategy.tell(trial)
        out.append((request, trial))
    return out


def test_rounds_budgets_and_the_default_interval() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    strategy = make((1, 10), population=4, interval=3)
    pairs = run_rounds(strategy, space, lambda p: p["x"])
    assert strategy.budgets == [3, 6, 9, 10]
    assert len(pairs) == 16
    assert [(r.attrs["round"], r.budget) for r, _ in pairs[::4]] == [(0, 3), (1, 6), (2, 9), (3, 10)]
    for request, _trial in pairs:
        if request.attrs["round"] == 0:
            assert request.resume_from is None
        else:  # every later segment continues a trial of the round before (its own member's or a donor's)
            assert pairs[request.resume_from][0].attrs["round"] == request.attrs["round"] - 1
    default = make((1, 50))
    default.setup(space, direction="minimize", seed=0)
    assert default.budgets == list(range(5, 51, 5)) and default.population == 8
    tiny = make((1, 4))
    tiny.setup(space, direction="minimize", seed=0)
    assert tiny.budgets == [1, 2, 3, 4]  # a tenth of 4 steps: at least 1
    # Members start from random search's first configurations with the same seed.
    baseline = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", n_trials=4, seed=0)
    assert [t.params for t in baseline.trials] == [r.params for r, _ in pairs[:4]]


def test_the_bottom_quantile_copies_the_top_quantile() -> None:
    space = Space({"x": Float(0.0, 1.0), "lr": Float(1e-4, 1.0, log=True)})
    strategy = make((1, 6), population=8, interval=2, quantile=0.25)
    pairs = run_rounds(strategy, space, lambda p: p["x"])
    for k in (1, 2):
        previous = {r.attrs["member"]: t for r, t in pairs if r.attrs["round"] == k - 1}
        ranked = sorted(previous, key=lambda m: (previous[m].value, m))
        top, bottom = set(ranked[:2]), set(ranked[-2:])
        this_round = [r for r, _ in pairs if r.attrs["round"] == k]
        clones = [r for r in this_round if "donor" in r.attrs]
        assert {r.attrs["member"] for r in clones} == bottom
        assert {r.attrs["donor"] for r in clones} == top  # distinct donors while there are enough
        for r in this_round:
            source = r.attrs.get("donor", r.attrs["member"])
            assert r.resume_from == previous[source].number
            if "donor" not in r.attrs:
                assert r.params == previous[source].params  # kept its hyperparameters
    assert strategy.n_exploits == 4


def test_failed_members_always_exploit_and_a_failed_population_restarts() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    pairs = run_rounds(make((1, 4), population=6, interval=1), space, lambda p: None if p["x"] < 0.7 else p["x"])
    for request, _ in pairs:
        if request.attrs["round"] > 0:
            source = pairs[request.resume_from][1]
            assert source.state is TrialState.COMPLETE  # nobody continues a failed segment
    everyone_fails = run_rounds(make((1, 3), population=3, interval=1), space, lambda p: None)
    assert all(r.attrs.get("restart") for r, _ in everyone_fails if r.attrs["round"] > 0)
    assert all(r.resume_from is None for r, _ in everyone_fails)


@pytest.mark.parametrize("seed", range(40))
def test_explore_keeps_bounds_and_types(seed: int) -> None:
    space = mixed_space()
    strategy = make((1, 9), population=4, resample_probability=0.25, perturb=(0.5, 3.0))
    strategy.setup(space, direction="minimize", seed=seed)
    rng = np.random.default_rng(seed)
    # Start at the corners, where a perturbation would step outside without clipping.
    lows = {n: (d.low if isinstance(d, (Float, Int)) else d.choices[0]) for n, d in space.items()}
    highs = {n: (d.high if isinstance(d, (Float, Int)) else d.choices[-1]) for n, d in space.items()}
    for params in (lows, highs, space.sample(rng)):
        for _ in range(25):
            params = strategy.explore(params, rng)
            assert_valid(space, params)


def test_explore_multiplies_by_a_factor_and_resamples_categoricals() -> None:
    space = Space({"lr": Float(1e-5, 1.0, log=True), "n": Int(1, 100), "kind": Categorical(["a", "b", "c", "d"])})
    start = {"lr": 0.01, "n": 10, "kind": "a"}
    strategy = make((1, 9), population=4)
    strategy.setup(space, direction="minimize", seed=0)
    rng = np.random.default_rng(0)
    outs = [strategy.explore(start, rng) for _ in range(2000)]
    lrs = [o["lr"] for o in outs]
    perturbed = [lr for lr in lrs if math.isclose(lr, 0.008) or math.isclose(lr, 0.012)]
    assert 0.70 < len(perturbed) / len(lrs) < 0.80  # 1 - resample_probability
    assert {round(lr, 6) for lr in perturbed} == {0.008, 0.012}
    assert {o["n"] for o in outs if o["n"] in (8, 12)} == {8, 12}
    changed = sum(o["kind"] != "a" for o in outs) / len(outs)
    assert 0.14 < changed < 0.24  # resampled a quarter of the time, 3 times in 4 to another choice
    assert {o["kind"] for o in outs} == {"a", "b", "c", "d"}
    # A small integer that rounding would leave unchanged moves by one (and stays within its bounds).
    never = make((1, 9), population=4, resample_probability=0.0)
    never.setup(space, direction="minimize", seed=0)
    assert {never.explore({"lr": 0.01, "n": 1, "kind": "a"}, rng)["n"] for _ in range(50)} == {1, 2}
    assert {never.explore({"lr": 0.01, "n": 1, "kind": "a"}, rng)["kind"] for _ in range(50)} == {"a"}
    always = make((1, 9), population=4, resample_probability=1.0)
    always.setup(space, direction="minimize", seed=0)
    assert len({always.explore(start, rng)["kind"] for _ in range(50)}) == 4


def test_options_are_checked() -> None:
    bad = [
        {"population": 1},
        {"population": 2.0},
        {"interval": 0},
        {"quantile": 0},
        {"quantile": 0.6},
        {"resample_probability": 1.5},
        {"perturb": ()},
        {"perturb": (0.8, -1)},
        {"perturb": "0.8"},
    ]
    for options in bad:
        with pytest.raises(OptionError, match="pbt: "):
            PBTScheduler(**options)
    strategy = get_strategy("pbt", population=5, interval=2)
    assert (strategy.population, strategy.interval) == (5, 2)


def test_pbt_schedule_lists_each_members_rounds() -> None:
    def fn(params: dict[str, Any]) -> float:
        for step in tune.steps():
            tune.report(params["lr"] * step, step=step)
        return params["lr"]

    study = hpmagic.optimize(
        fn,
        {"lr": tune.loguniform(1e-3, 1)},
        strategy="pbt",
        strategy_options={"population": 4, "interval": 2},
        n_trials=None,
        budget=(1, 6),
        seed=0,
        direction="maximize",
    )
    assert len(study.trials) == 12 and study.last_finish.reason == "exhausted"
    schedule = pbt_schedule(study)
    assert list(schedule) == [0, 1, 2, 3]
    for rows in schedule.values():
        assert [(k, step) for k, step, _p, _v in rows] == [(0, 2), (1, 4), (2, 6)]
        assert all(set(p) == {"lr"} and v == p["lr"] for _k, _s, p, v in rows)
    assert pbt_schedule(study.trials) == schedule


def test_a_clone_continues_from_the_donors_state_in_a_real_shell(ip) -> None:
    """--state model: the clone's restored model is the donor's, with the donor's whole history in it."""
    ip.run_cell("log = {}")
    cell = (
        "lr = tune.loguniform(1e-3, 1)\n"
        "kind = tune.choice(['a', 'b'])\n"
        "model = {'trace': []}\n"
        "for epoch in tune.steps():\n"
        "    model['trace'].append((lr, epoch))\n"
        "    tune.report(sum(l for l, _ in model['trace']), step=epoch)\n"
        "log[len(log)] = list(model['trace'])\n"
        "sum(l for l, _ in model['trace'])\n"
    )
    line = "--strategy pbt --population 4 --interval 2 --budget 1..8 --state model --seed 0 --maximize --out s"
    assert run(ip, line, cell).success
    study, log = ip.user_ns["s"], ip.user_ns["log"]
    assert study.strategy_name == "pbt" and len(study.trials) == 16 and study.last_finish.reason == "exhausted"
    clones = 0
    for t in study.trials:
        trace = log[t.number]
        budget, start = t.user_attrs["budget"], t.user_attrs.get("start", 0)
        assert [step for _lr, step in trace] == list(range(1, budget + 1))
        assert all(lr == t.params["lr"] for lr, _ in trace[start:])  # this segment trained with its own lr
        if "continues" not in t.user_attrs:
            assert t.user_attrs["round"] == 0
            continue
        source = study.trials[t.user_attrs["continues"]]
        assert trace[: len(log[source.number])] == log[source.number]  # the restored model is the source's
        assert start == source.user_attrs["resource"] == budget - 2
        if "donor" in t.user_attrs:
            clones += 1
            assert source.user_attrs["member"] == t.user_attrs["donor"] != t.user_attrs["member"]
            assert t.params["lr"] != source.params["lr"] or t.params["kind"] != source.params["kind"]
        else:
            assert source.user_attrs["member"] == t.user_attrs["member"] and t.params == source.params
    assert clones == 3  # one clone per round after the first (4 members, quantile 0.25)


def test_population_and_interval_options_of_the_magic(ip) -> None:
    cmd = parse_tune_line("--strategy pbt --population 6 --interval 3 --budget 1..9")
    assert (cmd.population, cmd.interval) == (6, 3)
    magics = ip.magics_manager.registry["TuneMagics"]
    cell = "lr = tune.loguniform(1e-3, 1)\nfor s in tune.steps():\n    tune.report(lr, step=s)\nlr\n"
    _study, _objective, strategy, n_trials = magics._prepare(cmd, cell)
    assert isinstance(strategy, PBTScheduler) and (strategy.population, strategy.interval) == (6, 3)
    assert n_trials is None  # the whole schedule: 6 members x 3 rounds
    with pytest.raises(UsageError, match="--population applies to --strategy pbt and evolution only"):
        parse_tune_line("--strategy random --population 4")
    with pytest.raises(UsageError, match="--interval applies to --strategy pbt only"):
        parse_tune_line("--strategy evolution --interval 4")
    with pytest.raises(UsageError, match="--population takes an integer >= 2"):
        parse_tune_line("--strategy pbt --population 1")
    with pytest.raises(UsageError, match="pbt scheduler needs a resource range"):
        ip.run_cell_magic("tune", "--strategy pbt", cell)

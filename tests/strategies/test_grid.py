"""Grid search: the conformance suite (in order and sampled), budgets, huge grids, resuming."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import GridSampler
from tests.strategies.conformance import (
    ODD_CHOICES,
    StrategyConformance,
    assert_valid,
    configs,
    drive,
    loss,
    make_trial,
    small_space,
)


class TestGridConformance(StrategyConformance):
    pass_budget = False  # the conformance spaces have more points than a run's trials
    deterministic = True
    grid_like = True
    resume_exact = True
    never_repeats = True

    def make_strategy(self, **kw: Any) -> GridSampler:
        return GridSampler(**kw)


class TestSampledGridConformance(StrategyConformance):
    grid_like = True
    resume_exact = True
    never_repeats = True

    def make_strategy(self, **kw: Any) -> GridSampler:
        return GridSampler(**{"sample": True, **kw})


def space_of_960() -> Space:
    return Space(
        {
            "lr": Float(1e-3, 1.0, log=True),
            "depth": Int(1, 8),
            "leaves": Int(2, 6),
            "kind": Categorical(["a", "b", "c", "d", "e", "f"]),
        }
    )


def huge_space(dims: int) -> Space:
    return Space({f"x{i}": Float(0.0, 1.0) for i in range(dims)})


def grid_of(space: Space, points: int) -> list[dict[str, Any]]:
    names = list(space)
    return [
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n].grid(points) for n in names))
    ]


def test_visits_the_product_in_space_order() -> None:
    space = small_space()
    trials = drive(GridSampler(points=3), space, loss, 100, n_trials=None)
    assert configs(trials) == grid_of(space, 3)
    assert len(trials) == 3 * 3 * 4


def test_float_points_are_evenly_or_geometrically_spaced() -> None:
    space = Space({"u": Float(0.0, 1.0), "g": Float(1e-3, 10.0, log=True)})
    trials = drive(GridSampler(points=5), space, loss, 100)
    us = sorted({t.params["u"] for t in trials})
    gs = sorted({t.params["g"] for t in trials})
    assert us == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert gs == pytest.approx([1e-3, 1e-2, 1e-1, 1.0, 10.0])


def test_one_point_is_the_middle() -> None:
    trials = drive(GridSampler(points=1), Space({"g": Float(1e-2, 1.0, log=True)}), loss, 10, n_trials=1)
    assert configs(trials) == [{"g": pytest.approx(0.1)}]


def test_a_grid_larger_than_the_budget_is_refused_with_its_size() -> None:
    strategy = GridSampler(points=4)
    with pytest.raises(OptionError) as info:
        strategy.setup(space_of_960(), direction="minimize", seed=0, n_trials=20)
    message = str(info.value)
    assert message.startswith("the grid has 960 combinations but the budget is 20 trials")
    for hint in ("raise --trials to 960", "--grid-points", "narrow the integer ranges", "--grid-sample", "try 20"):
        assert hint in message


def test_a_budget_as_large_as_the_grid_is_accepted() -> None:
    trials = drive(GridSampler(points=4), space_of_960(), loss, 960, n_trials=960)
    assert len({json.dumps(p, sort_keys=True) for p in configs(trials)}) == 960


def test_without_a_budget_the_whole_grid_is_the_budget() -> None:
    strategy = GridSampler(points=2)
    space = Space({"x": Float(0.0, 1.0), "k": Categorical([1, 2, 3])})
    trials = drive(strategy, space, loss, 1000, n_trials=None)
    assert len(trials) == 6
    assert strategy.is_exhausted()


def test_exhausted_grid_refuses_to_ask() -> None:
    strategy = GridSampler()
    strategy.setup(Space({"k": Categorical([True, False])}), direction="minimize", seed=0, n_trials=2)
    assert not strategy.is_exhausted()
    assert {strategy.ask(0)["k"], strategy.ask(1)["k"]} == {True, False}
    assert strategy.is_exhausted()
    with pytest.raises(RuntimeError, match="exhausted"):
        strategy.ask(2)


def test_empty_space_is_one_combination() -> None:
    strategy = GridSampler()
    strategy.setup(Space({}), direction="minimize", seed=0, n_trials=5)
    assert strategy.ask(0) == {}
    assert strategy.is_exhausted()


def test_sampled_grid_covers_distinct_points_in_a_seeded_order() -> None:
    space = space_of_960()
    everything = grid_of(space, 4)
    runs = {
        seed: configs(drive(GridSampler(points=4, sample=True), space, loss, 960, seed=seed, n_trials=960))
        for seed in (0, 1)
    }
    for seed, seen in runs.items():
        assert len(seen) == 960
        assert sorted(map(repr, seen)) == sorted(map(repr, everything)), seed
        assert seen != everything  # not the product order
    assert runs[0] != runs[1]
    assert runs[0] == configs(drive(GridSampler(points=4, sample=True), space, loss, 960, seed=0, n_trials=960))


def test_sampled_grid_respects_a_small_budget() -> None:
    trials = drive(GridSampler(points=4, sample=True), space_of_960(), loss, 20, n_trials=20)
    assert len(trials) == 20
    assert len({repr(p) for p in configs(trials)}) == 20


def test_a_grid_of_a_trillion_points_is_refused_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused from its size alone: each dimension's values are listed at most twice, no combination is made."""
    calls: list[str | None] = []
    grid = Float.grid

    def counted(self: Float, points: int) -> list[float]:
        calls.append(self.name)
        return grid(self, points)

    monkeypatch.setattr(Float, "grid", counted)
    with pytest.raises(OptionError, match="1000000000000 combinations"):
        GridSampler(points=10).setup(huge_space(12), direction="minimize", seed=0, n_trials=50)
    assert len(calls) <= 2 * 12


class CountingGrid(GridSampler):
    """Counts the combinations it checks against those taken: the work of finding the next one."""

    checks = 0

    def _taken(self, flat: int) -> bool:
        self.checks += 1
        return super()._taken(flat)


@pytest.mark.parametrize("dims", [12, 40])  # 10**12, and 10**40 which does not fit in an int64
def test_a_huge_grid_can_be_sampled(dims: int) -> None:
    space = huge_space(dims)
    sampler = CountingGrid(points=10, sample=True)
    trials = drive(sampler, space, loss, 50, seed=3, n_trials=50)
    # Random draws of one digit per dimension, never a permutation or a scan of the grid.
    assert sampler._order is None
    assert sampler.checks <= 50 * 2
    assert len({tuple(p.values()) for p in configs(trials)}) == 50
    values = set(space["x0"].grid(10))
    for params in configs(trials):
        assert_valid(space, params)
        assert set(params.values()) <= values
    again = drive(GridSampler(points=10, sample=True), space, loss, 50, seed=3, n_trials=50)
    assert configs(again) == configs(trials)


def test_resume_skips_what_the_history_tried() -> None:
    space = Space({"x": Float(0.0, 1.0), "kind": Categorical(ODD_CHOICES), "n": Int(1, 3)})
    first = drive(GridSampler(points=3), space, loss, 10)
    # As the store gives them back: JSON round trip, equal but not identical choice objects, an int stored as float.
    stored = []
    for trial in first:
        params = json.loads(json.dumps(trial.params))
        params["kind"] = tuple(params["kind"]) if isinstance(params["kind"], list) else params["kind"]
        params["n"] = float(params["n"])
        stored.append(make_trial(trial.number, params, trial.value))
    stored[3] = make_trial(3, stored[3].params, None)  # a failed trial is not retried either
    rest = drive(GridSampler(points=3), space, loss, 100, history=stored, n_trials=3 * 4 * 3)
    assert len(rest) == 3 * 4 * 3 - 10
    seen = configs(first)
    assert all(p not in seen for p in configs(rest))


def test_resume_budget_is_the_study_total() -> None:
    """``n_trials`` counts the history (as Study.optimize does): 10 run + 2 left covers the 12-point grid."""
    space = Space({"k": Categorical(list(range(12)))})
    first = drive(GridSampler(), space, loss, 10)
    strategy = GridSampler()
    strategy.setup(space, direction="minimize", seed=0, n_trials=12, history=first)
    assert {strategy.ask(10)["k"], strategy.ask(11)["k"]} == {10, 11}
    assert strategy.is_exhausted()
    with pytest.raises(OptionError) as info:
        GridSampler().setup(space, direction="minimize", seed=0, n_trials=5, history=first[:3])
    assert str(info.value) == (
        "the grid has 12 combinations (9 not tried yet) but the budget is 5 trials (3 already run, 2 left): "
        "raise --trials to 12, offer fewer choices, or add --grid-sample to try 2 random points of the grid"
    )


def test_history_off_the_grid_uses_budget() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    history = [make_trial(0, {"x": 0.3}, 1.0)]
    with pytest.raises(OptionError, match="raise --trials to 4"):
        GridSampler(points=3).setup(space, direction="minimize", seed=0, n_trials=3, history=history)


def test_history_points_off_the_grid_are_ignored() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    history = [make_trial(0, {"x": 0.3}, 1.0), make_trial(1, {"y": 0.5}, 1.0), make_trial(2, {"x": 0.5}, 1.0)]
    trials = drive(GridSampler(points=3), space, loss, 10, history=history, n_trials=5)
    assert configs(trials) == [{"x": 0.0}, {"x": 1.0}]


def test_grid_does_not_support_dynamic_markers() -> None:
    assert GridSampler.supports_dynamic is False
    assert GridSampler.name == "grid"


@pytest.mark.parametrize("points", [0, -1, 2.5, "5", True, None])
def test_bad_points(points: Any) -> None:
    with pytest.raises(OptionError, match="grid points"):
        GridSampler(points=points)

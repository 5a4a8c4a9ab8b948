"""Tests every strategy must pass, whatever its algorithm.

A test module subclasses ``StrategyConformance`` (the name has no ``Test`` prefix, so pytest collects only the
subclasses) and overrides ``make_strategy``::

    class TestGridConformance(StrategyConformance):
        def make_strategy(self, **kw):
            return GridSampler(**kw)

The tests drive a strategy (a sampler, or a scheduler over its sampler) the way ``Study.optimize`` does: ``setup``
once, then ``ask(number)`` / run / ``tell`` per trial, failed trials (``value=None``) included, with several trials
pending at once and told back in any order. Class attributes describe what a strategy promises beyond the
common contract (reproducing a sequence on resume, being a grid, ...).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from hpmagic.objectives import Objectives
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import Strategy, TrialRequest
from hpmagic.trial import Trial, TrialState
from hpmagic.types import Direction

#: An objective for the tests: the value of a configuration, or None when the trial fails.
Objective = Callable[[dict[str, Any]], "float | None"]

ODD_CHOICES = ("a", None, (1, 2), 3.5)


def mixed_space() -> Space:
    """One dimension of every kind and scale, with choices that are not strings, and a constant."""
    return Space(
        {
            "x": Float(-2.0, 3.0),
            "lr": Float(1e-4, 1.0, log=True),
            "n": Int(1, 6),
            "width": Int(2, 64, log=True),
            "const": Categorical(["only"]),
            "kind": Categorical(ODD_CHOICES),
        }
    )


def small_space() -> Space:
    """A space whose grid (5 x 5 x 3 = 75 points) fits in any budget used here."""
    return Space({"x": Float(-2.0, 3.0), "lr": Float(1e-4, 1.0, log=True), "kind": Categorical(ODD_CHOICES)})


def loss(params: dict[str, Any]) -> float:
    """A smooth objective over any of the spaces above (only the dimensions present count)."""
    value = (params.get("x", 0.0) - 0.5) ** 2
    if "lr" in params:
        value += (math.log10(params["lr"]) + 2.0) ** 2 / 4
    value += abs(params.get("n", 3) - 3) / 3 + params.get("width", 8) / 640
    value += 0.0 if params.get("kind", None) is None else 0.3
    return value


def failing_loss(params: dict[str, Any]) -> float | None:
    """``loss``, except that one choice and a band of ``x`` fail (about 40% of uniform draws, 25% of a grid's)."""
    return None if params.get("kind") == (1, 2) or params.get("x", 0.0) > 1.5 else loss(params)


#: Two objectives for the multi-objective conformance test: ``accuracy`` (maximised) against ``cost`` (the primary).
TWO_OBJECTIVES = Objectives(("accuracy", "cost"), (Direction.MAXIMIZE, Direction.MINIMIZE), primary=1)


def two_objectives(params: dict[str, Any]) -> list[float] | None:
    """``[accuracy, cost]`` in conflict (cost grows where the loss falls), or None where ``failing_loss`` fails."""
    value = failing_loss(params)
    if value is None:
        return None
    return [-value, abs(params.get("x", 0.0) - 0.5) * 10 + math.log10(params.get("lr", 1e-2)) ** 2 - value]


def make_trial(number: int, params: dict[str, Any], value: float | None) -> Trial:
    """A finished trial as the study loop records it: complete with a value, or failed without one."""
    failed = value is None
    return Trial(
        number=number,
        params=params,
        state=TrialState.FAILED if failed else TrialState.COMPLETE,
        value=value,
        finished_at=time.time(),
        error="ValueError: boom" if failed else None,
    )


def drive(
    strategy: Strategy,
    space: Space,
    objective: Objective,
    n: int,
    *,
    seed: int = 0,
    direction: str = "minimize",
    history: Sequence[Trial] = (),
    n_trials: int | None = None,
) -> list[Trial]:
    """Run ``n`` trials (fewer if the strategy runs out) after ``setup``; return the new trials.

    ``n_trials`` is the study's total budget, finished history included, as ``Study.optimize`` passes it.
    """
    strategy.setup(space, direction=direction, seed=seed, n_trials=n_trials, history=list(history))
    return step(strategy, objective, n, start=len(history))


def propose(strategy: Strategy, number: int) -> dict[str, Any]:
    """The configuration trial ``number`` runs: a sampler's answer, or the params of a scheduler's request."""
    return ask(strategy, number)[0]


def ask(strategy: Strategy, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(params, user_attrs)`` of trial ``number``, the attributes as the study loop records a request's."""
    answer = strategy.ask(number)
    if not isinstance(answer, TrialRequest):
        return answer, {}
    attrs = {**answer.attrs, "budget": answer.budget}
    if answer.resume_from is not None:
        attrs["continues"] = answer.resume_from
    return answer.params, attrs


def step(strategy: Strategy, objective: Objective, n: int, *, start: int = 0) -> list[Trial]:
    """Ask, evaluate and tell ``n`` more trials on a strategy already set up."""
    trials = []
    for number in range(start, start + n):
        if strategy.is_exhausted():
            break
        params, attrs = ask(strategy, number)
        trial = make_trial(number, params, objective(params))
        trial.user_attrs.update(attrs)
        strategy.tell(trial)
        trials.append(trial)
    return trials


def assert_valid(space: Space, params: dict[str, Any]) -> None:
    """Every dimension has a legal value of the right Python type (choices: the very objects offered)."""
    assert set(params) == set(space), params
    for name, dim in space.items():
        value = params[name]
        assert dim.contains(value), (name, value)
        if isinstance(dim, Int):
            assert type(value) is int, (name, type(value))
        elif isinstance(dim, Float):
            assert type(value) is float, (name, type(value))
            assert math.isfinite(value)
        else:
            assert isinstance(dim, Categorical)
            assert any(value is c for c in dim.choices), (name, value)


def configs(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    return [t.params for t in trials]


def tell_shuffled(
    strategy: Any, space: Any, n: int, k: int, make: Callable[[int, dict[str, Any]], Trial]
) -> tuple[list[Trial], int]:
    """Ask up to ``k`` trials ahead (at most ``n`` in all), tell them back in a shuffled order (seeded by ``k``);
    returns the told trials and how many were asked, after checking each asked trial was told exactly once."""
    shuffle = random.Random(k)
    pending: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    told: list[Trial] = []
    asked = 0
    while len(told) < n:
        while len(pending) < k and asked < n and not strategy.is_exhausted():
            params, attrs = ask(strategy, asked)
            assert_valid(space, params)
            pending[asked] = (params, attrs)
            asked += 1
        if not pending:
            break
        number = shuffle.choice(sorted(pending))
        params, attrs = pending.pop(number)
        trial = make(number, params)
        trial.user_attrs.update(attrs)
        strategy.tell(trial)
        told.append(trial)
    assert sorted(t.number for t in told) == list(range(asked)), "every asked trial was told exactly once"
    return told, asked


class StrategyConformance:
    """The contract of ``Strategy``, as tests. Subclasses override ``make_strategy`` and the flags below."""

    #: Trials per run: enough to leave any random start phase, few enough to keep model-based strategies fast.
    n_trials: ClassVar[int] = 16
    #: Whether ``setup`` gets ``n_trials`` (a grid without sampling refuses budgets smaller than its grid).
    pass_budget: ClassVar[bool] = True
    #: The same asks whatever the seed (a grid visited in order).
    deterministic: ClassVar[bool] = False
    #: Proposes grid points (checked for geometric spacing) rather than draws (checked for their distribution).
    grid_like: ClassVar[bool] = False
    #: A resumed run asks exactly what the uninterrupted run asked from that point on.
    resume_exact: ClassVar[bool] = False
    #: A run (resumed or not) never proposes the same configuration twice.
    never_repeats: ClassVar[bool] = False

    def make_strategy(self, **kw: Any) -> Strategy:
        """A new, not yet set up, strategy under test."""
        raise NotImplementedError

    def make_exploring_strategy(self) -> Strategy:
        """The strategy configured to explore only (e.g. a model-based one kept in its random start phase).

        Used by the distribution test, which needs a couple of hundred proposals.
        """
        return self.make_strategy()

    def run(self, space: Space, objective: Objective = loss, n: int | None = None, **kw: Any) -> list[Trial]:
        n = self.n_trials if n is None else n
        budget = n if self.pass_budget else None
        return drive(self.make_strategy(), space, objective, n, n_trials=budget, **kw)

    # -- values ---------------------------------------------------------------------------------------------

    def test_values_in_bounds_with_python_types(self) -> None:
        space = mixed_space()
        trials = self.run(space)
        assert len(trials) == self.n_trials
        for trial in trials:
            assert_valid(space, trial.params)

    def test_log_scale_is_honoured(self) -> None:
        # The float comes last so that a grid visited in order (last dimension fastest) cycles through its values.
        space = Space({"k": Int(1, 10_000, log=True), "lr": Float(1e-4, 1.0, log=True)})
        strategy = self.make_exploring_strategy()
        lrs, ks = [], []
        for trial in drive(strategy, space, loss, 200):
            assert_valid(space, trial.params)
            lrs.append(trial.params["lr"])
            ks.append(trial.params["k"])
        if self.grid_like:
            points = sorted(set(lrs))
            assert len(points) >= 3
            ratios = [b / a for a, b in zip(points, points[1:], strict=False)]
            assert all(math.isclose(r, ratios[0], rel_tol=1e-9) for r in ratios), ratios
        else:
            # Log-uniform on [1e-4, 1]: half the mass below 1e-2 (a uniform draw would put 1% there).
            below = sum(lr < 1e-2 for lr in lrs) / len(lrs)
            assert 0.35 < below < 0.65, below
            # Log-uniform integers on [1, 10000]: about half at most 100 (uniform: 1%).
            small = sum(k <= 100 for k in ks) / len(ks)
            assert 0.35 < small < 0.7, small

    def test_empty_space_gives_empty_configurations(self) -> None:
        strategy = self.make_strategy()
        strategy.setup(Space({}), direction="minimize", seed=0, n_trials=3 if self.pass_budget else None)
        assert propose(strategy, 0) == {}
        strategy.tell(make_trial(0, {}, 1.0))
        if not strategy.is_exhausted():
            assert propose(strategy, 1) == {}

    # -- reproducibility ----------------------------------------------------------------------------------------

    def test_same_seed_same_sequence(self) -> None:
        space = mixed_space()
        first = configs(self.run(space, seed=7))
        second = configs(self.run(space, seed=7))
        assert first == second

    def test_different_seed_different_sequence(self) -> None:
        space = mixed_space()
        first = configs(self.run(space, seed=1))
        second = configs(self.run(space, seed=2))
        if self.deterministic:
            assert first == second
        else:
            assert first != second

    def test_resume_continues(self) -> None:
        space = small_space()
        n, k = self.n_trials, self.n_trials // 2
        full = self.run(space, failing_loss, n, seed=3)
        first = self.run(space, failing_loss, k, seed=3)
        assert configs(first) == configs(full[:k])
        budget = n if self.pass_budget else None  # the study's total, history included
        rest = drive(self.make_strategy(), space, failing_loss, n - k, seed=3, history=first, n_trials=budget)
        assert len(rest) == n - k
        assert [t.number for t in rest] == list(range(k, n))
        for trial in rest:
            assert_valid(space, trial.params)
        if self.resume_exact:
            assert configs(rest) == configs(full[k:])
        if self.never_repeats:
            seen = configs(first)
            assert all(p not in seen for p in configs(rest))

    def test_never_repeats_within_a_run(self) -> None:
        if not self.never_repeats:
            return
        seen = configs(self.run(small_space()))
        assert all(p not in seen[:i] for i, p in enumerate(seen))

    # -- failures and odd histories -------------------------------------------------------------------------------

    def test_failed_trials_are_not_numbers(self) -> None:
        space = mixed_space()
        trials = self.run(space, failing_loss)
        assert any(t.value is None for t in trials) and any(t.value is not None for t in trials)
        for trial in trials:
            assert_valid(space, trial.params)

    def test_every_trial_failing(self) -> None:
        space = small_space()
        trials = self.run(space, lambda params: None)
        assert len(trials) == self.n_trials
        for trial in trials:
            assert_valid(space, trial.params)

    def test_history_from_an_edited_cell(self) -> None:
        """A resumed study's history may hold any params: the user edited the space, or trials never finished."""
        space = small_space()
        ok = {"x": 0.1, "lr": 0.01, "kind": (1, 2)}
        history = [
            make_trial(0, {"x": 0.5}, 1.0),  # conditional/removed dimensions: missing
            make_trial(1, {**ok, "x": 99.0}, 0.5),  # outside the current bounds
            make_trial(2, {**ok, "extra": [1, 2]}, 2.0),  # a dimension created at run time
            make_trial(3, ok, None),  # failed
            Trial(number=4, params={**ok, "x": -1.0}, state=TrialState.PRUNED, value=0.7, finished_at=time.time()),
            Trial(number=5, params={**ok, "x": 2.0}, state=TrialState.RUNNING),  # never finished
            Trial(number=6, params={**ok, "x": 2.5}, state=TrialState.INTERRUPTED),
            make_trial(7, {}, 0.1),
            make_trial(8, {**ok, "kind": "not a choice"}, 0.3),
            make_trial(9, {**ok, "x": "text"}, 0.3),
            make_trial(10, {**ok, "lr": 0.5, "x": -1.5}, 3.0),
        ]
        budget = sum(t.state.finished for t in history) + self.n_trials if self.pass_budget else None
        trials = drive(self.make_strategy(), space, failing_loss, self.n_trials, history=history, n_trials=budget)
        assert trials
        for trial in trials:
            assert_valid(space, trial.params)

    def test_asks_before_tells(self) -> None:
        """Parallel workers ask for several trials before the first one ends: each gets its own configuration."""
        space = mixed_space()
        strategy = self.make_strategy()
        warm = self.n_trials - 3
        strategy.setup(space, direction="minimize", seed=0, n_trials=self.n_trials if self.pass_budget else None)
        step(strategy, loss, warm)
        batch = [propose(strategy, warm + i) for i in range(3)]
        for params in batch:
            assert_valid(space, params)
        assert all(p not in batch[:i] for i, p in enumerate(batch))
        for i, params in enumerate(batch):
            strategy.tell(make_trial(warm + i, params, loss(params)))

    @pytest.mark.parametrize("k", [1, 2, 4, 8])
    def test_pending_trials_told_in_shuffled_order(self, k: int) -> None:
        """Up to ``k`` trials outstanding, told back in a shuffled order: none lost, repeated or crashing."""
        space = small_space()
        n = self.n_trials
        strategy = self.make_strategy()
        strategy.setup(space, direction="minimize", seed=4, n_trials=n if self.pass_budget else None)
        told, asked = tell_shuffled(
            strategy, space, n, k, lambda number, params: make_trial(number, params, failing_loss(params))
        )
        assert asked == n or strategy.is_exhausted()
        if self.never_repeats:
            seen = configs(told)
            assert all(p not in seen[:i] for i, p in enumerate(seen))
        if k == 1:
            # One at a time, the order cannot shuffle: the seeded sequence is the sequential run's.
            again = self.run(space, failing_loss, n, seed=4)
            assert configs(told) == configs(again)

    @pytest.mark.parametrize("k", [1, 4])
    def test_pending_trials_of_two_objectives(self, k: int) -> None:
        """The same with two objectives (one maximised, the primary the second): trials carry ``values`` and
        ``value`` is the primary's; none is lost, repeated or crashing, and a sampler that reads ``values`` gets
        them."""
        space = small_space()
        n = self.n_trials
        strategy = self.make_strategy()
        sampler = strategy._sampler() if hasattr(strategy, "_sampler") else strategy
        sampler.objectives = TWO_OBJECTIVES
        strategy.setup(space, direction="minimize", seed=6, n_trials=n if self.pass_budget else None)

        def two(number: int, params: dict[str, Any]) -> Trial:
            trial = make_trial(number, params, None)
            values = two_objectives(params)
            if values is not None:
                trial.state, trial.error, trial.values, trial.value = TrialState.COMPLETE, None, values, values[1]
            return trial

        told, asked = tell_shuffled(strategy, space, n, k, two)
        assert asked == n or strategy.is_exhausted()
        if self.never_repeats:
            seen = configs(told)
            assert all(p not in seen[:i] for i, p in enumerate(seen))

    # -- direction ----------------------------------------------------------------------------------------------

    def test_maximize_is_minimizing_the_negation(self) -> None:
        """The strategy must turn values into losses with ``sign``, and nothing else must depend on the direction."""
        space = mixed_space()

        def gain(params: dict[str, Any]) -> float | None:
            value = failing_loss(params)
            return None if value is None else -value

        maximized = self.run(space, gain, direction="maximize", seed=5)
        minimized = self.run(space, failing_loss, direction="minimize", seed=5)
        assert configs(maximized) == configs(minimized)

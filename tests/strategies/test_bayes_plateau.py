"""bayes leaves plateaus: after ``STALL_TIES`` trials in a row return values seen before, the next trial keeps
``STALL_REACH`` length scales away from every tried point.

Objectives with plateaus are the ones users bring: an error rate on a few hundred samples takes few distinct values,
and a flat space with a choice of model has parameters the chosen model ignores.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.samplers import _gp
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import BayesSampler
from tests.strategies.conformance import drive

SPACE = Space(
    {
        "model": Categorical(("knn", "linear")),
        "k": Int(1, 30),
        "c": Float(1e-3, 1e3, log=True),
        "unused": Float(0.0, 1.0),
    }
)


def _quantised(levels: int):
    """A flat 'choice of model' objective whose value, like an error rate, takes ``levels`` steps per branch."""

    def objective(p: dict[str, Any]) -> float:
        if p["model"] == "knn":
            raw = abs(p["k"] - 17) / 29
        else:
            raw = abs(math.log10(p["c"]) - 1.0) / 4
        return math.floor(raw * levels) / levels + (0.0 if p["model"] == "linear" else 0.01)

    return objective


def _recorded_escapes(strategy: BayesSampler) -> list[int]:
    """The asks (by index) the plateau rule answers, filled in as ``strategy`` runs."""
    escapes: list[int] = []
    decide = strategy._stalled

    def recording() -> bool:
        stalled = decide()
        if stalled:
            escapes.append(strategy.n_asked)
        return stalled

    strategy._stalled = recording  # type: ignore[method-assign]
    return escapes


def _recorded_reaches(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """For every proposal asked to keep its distance, the smallest distance (in the length scales the model had
    then) from the proposal to a tried point."""
    reaches: list[float] = []
    optimize = _gp.optimize_acquisition

    def recording(model, enc, score, x_seen, *args, reach=0.0, **kwargs):  # type: ignore[no-untyped-def]
        u = optimize(model, enc, score, x_seen, *args, reach=reach, **kwargs)
        if reach > 0 and u is not None:
            d2 = _gp._scaled_sq_dists(enc.features(u[None, :]), enc.features(x_seen), model.length_scales)
            reaches.append(float(np.sqrt(d2.min())))
        return u

    monkeypatch.setattr(_gp, "optimize_acquisition", recording)
    return reaches


@settings(max_examples=10, deadline=None)
@given(levels=st.integers(2, 12), seed=st.integers(0, 10_000))
def test_escapes_come_exactly_after_runs_of_repeated_values_and_keep_their_distance(levels: int, seed: int) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        reaches = _recorded_reaches(monkeypatch)
        strategy = BayesSampler(n_initial_points=4, n_candidates=200)
        stalls = _recorded_escapes(strategy)
        trials = drive(strategy, SPACE, _quantised(levels), 24, seed=seed)
    # The rule, replayed from the values alone: a run of STALL_TIES repeats (since the last escape) calls for one.
    expected, seen, run = [], set(), 0
    for i, t in enumerate(trials):
        if i >= 4 and run >= _gp.STALL_TIES:
            expected.append(i)
            run = 0
        run = run + 1 if t.value in seen else 0
        seen.add(t.value)
    assert stalls == expected
    assert strategy.n_plateau_escapes == len(expected)
    # Each escape is the model's (unless the model could not propose), at least STALL_REACH length scales from every
    # tried point.
    assert len(expected) - strategy.n_fallbacks <= len(reaches) <= len(expected)
    assert all(r >= _gp.STALL_REACH for r in reaches)
    for i in expected:  # not random search's trial
        assert trials[i].params != SPACE.sample(strategy.trial_rng(i))
    if expected:
        assert any("to leave a plateau" in note for note in strategy.notes)


def test_with_no_reach_the_escape_is_a_random_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_gp, "STALL_REACH", 0.0)
    strategy = BayesSampler(n_initial_points=4, n_candidates=200)
    stalls = _recorded_escapes(strategy)
    trials = drive(strategy, SPACE, _quantised(2), 30, seed=0)
    assert len(stalls) >= 2
    for i in stalls:
        assert trials[i].params == SPACE.sample(strategy.trial_rng(i))


def test_a_few_distinct_values_call_for_escapes_and_distinct_values_never_do() -> None:
    coarse = BayesSampler(n_initial_points=4, n_candidates=200)
    drive(coarse, SPACE, _quantised(2), 30, seed=0)
    assert coarse.n_plateau_escapes >= 2  # two levels per branch: repeats come fast
    smooth = BayesSampler(n_initial_points=4, n_candidates=200)
    drive(smooth, SPACE, lambda p: (p["k"] - 17) ** 2 + math.log10(p["c"]) ** 2 + p["unused"], 30, seed=0)
    assert smooth.n_plateau_escapes == 0
    assert not any("plateau" in note for note in smooth.notes)


def test_multi_fidelity_runs_repeat_configurations_on_purpose_and_draw_nothing_for_it() -> None:
    def steps(p: dict[str, Any]) -> float:
        value = 1.0
        for step in tune.steps():
            value = 0.5 if p["x"] < 0.5 else 0.25  # two values at every budget
            tune.report(value, step=step)
        return value

    strategy = BayesSampler(n_initial_points=3, n_candidates=200)
    study = hpmagic.optimize(
        steps, {"x": Float(0.0, 1.0)}, strategy=strategy, scheduler="hyperband", budget=(1, 9), seed=0
    )
    assert len(study.trials) > 12
    assert strategy.n_plateau_escapes == 0


def test_with_several_objectives_a_repeat_repeats_them_all() -> None:
    """A coarse first objective next to a fine second one is no plateau: the front still moves."""
    strategy = BayesSampler(n_initial_points=4, n_candidates=200)
    hpmagic.optimize(
        lambda p: {"error": math.floor(2 * p["x"]) / 2, "size": p["x"] + p["y"]},
        {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)},
        strategy=strategy,
        n_trials=16,
        seed=0,
        directions={"error": "minimize", "size": "minimize"},
    )
    assert strategy.n_plateau_escapes == 0
    coarse = BayesSampler(n_initial_points=4, n_candidates=200)
    hpmagic.optimize(
        lambda p: {"error": math.floor(2 * p["x"]) / 2, "size": math.floor(2 * p["y"]) / 2},
        {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)},
        strategy=coarse,
        n_trials=16,
        seed=0,
        directions={"error": "minimize", "size": "minimize"},
    )
    assert coarse.n_plateau_escapes >= 1  # both coarse: four outcomes in all, repeats come fast


@pytest.mark.parametrize("reach", [_gp.STALL_REACH, 0.0], ids=["model", "random-draw"])
def test_with_constraints_escapes_stay_feasible(reach: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaving a plateau should not mean leaving the feasible region: 80% of the space breaks the constraint. The
    model's escape weighs the acquisition by P(feasible); a random escape is the likeliest feasible of 32 draws."""
    monkeypatch.setattr(_gp, "STALL_REACH", reach)
    strategy = BayesSampler(n_initial_points=4, n_candidates=200)
    escapes = _recorded_escapes(strategy)
    study = hpmagic.optimize(
        lambda p: math.floor(3 * p["y"]) / 3,
        {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)},
        strategy=strategy,
        n_trials=40,
        seed=0,
        constraints=["x <= 0.2"],
    )
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(escapes) >= 3
    assert all(trials[i].feasible for i in escapes)  # a plain random draw would be feasible one time in five
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    assert any(trials[i].params != space.sample(strategy.trial_rng(i)) for i in escapes)

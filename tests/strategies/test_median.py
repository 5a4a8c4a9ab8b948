"""Median stopping waits: no trial is judged in its warm-up steps, nor at a step too few earlier trials reached."""

from __future__ import annotations

from typing import Any

import pytest

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.schedulers import MedianStopping
from hpmagic.trial import TrialState


def constant(p: dict[str, Any]) -> float:
    """Reports the same value at every step: a trial worse than the median is worse from step 1 on."""
    for step in tune.steps():
        tune.report(p["x"], step=step)
    return p["x"]


def pruned_steps(**options: Any) -> list[int]:
    study = hpmagic.optimize(
        constant,
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=30,
        seed=0,
        budget=(1, 20),
        prune="median",
        strategy_options=options,
    )
    return [t.intermediate[-1][0] for t in study.trials if t.state is TrialState.PRUNED]


def test_default_warm_up_is_a_quarter_of_the_budget() -> None:
    steps = pruned_steps()
    assert steps, "median stopping pruned nothing"
    assert min(steps) == 6  # --budget 1..20: steps 1-5 are the warm-up


def test_without_warm_up_it_prunes_at_step_one() -> None:
    assert min(pruned_steps(n_warmup_steps=0)) == 1


def test_explicit_warm_up_and_minimum_trials() -> None:
    assert min(pruned_steps(n_warmup_steps=10)) == 11
    # No trial is judged until this many earlier trials reported at its step: with 30 trials, none ever is.
    assert pruned_steps(n_warmup_steps=0, n_min_trials=40) == []


@pytest.mark.parametrize("options", [{"n_warmup_steps": -1}, {"n_min_trials": 0}, {"n_warmup_steps": 1.5}])
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(OptionError, match="median stopping"):
        MedianStopping(**options)

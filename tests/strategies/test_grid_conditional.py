"""A grid over a space with conditional parameters runs each configuration once, also with trials in flight.

The cell ``kernel = tune.choice(...)``, ``gamma = tune.choice(...) if kernel == "rbf" else "scale"`` uses gamma only
for rbf: a linear trial stands for every value of gamma. Generated spaces (one or two conditions, each guarding one
or two parameters) are driven as a parallel study drives the grid: up to ``k`` trials asked before any is told, and
told in a generated order.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic.cell import build_objective
from hpmagic.space import Categorical, Space
from hpmagic.strategies import GridSampler
from hpmagic.trial import Trial, TrialState


@st.composite
def conditional_spaces(draw: Any) -> tuple[Space, dict[str, tuple[str, Any]]]:
    """A space of switches and the parameters each switch value turns on: ``{param: (switch, value)}``."""
    dims: dict[str, Categorical] = {}
    guards: dict[str, tuple[str, Any]] = {}
    for s in range(draw(st.integers(1, 2))):
        switch = f"switch{s}"
        dims[switch] = Categorical(["off", "on", "other"][: draw(st.integers(2, 3))])
        for p in range(draw(st.integers(1, 2))):
            name = f"p{s}{p}"
            dims[name] = Categorical(list(range(draw(st.integers(2, 3)))))
            guards[name] = (switch, draw(st.sampled_from(dims[switch].choices)))
    if draw(st.booleans()):
        dims["plain"] = Categorical([1, 2])
    ordered = dict(sorted(dims.items(), key=lambda item: draw(st.integers(0, 3))))  # the cell's order varies too
    return Space(ordered, conditional=guards), guards


def used(params: dict[str, Any], guards: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The parameters a trial with these values reaches (what the cell's markers record)."""
    return {k: v for k, v in params.items() if k not in guards or params[guards[k][0]] == guards[k][1]}


def expected(space: Space, guards: dict[str, tuple[str, Any]]) -> set[tuple[tuple[str, Any], ...]]:
    every = (
        dict(zip(space, values, strict=True)) for values in itertools.product(*(d.choices for d in space.values()))
    )
    return {tuple(sorted(used(p, guards).items())) for p in every}


@settings(max_examples=150, deadline=None)
@given(conditional_spaces(), st.integers(1, 4), st.booleans(), st.randoms(use_true_random=False))
def test_each_configuration_runs_once_with_trials_in_flight(case: Any, k: int, sample: bool, rnd: Any) -> None:
    space, guards = case
    grid = GridSampler(sample=sample)
    grid.setup(space, direction="minimize", seed=0)
    seen: list[tuple[tuple[str, Any], ...]] = []
    flight: list[Trial] = []
    most = 0
    while True:
        while len(flight) < k and not grid.is_exhausted():
            params = used(grid.ask(len(seen)), guards)
            flight.append(Trial(number=len(seen), params=params))
            seen.append(tuple(sorted(params.items())))
        if not flight:
            break
        most = max(most, len(flight))
        trial = flight.pop(rnd.randrange(len(flight)))  # trials end in any order
        trial.state, trial.value = TrialState.COMPLETE, 0.0
        grid.tell(trial)
    wanted = expected(space, guards)
    # Every configuration ran, none twice: a combination that may be a running trial's waited for its end.
    assert sorted(seen) == sorted(wanted), seen
    # Waiting is for such combinations only: with two or more settings of the unconditional parameters, two
    # trials ran at once.
    fixed = [d.choices for name, d in space.items() if name not in guards]
    if k > 1 and len(list(itertools.product(*fixed))) > 1:
        assert most >= 2


def test_markers_in_branches_are_conditional() -> None:
    cell = (
        'kernel = tune.choice(["linear", "rbf"])\n'
        'gamma = tune.choice([1e-3, 1e-4]) if kernel == "rbf" else "scale"\n'
        "if kernel == 'linear':\n"
        "    penalty = tune.choice(['l1', 'l2'])\n"
        "C = tune.choice([1, 10])\n"
        "try:\n"
        "    tol = tune.choice([1e-3, 1e-4])\n"
        "except ValueError:\n"
        "    tol = tune.choice([1e-2, 1e-5], name='fallback_tol')\n"
        "C\n"
    )
    from hpmagic import tune

    space = build_objective(cell, {"tune": tune}).space
    assert space.conditional == {"gamma", "penalty", "fallback_tol"}

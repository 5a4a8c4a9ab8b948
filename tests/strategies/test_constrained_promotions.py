"""Hyperband, ASHA and PBT rank results as the study does: a configuration that violates a constraint never
continues ahead of a feasible one, however good its value (feasible first by value, then least violation)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.constraints import total_violation
from hpmagic.space import Float
from hpmagic.trial import Trial, TrialState


def _climb(p: dict[str, Any]) -> float:
    """Lower for larger x, at every step: without constraints the largest x always continues."""
    value = 0.0
    for step in tune.steps():
        value = (1.0 - p["x"]) + 1.0 / step
        tune.report(value, step=step)
    return value


def _study(scheduler: str, limit: float, seed: int, **options: Any) -> list[Trial]:
    study = hpmagic.optimize(
        _climb,
        {"x": Float(0.0, 1.0)},
        strategy="random",
        scheduler=scheduler,
        budget=(1, 9),
        n_trials=None if scheduler != "asha" else 30,
        seed=seed,
        constraints=[f"x <= {limit}"],
        strategy_options=options or None,
    )
    return sorted(study.trials, key=lambda t: t.number)


def _standing(t: Trial) -> tuple[float, float]:
    assert t.state is TrialState.COMPLETE and t.value is not None
    return (total_violation(t.violations), t.value)


@settings(max_examples=12, deadline=None)
@given(limit=st.floats(0.15, 0.85), seed=st.integers(0, 10_000))
def test_hyperband_promotes_feasible_configurations_before_better_valued_infeasible_ones(
    limit: float, seed: int
) -> None:
    trials = _study("hyperband", limit, seed)
    rungs: dict[tuple[int, int], dict[int, Trial]] = {}
    for t in trials:
        rungs.setdefault((t.user_attrs["bracket"], t.user_attrs["rung"]), {})[t.user_attrs["config"]] = t
    promotions = 0
    for (bracket, rung), results in rungs.items():
        promoted = set(rungs.get((bracket, rung + 1), {}))
        if not promoted:
            continue
        promotions += 1
        left = [results[c] for c in results if c not in promoted]
        worst_promoted = max(_standing(results[c]) for c in promoted)
        assert all(worst_promoted <= _standing(t) for t in left), (bracket, rung)
    assert promotions >= 3


def test_the_values_alone_would_have_promoted_infeasible_configurations() -> None:
    """What the ordering tests guard against: ranked by value, this study's first rung sends infeasible ones on."""
    trials = _study("hyperband", 0.5, 0)
    first = [t for t in trials if t.user_attrs["bracket"] == 2 and t.user_attrs["rung"] == 0]
    by_value = sorted(first, key=lambda t: t.value)[:3]
    assert any(t.violations[0] > 0 for t in by_value)
    promoted = {t.user_attrs["config"] for t in trials if t.user_attrs["bracket"] == 2 and t.user_attrs["rung"] == 1}
    assert all(t.violations[0] == 0 for t in first if t.user_attrs["config"] in promoted)


@settings(max_examples=12, deadline=None)
@given(limit=st.floats(0.15, 0.85), seed=st.integers(0, 10_000))
def test_asha_promotes_from_the_top_of_its_rung_by_feasibility_then_value(limit: float, seed: int) -> None:
    trials = _study("asha", limit, seed)
    first_at: dict[tuple[int, int], Trial] = {}
    for t in trials:
        first_at.setdefault((t.user_attrs["config"], t.user_attrs["rung"]), t)
    promotions = 0
    for (config, rung), t in first_at.items():
        if rung == 0:
            continue
        promotions += 1
        # The rung below as it stood when this promotion was asked (trials run one at a time, in number order).
        below = [u for (c, r), u in first_at.items() if r == rung - 1 and u.number < t.number]
        top = len(below) // 3
        ranked = sorted(below, key=lambda u: (_standing(u), u.user_attrs["config"]))
        assert config in [u.user_attrs["config"] for u in ranked[:top]]
    assert promotions >= 3


@settings(max_examples=8, deadline=None)
@given(limit=st.floats(0.2, 0.8), seed=st.integers(0, 10_000))
def test_pbt_copies_feasible_members_before_better_valued_infeasible_ones(limit: float, seed: int) -> None:
    trials = _study("pbt", limit, seed, population=6, interval=3)
    by_round: dict[int, dict[int, Trial]] = {}
    for t in trials:
        by_round.setdefault(t.user_attrs["round"], {})[t.user_attrs["member"]] = t
    clones = 0
    for k, members in by_round.items():
        if k == 0:
            continue
        previous = by_round[k - 1]
        donors = {t.user_attrs["donor"] for t in members.values() if "donor" in t.user_attrs}
        copied = {t.user_attrs["member"] for t in members.values() if "donor" in t.user_attrs}
        clones += len(copied)
        for d in donors:  # a donor ranks above every member that had to copy someone
            assert all(_standing(previous[d]) <= _standing(previous[m]) for m in copied)
    assert clones >= 2

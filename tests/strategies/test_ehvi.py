"""Expected hypervolume improvement: the box decomposition is exact, the closed form is the expectation, and bayes
uses it for two or three objectives (ParEGO beyond, or when asked)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.objectives import Objectives
from hpmagic.pareto import hypervolume
from hpmagic.samplers import BayesSampler, _ehvi, _gp
from hpmagic.samplers._ehvi import Boxes, expected_improvement, reference_point
from hpmagic.space import Float, Space
from hpmagic.trial import Trial
from hpmagic.types import Direction

seeds = st.integers(0, 2**32 - 1)


def _improvement(boxes: Boxes, y: np.ndarray) -> np.ndarray:
    """The exact hypervolume improvement of each row of ``y``: EHVI of a posterior with no spread."""
    return expected_improvement(boxes, y, np.full_like(y, 1e-12))


def _front(rng: np.random.Generator, n: int, m: int, ties: bool) -> np.ndarray:
    points = rng.random((n, m))
    return np.round(points * 4) / 4 if ties else points  # ties: shared coordinates, duplicates, dominated rows


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=st.integers(0, 12), m=st.integers(2, 4), ties=st.booleans())
def test_the_boxes_give_each_point_its_exact_hypervolume_improvement(seed: int, n: int, m: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    front, reference = _front(rng, n, m, ties), np.full(m, 1.1)
    boxes = Boxes(front, reference)
    candidates = np.vstack([rng.random((6, m)) * 1.4 - 0.2, front[:2]])  # beyond the reference, and on the front
    before = hypervolume(front, reference) if n else 0.0
    exact = [hypervolume(np.vstack([front, c]), reference) - before for c in candidates]
    np.testing.assert_allclose(_improvement(boxes, candidates), exact, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n=st.integers(1, 10), m=st.integers(2, 3))
def test_the_closed_form_is_the_expected_improvement(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    front, reference = rng.random((n, m)), np.full(m, 1.1)
    boxes = Boxes(front, reference)
    mean, std = rng.random((3, m)) * 1.2, rng.uniform(0.02, 0.4, (3, m))
    draws = mean[:, None, :] + std[:, None, :] * rng.standard_normal((3, 40_000, m))
    monte_carlo = np.array([_improvement(boxes, d).mean() for d in draws])
    standard_error = np.array([_improvement(boxes, d).std() for d in draws]) / math.sqrt(40_000)
    closed = expected_improvement(boxes, mean, std)
    # An improvement rarer than one draw in 40,000 can be missed by every draw: it weighs at most 1.1^m / 40,000.
    assert np.all(np.abs(closed - monte_carlo) <= 5 * standard_error + 1.1**m / 40_000)


def test_the_reference_point_lies_past_the_worst_observed_value() -> None:
    losses = np.array([[0.0, 3.0], [1.0, 1.0], [2.0, 0.0]])
    assert reference_point(losses, losses).tolist() == pytest.approx([2.2, 3.3])


def _objectives(m: int) -> Objectives:
    return Objectives(tuple(f"f{j}" for j in range(m)), (Direction.MINIMIZE,) * m)


def _sphere(params: dict[str, float], m: int) -> list[float]:
    """DTLZ2-like: the front is a sphere's octant, reached where the last variables are 0.5."""
    x = [params[f"x{i}"] for i in range(4)]
    g = sum((v - 0.5) ** 2 for v in x[m - 1 :])
    out, c = [], 1.0 + g
    angles = [v * math.pi / 2 for v in x[: m - 1]]
    for j in range(m):
        value = c
        for a in angles[: m - 1 - j]:
            value *= math.cos(a)
        if j:
            value *= math.sin(angles[m - 1 - j])
        out.append(value)
    return out


@pytest.mark.parametrize(
    ("m", "mode", "uses_ehvi"),
    [(2, "auto", True), (3, "auto", True), (4, "auto", False), (2, "parego", False), (4, "ehvi", True)],
)
def test_bayes_picks_ehvi_for_two_or_three_objectives_parego_beyond(m: int, mode: str, uses_ehvi: bool) -> None:
    sampler = BayesSampler(n_initial_points=5, multi_objective=mode)
    sampler.objectives = _objectives(m)
    sampler.setup(Space({f"x{i}": Float(0, 1) for i in range(4)}), direction="minimize", seed=1, n_trials=8)
    for number in range(8):
        params = sampler.ask(number)
        values = _sphere(params, m)
        sampler.tell(Trial(number=number, params=params, state=TrialState.COMPLETE, value=values[0], values=values))
    assert sampler._uses_ehvi() is uses_ehvi
    assert (sampler._weights is None) is uses_ehvi  # ParEGO draws scalarisation weights; EHVI does not
    assert len(sampler._objective_models) == (m if uses_ehvi else 0)
    assert sampler.n_model_asks == 3 and sampler.n_fallbacks == 0


@pytest.mark.parametrize("m", [2, 3])
def test_the_reference_lies_past_the_worst_seen_for_two_objectives_past_the_front_for_three(
    m: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One trial far behind the front on every objective: with two objectives the reference lies past it, with
    three it lies just past the front (the dominated trial does not stretch it). The Boxes the sampler builds are
    recorded (and built as they are)."""
    built: list[np.ndarray] = []

    def recording(front: np.ndarray, reference: np.ndarray) -> Boxes:
        built.append(np.asarray(reference))
        return Boxes(front, reference)

    monkeypatch.setattr(_ehvi, "Boxes", recording)
    sampler = BayesSampler(n_initial_points=6)
    sampler.objectives = _objectives(m)
    sampler.setup(Space({f"x{i}": Float(0, 1) for i in range(4)}), direction="minimize", seed=2, n_trials=12)
    for number in range(11):
        params = sampler.ask(number)
        values = _sphere(params, m) if number != 5 else [5.0] * m
        sampler.tell(Trial(number=number, params=params, state=TrialState.COMPLETE, value=values[0], values=values))
    sampler.ask(11)
    reference = built[-1]
    losses = np.array(list(sampler._vectors.values()))
    warped = np.column_stack([_gp.warp_losses(column) for column in losses.T])
    np.testing.assert_allclose(reference, reference_point(warped, warped))
    far = warped[np.argmax(losses[:, 0])]  # the dominated trial, warped
    assert np.all(reference > far) if m == 2 else np.all(reference < far)


def _sphere_study(strategy: str, seed: int, n_trials: int, constraints: tuple[str, ...] = ()) -> hpmagic.Study:
    """A two-objective sphere study through ``hpmagic.optimize`` (four variables in [0, 1])."""
    return hpmagic.optimize(
        lambda p: dict(zip(("f0", "f1"), _sphere(p, 2), strict=True)),
        {f"x{i}": tune.uniform(0, 1) for i in range(4)},
        strategy=strategy,
        n_trials=n_trials,
        seed=seed,
        directions={"f0": "minimize", "f1": "minimize"},
        constraints=constraints,
    )


def test_ehvi_finds_more_hypervolume_than_random_search() -> None:
    """A two-objective sphere front: after 25 trials bayes with EHVI covers more of it than random search, on
    every one of three seeds."""

    def run(strategy: str, seed: int) -> float:
        study = _sphere_study(strategy, seed, 25)
        return hypervolume([t.values for t in study.trials if t.values], [1.1, 1.1])

    for seed in range(3):
        assert run("bayes", seed) > run("random", seed) + 0.02


def test_ehvi_with_a_failed_trial_and_trials_still_running() -> None:
    """A failure counts as the worst of every objective, and running trials as what the models predict: the
    proposals stay distinct and the models see every finished trial."""
    sampler = BayesSampler(n_initial_points=4)
    sampler.objectives = _objectives(2)
    sampler.setup(Space({f"x{i}": Float(0, 1) for i in range(4)}), direction="minimize", seed=3, n_trials=12)
    for number in range(6):
        params = sampler.ask(number)
        if number == 4:
            sampler.tell(Trial(number=number, params=params, state=TrialState.FAILED, error="boom"))
            continue
        values = _sphere(params, 2)
        sampler.tell(Trial(number=number, params=params, state=TrialState.COMPLETE, value=values[0], values=values))
    running = [sampler.ask(number) for number in range(6, 9)]  # three asks before any of them is told
    assert len({tuple(p.values()) for p in running}) == 3
    assert sampler.n_model_asks == 2 + 3 and sampler.n_fallbacks == 0  # asks 4 and 5 came from the model too
    assert sampler._objective_models[0].gp.X_train_.shape[0] == 6 + 2  # six results, and the two running before


def test_ehvi_learns_a_constraint_and_keeps_its_front_feasible() -> None:
    """Two objectives and a constraint that cuts off most of the space: after the start, bayes (EHVI times the
    feasibility model's probability) proposes far fewer infeasible trials than random search, on each of 3 seeds."""

    def infeasible_after_start(strategy: str, seed: int) -> int:
        study = _sphere_study(strategy, seed, 24, constraints=("x2 + x3 <= 0.6",))  # 18% of random points hold
        assert all(t.feasible for t in study.best_trials) and study.best_trials
        return sum(not t.feasible for t in study.trials[10:])

    for seed in range(3):
        assert infeasible_after_start("bayes", seed) <= infeasible_after_start("random", seed) - 5

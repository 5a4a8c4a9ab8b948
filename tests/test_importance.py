"""Which hyperparameters mattered: fANOVA over a random forest, on functions whose important parameters are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
import hpmagic.plot
from hpmagic.errors import OptionError
from hpmagic.fanova import importance, main_effects
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState


def study_of(space: dict, fn, n: int, seed: int, *, fail=lambda p: False):
    """A study of ``n`` random trials of ``fn`` (failing where ``fail`` says), in memory."""
    space = Space(space)
    study = create_study(space=space, seed=seed)
    rng = np.random.default_rng(seed)
    for i in range(n):
        params = {name: space[name].sample(rng) for name in space}
        failed = fail(params)
        study.trials.append(
            Trial(
                number=i,
                params=params,
                state=TrialState.FAILED if failed else TrialState.COMPLETE,
                value=None if failed else float(fn(params)),
            )
        )
    return study


THREE = {"x0": Float(0.0, 1.0), "x1": Float(0.0, 1.0), "x2": Float(0.0, 1.0)}


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8, deadline=None)
def test_x0_dominates_x1_matters_a_little_x2_is_noise(seed: int) -> None:
    """f = 4 x0 + x1 (+ nothing of x2): x0 explains about 94% of the variance, x1 about 6%, x2 none."""
    study = study_of(THREE, lambda p: 4 * p["x0"] + p["x1"], 60, seed)
    shares = importance(study, seed=seed)
    assert list(shares) == ["x0", "x1", "x2"]
    assert shares["x0"] > 0.75 and shares["x2"] < 0.05
    assert math.isclose(sum(shares.values()), 1.0)


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8, deadline=None)
def test_log_scale_categorical_and_failed_trials(seed: int) -> None:
    """lr matters by orders of magnitude (log scale), the optimizer a little, the batch not at all; failed trials
    (about a third, all with large batches) are left out rather than counted as values."""
    space = {
        "lr": Float(1e-5, 1e-1, log=True),
        "opt": Categorical(["adam", "sgd", "rms"]),
        "batch": Int(8, 256, log=True),
    }

    def fn(p: dict) -> float:
        return (math.log10(p["lr"]) + 3) ** 2 + {"adam": 0.0, "sgd": 2.0, "rms": 1.0}[p["opt"]]

    study = study_of(space, fn, 100, seed, fail=lambda p: p["batch"] > 128)
    assert any(t.state is TrialState.FAILED for t in study.trials)
    shares = importance(study, seed=seed)
    assert list(shares) == ["lr", "opt", "batch"]


def test_a_conditional_parameter_counts_when_it_matters() -> None:
    """gamma exists only with kernel=rbf and decides the value there; degree exists only with poly and is noise."""
    rng = np.random.default_rng(0)
    study = create_study(
        space=Space({"kernel": Categorical(["rbf", "poly"]), "gamma": Float(0.0, 1.0), "degree": Int(1, 5)}),
        seed=0,
    )
    for i in range(80):
        kernel = ["rbf", "poly"][i % 2]
        params = {"kernel": kernel}
        if kernel == "rbf":
            params["gamma"] = float(rng.random())
            value = 3 * params["gamma"]
        else:
            params["degree"] = int(rng.integers(1, 6))
            value = 1.5
        study.trials.append(Trial(number=i, params=params, state=TrialState.COMPLETE, value=value))
    shares = importance(study)
    assert list(shares)[-1] == "degree"
    assert shares["gamma"] > 0.4


def test_too_few_complete_trials_is_a_clear_error() -> None:
    study = study_of(THREE, lambda p: p["x0"], 7, 0, fail=lambda p: p["x1"] > 0.3)
    n = sum(t.state is TrialState.COMPLETE for t in study.trials)
    assert n < 5
    with pytest.raises(OptionError, match=f"at least 5 complete trials, the study has {n}"):
        importance(study)


def test_main_effects_of_an_additive_tree_are_exact() -> None:
    """A tree that fits f = 2 [x0 > 0.5] + [x1 > 0.5] exactly: variances 1 and 1/4 of 5/4, no interaction."""
    from sklearn.tree import DecisionTreeRegressor

    grid = np.array([[a, b] for a in (0.25, 0.75) for b in (0.25, 0.75)])
    y = 2 * (grid[:, 0] > 0.5) + (grid[:, 1] > 0.5)
    tree = DecisionTreeRegressor().fit(grid, y)
    assert np.allclose(main_effects(tree.tree_, 2), [0.8, 0.2])


def test_optimize_study_and_plot() -> None:
    study = hpmagic.optimize(lambda p: 4 * p["x0"] + p["x1"], THREE, strategy="random", n_trials=30, seed=1)
    shares = hpmagic.importance(study)
    assert next(iter(shares)) == "x0"
    ax = hpmagic.plot.importance(study)
    assert [bar.get_width() for bar in ax.patches] == pytest.approx(list(reversed(shares.values())))
    assert [t.get_text() for t in ax.get_yticklabels()] == list(reversed(shares))
    assert "parameters that mattered most (fANOVA share): x0" in study.summary()


def test_ped_anova_ranks_a_dominant_parameter_first() -> None:
    """The measured alternative (benchmarks/importance.py) works on the easy case and refuses what fANOVA refuses."""
    from hpmagic.ped_anova import ped_anova

    study = study_of(THREE, lambda p: 10 * (p["x0"] - 0.3) ** 2 + (p["x1"] - 0.5) ** 2, 80, 0)
    shares = ped_anova(study)
    assert next(iter(shares)) == "x0" and math.isclose(sum(shares.values()), 1.0)
    with pytest.raises(OptionError, match="at least 5"):
        ped_anova(study_of(THREE, lambda p: p["x0"], 3, 0))

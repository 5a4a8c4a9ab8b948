"""``tune.*`` markers used from plain Python: space declarations, values in a trial, values outside a study."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import MarkerValueError, SpaceError, tune
from hpmagic.context import TrialContext
from hpmagic.space import Categorical, Dimension, Float, Int, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import create_study
from hpmagic.trial import TrialState


class Widget:
    """A non-JSON choice."""


@pytest.fixture(autouse=True)
def clean_tune() -> Iterator[None]:
    saved = tune.storage_path
    tune._forget()
    tune.storage_path = None
    yield
    tune._forget()
    tune.storage_path = saved


def use(**kw: Any) -> dict[str, Any]:
    return kw


# -- declaring a space -----------------------------------------------------------------------------------------------


def test_markers_in_a_dict_literal_declare_dimensions() -> None:
    space = {
        "x": tune.uniform(-1, 1),
        "lr": tune.loguniform(1e-3, 1.0),
        "n": tune.int(1, 64, log=True),
        "c": tune.choice(["a", Widget, None]),
    }
    assert all(isinstance(d, Dimension) for d in space.values())
    assert isinstance(space["x"], Float) and (space["x"].low, space["x"].high, space["x"].log) == (-1.0, 1.0, False)
    assert isinstance(space["lr"], Float) and space["lr"].log
    assert isinstance(space["n"], Int) and space["n"].log and (space["n"].low, space["n"].high) == (1, 64)
    assert isinstance(space["c"], Categorical) and space["c"].choices == ("a", Widget, None)
    assert list(Space(space)) == ["x", "lr", "n", "c"]
    positional = [tune.uniform(0, 1)]
    assert isinstance(positional[0], Float)


def test_bad_declarations_raise_space_error() -> None:
    with pytest.raises(SpaceError, match="low must be below high"):
        _ = {"x": tune.uniform(1, 0)}
    with pytest.raises(SpaceError, match="> 0"):
        _ = {"x": tune.loguniform(0, 1)}
    with pytest.raises(SpaceError, match="integers"):
        _ = {"x": tune.int(0.5, 3)}
    with pytest.raises(SpaceError, match="at least one"):
        _ = {"x": tune.choice([])}
    with pytest.raises(SpaceError, match="default"):
        _ = {"x": tune.uniform(0, 1, default=2)}


# -- inside a trial --------------------------------------------------------------------------------------------------


def test_markers_inside_a_trial_return_the_trials_values() -> None:
    seen: list[dict[str, Any]] = []

    def objective(ctx: TrialContext) -> float:
        x = tune.uniform(0, 1)
        c = tune.choice(["a", "b"])
        extra = tune.int(1, 3)  # not in the static space: created at run time
        kw = use(alpha=tune.loguniform(1e-3, 1.0))  # named after its keyword
        seen.append({"x": x, "c": c, "extra": extra, "alpha": kw["alpha"], "proposed": dict(ctx.proposed)})
        return x

    study = create_study(space=Space({"x": Float(0.0, 1.0), "c": Categorical(("a", "b"))}), seed=5)
    study.optimize(objective, get_strategy("random"), n_trials=6)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    for got, trial in zip(seen, study.trials, strict=True):
        assert got["x"] == got["proposed"]["x"] == trial.params["x"] == trial.value
        assert got["c"] == got["proposed"]["c"] == trial.params["c"]
        assert trial.params["extra"] == got["extra"] and got["extra"] in (1, 2, 3)
        assert trial.params["alpha"] == got["alpha"] and 1e-3 <= got["alpha"] <= 1.0
        assert set(trial.params) == {"x", "c", "extra", "alpha"}
    assert len({g["x"] for g in seen}) == 6  # values from the strategy, not a constant


def test_unnamed_or_repeated_markers_fail_the_trial() -> None:
    def unnamed(ctx: TrialContext) -> float:
        values = [tune.uniform(0, 1)]
        return values[0]

    def twice(ctx: TrialContext) -> float:
        a = tune.uniform(0, 1, name="same")
        b = tune.uniform(0, 1, name="same")
        return a + b

    study = create_study(space=Space({}), seed=0)
    study.optimize(unnamed, get_strategy("random"), n_trials=1)
    assert study.trials[0].state is TrialState.FAILED
    assert "needs a name" in (study.trials[0].error or "")
    study.optimize(twice, get_strategy("random"), n_trials=2)
    assert "defined twice" in (study.trials[1].error or "")


def test_report_inside_and_outside_a_trial() -> None:
    tune.report(0.5)  # outside a study: ignored, no error

    def objective(ctx: TrialContext) -> float:
        tune.report(0.9)
        tune.report(0.4, step=10)
        return 0.4

    study = create_study(space=Space({"x": Float(0.0, 1.0)}), seed=0)
    study.optimize(objective, get_strategy("random"), n_trials=1)
    assert study.trials[0].intermediate == [(0, 0.9), (10, 0.4)]


# -- outside a study -------------------------------------------------------------------------------------------------


def test_outside_a_study_markers_return_their_default() -> None:
    lr = tune.loguniform(1e-3, 1.0, default=0.01)
    n = tune.int(1, 5, default=3)
    c = tune.choice(["a", "b"], default="b")
    kw = use(alpha=tune.uniform(0, 1, default=0.25))
    assert (lr, n, c, kw["alpha"]) == (0.01, 3, "b", 0.25)


def test_outside_a_study_without_default_raises_marker_value_error() -> None:
    with pytest.raises(MarkerValueError, match="gamma") as info:
        gamma = tune.uniform(0, 1)
        del gamma
    assert "default" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_outside_a_study_markers_return_the_latest_best_value() -> None:
    study = hpmagic.optimize(
        lambda p: (p["alpha"] - 0.3) ** 2 + (0 if p["opt"] is Widget else 1),
        {"alpha": tune.uniform(0, 1), "opt": tune.choice([Widget, "plain"])},
        strategy="random",
        n_trials=15,
        seed=2,
    )
    tune._remember(study)
    assert tune.study is study and tune.best == study.best_params
    alpha = tune.uniform(0, 1)
    opt = tune.choice([Widget, "plain"])
    assert alpha == study.best_params["alpha"]
    assert opt is Widget  # the very object, in this process
    alpha = tune.uniform(0, 1, default=0.75)
    assert alpha == 0.75  # default= comes first
    tune._forget()
    assert tune.best == {}
    with pytest.raises(MarkerValueError):
        alpha = tune.uniform(0, 1)


def test_storage_path_gives_the_stored_best_value_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    study = hpmagic.optimize(
        lambda p: (p["delta"] - 1) ** 2,
        {"delta": tune.uniform(-5, 5), "kind": tune.choice(["rbf", "linear"]), "obj": tune.choice([Widget, 1])},
        strategy="random",
        n_trials=12,
        seed=0,
        storage=str(path),
        name="restart",
    )
    study.storage.close()
    tune._forget()  # a kernel restart: nothing in memory
    with pytest.raises(MarkerValueError):
        delta = tune.uniform(-5, 5)
    tune.storage_path = str(path)
    delta = tune.uniform(-5, 5)
    kind = tune.choice(["rbf", "linear"])
    assert delta == study.best_params["delta"]
    assert kind == study.best_params["kind"]
    if study.best_params["obj"] is Widget:
        with pytest.raises(MarkerValueError):  # an object only the cell can rebuild
            obj = tune.choice([Widget, 1])
    else:
        obj = tune.choice([Widget, 1])
        assert obj == 1
    with pytest.raises(MarkerValueError):  # the stored value is outside this marker's range: not used
        delta = tune.uniform(100, 200)
    with pytest.raises(MarkerValueError):
        unknown = tune.uniform(0, 1)
        del unknown


def test_storage_path_to_a_missing_or_broken_file(tmp_path: Path) -> None:
    tune.storage_path = str(tmp_path / "missing.db")
    with pytest.raises(MarkerValueError):
        delta = tune.uniform(0, 1)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 10)
    tune.storage_path = str(broken)
    with pytest.raises(MarkerValueError):
        delta = tune.uniform(0, 1)
        del delta
    assert broken.read_bytes() == b"not a database at all" * 10


def test_remembered_best_outside_the_markers_range_is_not_used() -> None:
    study = hpmagic.optimize(lambda p: p["wide"], {"wide": tune.uniform(5, 10)}, strategy="random", n_trials=3, seed=0)
    tune._remember(study)
    try:
        wide = tune.uniform(0, 1)
    except MarkerValueError:
        return
    assert 0 <= wide <= 1


# -- property: validation of every marker raises SpaceError or builds a valid dimension -------------------------------

_BOUNDS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**53, 2**53 + 1, 2**80, 1e308, -1e308, 5e-324]),
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-1e6, max_value=1e6).map(np.float64),
    st.integers(min_value=-100, max_value=100).map(np.int64),
    st.fractions(max_denominator=10),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)
_LOGS = st.sampled_from([True, False, None, 0, 1])


def _check_real(dim: Any, kind: type, low: Any, high: Any, default: Any) -> None:
    assert isinstance(dim, kind)
    assert math.isfinite(dim.low) and math.isfinite(dim.high) and dim.low < dim.high
    assert dim.low == float(low) and dim.high == float(high)
    if default is not None:
        assert float(dim.default) == float(default) and dim.contains(default) and dim.contains(dim.default)
    rng = np.random.default_rng(0)
    for _ in range(3):
        assert dim.contains(dim.sample(rng))


@settings(max_examples=300, deadline=None)
@given(low=_BOUNDS, high=_BOUNDS, default=_BOUNDS, log=st.booleans())
def test_property_uniform_and_loguniform(low: Any, high: Any, default: Any, log: bool) -> None:
    try:
        if log:
            dim = {"p": tune.loguniform(low, high, default=default)}["p"]
        else:
            dim = {"p": tune.uniform(low, high, default=default)}["p"]
    except SpaceError:
        return
    _check_real(dim, Float, low, high, default)
    assert dim.log is log and (not log or dim.low > 0)


@settings(max_examples=300, deadline=None)
@given(low=_BOUNDS, high=_BOUNDS, default=_BOUNDS, log=_LOGS)
def test_property_int(low: Any, high: Any, default: Any, log: Any) -> None:
    try:
        dim = {"p": tune.int(low, high, log=log, default=default)}["p"]
    except SpaceError:
        return
    _check_real(dim, Int, low, high, default)
    assert isinstance(dim.low, int) and isinstance(dim.high, int)


_CHOICE = st.one_of(
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.tuples(st.integers()),
    st.just(Widget),
    st.just(np.arange(3)),
)


@settings(max_examples=300, deadline=None)
@given(
    choices=st.one_of(
        st.lists(_CHOICE, max_size=5),
        st.tuples(_CHOICE, _CHOICE),
        st.text(max_size=3),
        st.none(),
        st.integers(),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        st.sets(st.integers(), max_size=3),
        st.just(range(4)),
        st.just(np.arange(4)),
    ),
    default=st.one_of(_CHOICE, st.none()),
    pick_default=st.booleans(),
)
def test_property_choice(choices: Any, default: Any, pick_default: bool) -> None:
    if pick_default and isinstance(choices, list) and choices:
        default = choices[0]
    try:
        dim = {"p": tune.choice(choices, default=default)}["p"]
    except SpaceError:
        return
    assert isinstance(dim, Categorical)
    assert isinstance(dim.choices, tuple) and len(dim.choices) >= 1
    assert len(dim.choices) == len(choices)
    if default is not None:
        assert dim.contains(default)
    value = dim.sample(np.random.default_rng(0))
    assert dim.contains(value)


def _check_extreme(make: Any) -> None:
    try:
        dim = make()
    except SpaceError:
        return
    assert math.isfinite(dim.low) and math.isfinite(dim.high) and dim.low < dim.high
    assert not dim.log or dim.low > 0
    assert dim.contains(dim.sample(np.random.default_rng(0)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: {"p": tune.uniform(0, 10**400)}["p"],
        lambda: {"p": tune.uniform(-(10**400), 0)}["p"],
        lambda: {"p": tune.uniform(-1e308, 1e308)}["p"],
        lambda: {"p": tune.int(0, 10**400)}["p"],
        lambda: {"p": tune.int(0, 2**80)}["p"],
        lambda: {"p": tune.uniform(0, 1, default=-(10**400))}["p"],
        lambda: {"p": tune.int(0, 5, default=10**400)}["p"],
    ],
    ids=["uniform-high", "uniform-low", "uniform-span", "int-huge", "int-2**80", "uniform-default", "int-default"],
)
def test_extreme_bounds_raise_space_error(make: Any) -> None:
    _check_extreme(make)


def test_tiny_positive_log_bound_raises_space_error() -> None:
    _check_extreme(lambda: {"p": tune.loguniform(Fraction(1, 10**400), 1)}["p"])


def test_zero_dim_array_choices_raise_space_error() -> None:
    with pytest.raises(SpaceError):
        _ = {"p": tune.choice(np.array(5))}


def test_a_choice_whose_default_is_none_returns_none_outside_a_study() -> None:
    """``default=None`` means "default None" for a choice (None is a legitimate choice), not "no default"."""
    from hpmagic.markers import Tune

    fresh = Tune()
    assert fresh.choice(["l2", None], default=None, name="penalty") is None
    with pytest.raises(hpmagic.MarkerValueError):
        fresh.choice(["hinge", "log"], name="loss")  # no default, no study: an error that says what to do
    dim = hpmagic.Categorical(("l2", None), default=None)
    assert dim.has_default and dim.default is None
    assert not hpmagic.Categorical(("l2", None)).has_default
    with pytest.raises(hpmagic.SpaceError, match="is not one of the choices"):
        hpmagic.Categorical(("l1", "l2"), default=None)

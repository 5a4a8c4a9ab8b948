"""Several objectives through ``hpmagic.optimize``: directions by position or by name, primary, bad results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.errors import OptionError
from hpmagic.objectives import Objectives, expression_shape, resolve_objectives
from hpmagic.pareto import dominates
from hpmagic.types import Direction

SPACE = {"x": tune.uniform(0, 1)}


def two(p):
    return p["x"] ** 2, (p["x"] - 1) ** 2


def test_tuple_objective_by_position():
    study = hpmagic.optimize(two, SPACE, strategy="random", n_trials=10, seed=0, directions=["minimize", "minimize"])
    assert study.objective_names == ["objective 0", "objective 1"]
    assert all(t.values == pytest.approx([t.params["x"] ** 2, (t.params["x"] - 1) ** 2]) for t in study.trials)
    # Every trial is on this problem's front (x in [0, 1] trades one objective for the other).
    assert len(study.best_trials) == 10
    with pytest.raises(ValueError, match="use study.best_trials"):
        _ = study.best_value


def test_dict_objective_by_name_with_a_primary(tmp_path):
    def fn(p):
        return {"accuracy": 1 - (p["x"] - 0.6) ** 2, "latency": 5 * p["x"]}

    study = hpmagic.optimize(
        fn,
        SPACE,
        strategy="random",
        n_trials=12,
        seed=1,
        storage=tmp_path / "s.db",
        name="api",
        directions={"accuracy": "maximize", "latency": "minimize"},
        primary="latency",
    )
    assert study.objective_names == ["accuracy", "latency"] and study.direction is Direction.MINIMIZE
    assert all(t.value == t.values[1] for t in study.trials)
    assert study.primary_best is min(study.trials, key=lambda t: t.values[1])
    front = study.best_trials
    losses = {t.number: np.array([-t.values[0], t.values[1]]) for t in study.trials}
    for t in study.trials:
        assert (t in front) is not any(dominates(losses[o.number], losses[t.number]) for o in study.trials)
    again = hpmagic.load_study("api", tmp_path / "s.db")
    assert [t.number for t in again.best_trials] == [t.number for t in front]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"directions": ["maximize", "sideways"]}, "direction must be 'minimize' or 'maximize'"),
        ({"directions": ["min", "max"], "primary": "speed"}, "the primary objective 'speed' is not one"),
        ({"directions": ["min", "max"], "primary": 2}, "the primary objective 2 is not one"),
        ({"primary": "x"}, "applies to several objectives"),
    ],
)
def test_bad_directions_are_option_errors_before_any_trial(tmp_path, kwargs, message):
    with pytest.raises(OptionError, match=message):
        hpmagic.optimize(two, SPACE, strategy="random", n_trials=3, storage=tmp_path / "s.db", **kwargs)
    assert hpmagic.Storage(tmp_path / "s.db").list_studies() == []


def test_a_tuple_without_directions_fails_with_a_hint():
    study = hpmagic.optimize(two, SPACE, strategy="random", n_trials=2, seed=0, max_failures=None)
    assert all(t.state is TrialState.FAILED for t in study.trials)
    assert "for 2 objectives declare their directions" in study.trials[0].error


def test_values_come_back_from_dask_workers():
    study = hpmagic.optimize(two, SPACE, strategy="random", n_trials=6, seed=2, directions=["min", "min"], n_jobs=2)
    assert len(study.trials) == 6
    for t in study.trials:
        assert t.state is TrialState.COMPLETE and t.values == pytest.approx(
            [t.params["x"] ** 2, (t.params["x"] - 1) ** 2]
        )


RAW = st.one_of(
    st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)),
    st.lists(st.floats(-10, 10), min_size=0, max_size=4).map(tuple),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.one_of(st.floats(-10, 10), st.text(max_size=3)), max_size=3),
    st.text(max_size=5),
    st.none(),
    st.floats(),
)


@settings(max_examples=300, deadline=None)
@given(RAW)
def test_reading_generated_results_never_raises_and_says_why_in_one_line(raw):
    for objectives in (
        Objectives(("a", "b"), (Direction.MINIMIZE, Direction.MAXIMIZE)),
        Objectives(("objective 0", "objective 1"), (Direction.MINIMIZE, Direction.MINIMIZE), primary=1),
    ):
        values, problem = objectives.read(raw)
        if values is None:
            assert problem and len(problem.splitlines()) == 1
        else:
            assert problem is None and len(values) == 2 and all(math.isfinite(v) for v in values)
            items = [raw[n] for n in objectives.names] if isinstance(raw, dict) else list(raw)
            assert values == pytest.approx([float(v) for v in items])


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 5),
    given_directions=st.lists(st.sampled_from(["max", "min", "maximize", "minimize"]), min_size=1, max_size=6),
)
def test_a_direction_list_must_match_a_tuple(n, given_directions):
    if len(given_directions) == n:
        objectives = resolve_objectives(n, directions=given_directions)
        assert len(objectives.names) == n and objectives.directions[0] in (Direction.MAXIMIZE, Direction.MINIMIZE)
    else:
        with pytest.raises(OptionError, match=f"{len(given_directions)} direction\\(s\\) given .* for {n} objective"):
            resolve_objectives(n, directions=given_directions)


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        ("a, b", 2),
        ("[a, b, c]", 3),
        ("{'acc': a, 'lat': b}", ("acc", "lat")),
        ("dict(acc=a, lat=b)", ("acc", "lat")),
        ("(a,)", None),
        ("(*xs, b)", None),
        ("{key: a, 'lat': b}", None),
        ("model.score(X, y)", None),
        ("scores", None),
    ],
)
def test_expression_shape(source, shape):
    import ast

    assert expression_shape(ast.parse(source, mode="eval")) == shape

"""Section "values survive the store": choices that are objects rebuilt by every trial, NumPy choices, names.

Generated cases: lists of choices of mixed kinds (estimator-like objects, objects with the default repr, NumPy
arrays and scalars, tuples, dicts, strings), rebuilt as a cell rebuilds them each trial, then matched, stored,
reloaded and searched.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.cell import build_objective
from hpmagic.errors import SpaceError
from hpmagic.run import build_run
from hpmagic.space import Categorical, Float, Int, Space, choice_key
from hpmagic.storage import Storage, decode_params, encode_params
from hpmagic.study import create_study


class Est:
    """An estimator-like object: compared by identity, shown by its parameters (as scikit-learn's are)."""

    def __init__(self, kind: str, alpha: float) -> None:
        self.kind, self.alpha = kind, alpha

    def __repr__(self) -> str:
        return f"Est({self.kind!r}, alpha={self.alpha!r})"


class Plain:
    """An object with the default repr (it shows its memory address)."""

    def __init__(self, n: int) -> None:
        self.n = n


def _choice() -> st.SearchStrategy[Any]:
    names = st.text(alphabet="abcxyz", min_size=1, max_size=4)
    return st.one_of(
        st.builds(Est, names, st.floats(0.001, 10, allow_nan=False)),
        st.builds(Plain, st.integers(0, 5)),
        st.lists(st.integers(-3, 3), min_size=1, max_size=4).map(np.array),
        st.floats(-1e6, 1e6, allow_nan=False).map(np.float64),
        st.integers(-(2**40), 2**40).map(np.int64),
        st.tuples(st.integers(0, 3), names),
        st.dictionaries(names, st.integers(0, 3), max_size=2),
        names,
        st.none(),
    )


def _distinct(choices: list[Any]) -> bool:
    keys = [choice_key(c) for c in choices]
    return len(set(keys)) == len(keys)


choice_lists = st.lists(_choice(), min_size=1, max_size=6).filter(_distinct)


@given(choice_lists)
def test_a_rebuilt_choice_is_found_at_its_position(choices: list[Any]) -> None:
    """Every choice of a list built again (new objects, equal content) is matched to its own position."""
    static = Categorical(choices)
    rebuilt = Categorical(copy.deepcopy(choices))
    assert static.same_shape(rebuilt)
    for i, c in enumerate(rebuilt.choices):
        assert static.index(c) == i
        assert rebuilt.index(static.choices[i]) == i


@given(choice_lists, st.data())
def test_stored_choices_come_back_as_the_new_cells_objects(choices: list[Any], data: st.DataObject) -> None:
    """Through JSON and a space built again (a resumed study), a stored choice is the same position's object."""
    space = Space({"c": Categorical(choices)})
    i = data.draw(st.integers(0, len(choices) - 1))
    stored = json.loads(json.dumps(encode_params({"c": choices[i]}, space)))
    again = Space({"c": Categorical(copy.deepcopy(choices))})
    decoded = decode_params(stored, again)["c"]
    assert decoded is again["c"].choices[i]


@given(choice_lists, st.data())
def test_reordered_choices_are_found_by_key(choices: list[Any], data: st.DataObject) -> None:
    """A cell whose choices were reordered since still maps each stored trial to its own choice."""
    space = Space({"c": Categorical(choices)})
    i = data.draw(st.integers(0, len(choices) - 1))
    stored = json.loads(json.dumps(encode_params({"c": choices[i]}, space)))
    order = data.draw(st.permutations(range(len(choices))))
    shuffled = [copy.deepcopy(choices[j]) for j in order]
    decoded = decode_params(stored, Space({"c": Categorical(shuffled)}))["c"]
    assert choice_key(decoded) == choice_key(choices[i])


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_objects=st.integers(1, 4),
    n_values=st.integers(1, 3),
    values=st.sampled_from(["np.logspace(-3, 0, {n})", "np.arange({n})", "np.linspace(0.5, 1, {n})"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_grid_over_rebuilt_objects_covers_every_combination_and_resumes(
    tmp_path_factory: pytest.TempPathFactory, n_objects: int, n_values: int, values: str, seed: int
) -> None:
    """A grid over objects the cell creates each trial and a NumPy choice tries every combination once, every
    run; a resumed study finds them all tried; the best value outside the study is the cell's own object."""
    path = tmp_path_factory.mktemp("grid") / "s.db"
    objects = ", ".join(f"Est('m{i}', {i + 1}.0)" for i in range(n_objects))
    source = f"model = tune.choice([{objects}])\nk = tune.choice({values.format(n=n_values)})\nmodel.alpha * float(k)"
    ns: dict[str, Any] = {"tune": tune, "Est": Est, "np": np}
    objective = build_objective(source, ns)
    run = build_run(space=objective.space, strategy="grid", storage=str(path), name="g", seed=seed)
    run.study.optimize(objective, run.search, n_trials=run.n_trials)
    seen = {(repr(t.params["model"]), float(t.params["k"])) for t in run.study.trials}
    assert len(run.study.trials) == n_objects * n_values == len(seen)
    run.study.storage.close()

    again = build_objective(source, dict(ns))
    resumed = create_study(space=again.space, name="g", storage=str(path), resume=True)
    assert len(resumed.trials) == n_objects * n_values
    for t in resumed.trials:  # decoded as this cell's own choice objects
        assert again.space["model"].choices.count(t.params["model"]) == 1
        assert again.space["k"].index(t.params["k"]) is not None
    resumed.storage.close()

    store = Storage.open_read_only(path)
    try:
        dim = Categorical([Est(f"m{i}", i + 1.0) for i in range(n_objects)])
        found, value = store.best_value_of("model", dim)
    finally:
        store.close()
    assert found and any(value is c for c in dim.choices)


@settings(max_examples=15)
@given(name=st.one_of(st.integers(), st.floats(), st.lists(st.integers()), st.just(""), st.just("  ")))
def test_a_name_that_is_not_a_string_is_a_clear_error(name: Any) -> None:
    for make in (
        lambda: Float(0, 1, name=name),
        lambda: Int(0, 3, name=name),
        lambda: Categorical(["a"], name=name),
        lambda: tune.uniform(0, 1, name=name),
    ):
        with pytest.raises(SpaceError, match="name= must be a non-empty string"):
            make()


literal_names = st.one_of(
    st.integers().map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.lists(st.integers(), max_size=3).map(repr),
    st.tuples(st.integers()).map(repr),
    st.complex_numbers(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["''", "'   '", "b'x'", "{'a': 1}", "...", "True", "{1, 2}"]),
)


@settings(max_examples=30)
@given(name=literal_names)
def test_a_cell_with_a_literal_non_string_name_is_a_clear_error(name: str) -> None:
    """A name written as a literal is checked when the cell is built, static marker or not."""
    for source in (
        f"x = tune.uniform(0, 1, name={name})\nx",
        f"for i in range(2):\n    tune.int(0, 3, name={name})\n0",
    ):
        with pytest.raises(SpaceError, match="name= must be a non-empty string"):
            build_objective(source, {"tune": tune})


@settings(max_examples=10)
@given(name=st.sampled_from(["int", "object()", "i", "[i]", "i * 1.5", "str(i) if i > 5 else i"]))
def test_a_computed_non_string_name_fails_its_trial_only(name: str) -> None:
    """A name computed while the cell runs fails that trial with the same message; the study goes on."""
    objective = build_objective(f"for i in range(1, 3):\n    tune.int(0, 3, name={name})\n0.5", {"tune": tune})
    run = build_run(space=objective.space, strategy="random", storage=None, name="n", seed=0, n_trials=2)
    run.study.optimize(objective, run.search, n_trials=2, max_failures=None)
    assert [t.state.value for t in run.study.trials] == ["failed", "failed"]
    assert all("name= must be a non-empty string" in (t.error or "") for t in run.study.trials)


@given(
    values=st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=2, max_size=6, unique=True),
    kind=st.sampled_from(["logspace", "arange", "array"]),
)
@settings(max_examples=15, deadline=None)
def test_numpy_choices_warm_start_bayes_on_resume(values: list[float], kind: str, tmp_path_factory: Any) -> None:
    """Choices from NumPy (np.logspace, np.arange, an array) come back from the store as the space's own values, so a
    resumed bayes study learns from every earlier trial."""
    import hpmagic
    from hpmagic import tune
    from hpmagic.samplers import BayesSampler

    if kind == "logspace":
        choices = np.logspace(-3, 0, len(values))
    elif kind == "arange":
        choices = np.arange(len(values)) * 0.5
    else:
        choices = np.array(values)
    path = str(tmp_path_factory.mktemp("np") / "hpmagic.db")
    space = {"c": tune.choice(choices), "x": tune.uniform(0, 1)}
    first = hpmagic.optimize(
        lambda p: float(p["c"]) + p["x"], space, strategy="random", n_trials=6, storage=path, name="np", seed=0
    )
    resumed = hpmagic.create_study(space=first.space, name="np", storage=path, resume=True)
    sampler = BayesSampler(n_initial_points=3)
    sampler.setup(resumed.space, direction="minimize", seed=0, history=resumed.trials)
    assert len(sampler._y) == 6  # every stored trial reached the model (before: none)
    again = hpmagic.optimize(
        lambda p: float(p["c"]) + p["x"],
        space,
        strategy="bayes",
        n_trials=8,
        storage=path,
        name="np",
        resume=True,
        strategy_options={"n_initial_points": 3},
    )
    assert len(again.trials) == 8 and all(t.state.value == "complete" for t in again.trials)


class BrokenRepr:
    """An object whose repr raises (a scikit-learn-style estimator missing one of its parameters' attributes)."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def __repr__(self) -> str:
        raise self.error("repr is broken")


@settings(max_examples=20, deadline=None)
@given(
    choices=st.lists(_choice(), max_size=4),
    at=st.integers(0, 4),
    error=st.sampled_from([RuntimeError, AttributeError, TypeError, ValueError]),
)
def test_a_choice_whose_repr_fails_is_a_clear_error_before_any_study(
    choices: list[Any], at: int, error: type[Exception], tmp_path_factory: Any
) -> None:
    """The store, resume and the displays name choices by their repr, so one that cannot be shown is refused when
    the marker is made, not half-way through writing the study."""
    path = tmp_path_factory.mktemp("repr") / "s.db"
    choices.insert(min(at, len(choices)), BrokenRepr(error))
    with pytest.raises(SpaceError, match=r"fails repr\(\).*__repr__") as info:
        hpmagic.optimize(lambda p: 0.0, {"c": tune.choice(choices)}, strategy="random", n_trials=1, storage=str(path))
    assert "\n" not in str(info.value)


numpy_choice_arrays = st.one_of(
    st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), min_size=1, max_size=4, unique=True),
    st.sampled_from([[True, False], [False], ["rbf", "linear", "poly"]]),
).map(np.array)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=numpy_choice_arrays)
def test_choices_from_a_numpy_array_of_strings_or_bools_match_their_plain_values(
    choices: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``tune.choice(np.array(["rbf", "linear"]))`` holds ``np.str_`` values, the store gives back ``str``: an
    enqueued ``"rbf"`` is accepted, and a resumed grid finds every point tried (none run twice)."""
    dim = Categorical(choices)
    for i, c in enumerate(choices):
        assert dim.index(c.item()) == i
    path = tmp_path_factory.mktemp("np") / "s.db"
    plain = choices[-1].item()

    def space() -> dict[str, Any]:
        return {"c": tune.choice(np.array(choices))}

    first = hpmagic.optimize(
        lambda p: 0.0, space(), strategy="grid", n_trials=None, storage=str(path), name="g", enqueue=[{"c": plain}]
    )
    assert first.trials[0].params["c"] == plain
    first.storage.close()
    again = hpmagic.optimize(
        lambda p: 0.0, space(), strategy="grid", n_trials=None, storage=str(path), name="g", resume=True
    )
    assert len(again.trials) == len(first.trials)
    again.storage.close()

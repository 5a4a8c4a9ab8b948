"""Search-space dimensions: validation, sampling, unit-cube encoding, grids; unit tests and properties.

The properties state the contract strategies rely on: a dimension that was built samples legal values, maps them to
[0, 1] and back, and bad input of any kind is a ``SpaceError`` (which the magic shows as one line), never another
exception.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hpmagic.errors import SpaceError
from hpmagic.space import Categorical, Dimension, Float, Int, Space

PROPERTY = settings(max_examples=150, deadline=None)

# -- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(1.0, 1.0), (2.0, 1.0), (0, 0), (-1e-9, -1e-9 - 1e-12)])
def test_float_low_must_be_below_high(low: float, high: float) -> None:
    with pytest.raises(SpaceError, match="low must be below high"):
        Float(low, high)


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-1.0, 1.0), (-5.0, -1.0)])
def test_log_float_bounds_must_be_positive(low: float, high: float) -> None:
    with pytest.raises(SpaceError, match="log-scale bound must be > 0"):
        Float(low, high, log=True)


@pytest.mark.parametrize(
    ("low", "high"),
    [("0", 1), (0, None), (True, 2), (0, 1j), (math.nan, 1.0), (0.0, math.inf), (-math.inf, 0.0), ([0], 1)],
)
def test_float_bounds_must_be_finite_real_numbers(low: Any, high: Any) -> None:
    with pytest.raises(SpaceError, match="bounds must be"):
        Float(low, high)


@pytest.mark.parametrize("default", [-0.1, 1.5, math.nan, math.inf, "0.5", True, [0.5]])
def test_float_default_must_be_in_range(default: Any) -> None:
    with pytest.raises(SpaceError, match="default="):
        Float(0.0, 1.0, default=default, name="lr")


@pytest.mark.parametrize(("low", "high"), [(0.5, 3), (0, 2.5), (0, "3"), (math.nan, 3), (0, math.inf), (False, 3)])
def test_int_bounds_must_be_integers(low: Any, high: Any) -> None:
    with pytest.raises(SpaceError, match="tune.int bounds must be integers"):
        Int(low, high)


@pytest.mark.parametrize(("low", "high"), [(3, 3), (4, 3)])
def test_int_low_must_be_below_high(low: int, high: int) -> None:
    with pytest.raises(SpaceError, match="low must be below high"):
        Int(low, high)


def test_int_log_needs_positive_bounds() -> None:
    with pytest.raises(SpaceError, match="> 0"):
        Int(0, 10, log=True)


@pytest.mark.parametrize("default", [-1, 11, 2.5, "3", True, math.nan])
def test_int_default_must_be_an_integer_in_range(default: Any) -> None:
    with pytest.raises(SpaceError, match="default="):
        Int(0, 10, default=default)


def test_integral_floats_are_accepted_as_int_bounds() -> None:
    dim = Int(1.0, 4.0)
    assert (dim.low, dim.high) == (1, 4)
    assert type(dim.low) is int and type(dim.high) is int


@pytest.mark.parametrize("choices", [[], (), np.array([]), range(0)])
def test_categorical_needs_a_choice(choices: Any) -> None:
    with pytest.raises(SpaceError, match="at least one choice"):
        Categorical(choices)


@pytest.mark.parametrize("choices", [5, "abc", b"ab", None, {1, 2}, {"a": 1}, iter([1, 2])])
def test_categorical_needs_a_list(choices: Any) -> None:
    with pytest.raises(SpaceError, match="takes a list of choices"):
        Categorical(choices)


def test_categorical_default_must_be_a_choice() -> None:
    with pytest.raises(SpaceError, match="not one of the choices"):
        Categorical(["a", "b"], default="c")
    with pytest.raises(SpaceError, match="not one of the choices"):
        Categorical([1, 2], default=1.0)  # compared by type and value: 1.0 is not the choice 1


def test_messages_name_the_parameter() -> None:
    with pytest.raises(SpaceError, match="^'depth': "):
        Int(5, 1, name="depth")
    with pytest.raises(SpaceError, match="^marker: "):
        Int(5, 1)


def test_space_rejects_duplicates_non_dimensions_and_unnamed_dimensions() -> None:
    with pytest.raises(SpaceError, match="defined twice"):
        Space([Float(0, 1, name="x"), Int(0, 3, name="x")])
    with pytest.raises(SpaceError, match="expected a tune"):
        Space({"x": 3})
    with pytest.raises(SpaceError, match="non-empty strings"):
        Space([Float(0, 1)])
    with pytest.raises(SpaceError, match="non-empty strings"):
        Space({"": Float(0, 1)})


def test_space_names_its_dimensions_and_keeps_order() -> None:
    space = Space({"b": Float(0, 1), "a": Int(0, 3), "c": Categorical(["x", "y"])})
    assert list(space) == ["b", "a", "c"]
    assert [d.name for d in space.values()] == ["b", "a", "c"]
    assert len(space) == 3
    assert repr(space) == "Space(b=uniform(0, 1), a=int(0, 3), c=choice(['x', 'y']))"


# -- grids and membership ------------------------------------------------------------------------------------------


def test_grids() -> None:
    assert Float(0, 1).grid(5) == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert Float(1e-3, 1, log=True).grid(4) == pytest.approx([1e-3, 1e-2, 1e-1, 1])
    assert Float(1e-2, 1, log=True).grid(1) == pytest.approx([0.1])
    assert Int(2, 5).grid(2) == [2, 3, 4, 5]
    assert Categorical([None, (1, 2)]).grid(7) == [None, (1, 2)]


def test_grid_size_is_the_product() -> None:
    space = Space({"x": Float(0, 1), "n": Int(1, 4), "c": Categorical(["a", "b", "c"])})
    assert space.grid_size(5) == 5 * 4 * 3
    assert Space({}).grid_size(5) == 1


def test_categorical_index_tells_apart_equal_values_of_other_types() -> None:
    dim = Categorical([1, True, 1.0, "1", None, (1,)])
    assert [dim.index(v) for v in (1, True, 1.0, "1", None, (1,))] == [0, 1, 2, 3, 4, 5]
    assert dim.index(2) is None and not dim.contains(2)


def test_categorical_with_unhashable_and_array_choices() -> None:
    arrays = [np.array([1, 2]), np.array([3, 4])]
    dim = Categorical([arrays[0], arrays[1], [5], {"a": 1}])
    assert dim.index(arrays[1]) == 1
    assert dim.index(np.array([1, 2])) == 0  # an equal array built again (a cell rebuilds its choices): by key
    assert dim.index(np.array([1, 5])) is None
    assert dim.index([5]) == 2 and dim.index({"a": 1}) == 3


def test_space_contains_checks_known_parameters_only() -> None:
    space = Space({"x": Float(0, 1), "k": Categorical(["a"])})
    assert space.contains({"x": 0.5, "k": "a", "extra": 99})
    assert space.contains({})
    assert not space.contains({"x": 2.0})
    assert not space.contains({"x": "0.5"})
    assert not space.contains({"k": "b"})


def test_same_shape_and_with_name() -> None:
    assert Float(0, 1, name="a").same_shape(Float(0, 1, default=0.5))
    assert not Float(0, 1).same_shape(Float(0, 2))
    assert not Float(1, 2).same_shape(Float(1, 2, log=True))
    assert not Int(0, 1).same_shape(Float(0, 1))
    assert Categorical(["a", "b"]).same_shape(Categorical(["a", "b"], default="b"))
    assert not Categorical(["a", "b"]).same_shape(Categorical(["b", "a"]))
    named = Int(1, 9, log=True, default=3).with_name("depth")
    assert (named.name, named.low, named.high, named.log, named.default) == ("depth", 1, 9, True, 3)


# -- properties of built dimensions --------------------------------------------------------------------------------

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
units = st.floats(min_value=0.0, max_value=1.0)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def floats_dims(draw: st.DrawFn) -> Float:
    if draw(st.booleans()):
        low = draw(st.floats(min_value=1e-12, max_value=1e9))
        high = low * draw(st.floats(min_value=1.0 + 1e-6, max_value=1e6))
        return Float(low, high, log=True)
    low = draw(finite)
    high = draw(finite)
    assume(high - low > 1e-9 * max(1.0, abs(low), abs(high)))
    return Float(low, high)


@st.composite
def int_dims(draw: st.DrawFn) -> Int:
    log = draw(st.booleans())
    low = draw(st.integers(min_value=1 if log else -(10**9), max_value=10**9))
    high = low + draw(st.integers(min_value=1, max_value=10**6))
    return Int(low, high, log=log)


hashable_objects = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.tuples(st.integers())
)


@st.composite
def categorical_dims(draw: st.DrawFn) -> Categorical:
    return Categorical(draw(st.lists(hashable_objects, min_size=1, max_size=8)))


any_dims = st.one_of(floats_dims(), int_dims(), categorical_dims())


@PROPERTY
@given(any_dims, seeds)
def test_samples_are_legal_values_of_the_right_type(dim: Dimension, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        value = dim.sample(rng)
        assert dim.contains(value)
        if isinstance(dim, Float):
            assert type(value) is float
        elif isinstance(dim, Int):
            assert type(value) is int
        else:
            assert any(value is c for c in dim.choices)


@PROPERTY
@given(any_dims, st.floats(min_value=-2.0, max_value=3.0))
def test_from_unit_always_gives_a_legal_value(dim: Dimension, u: float) -> None:
    assert dim.contains(dim.from_unit(u))


@PROPERTY
@given(floats_dims(), units)
def test_float_unit_round_trip(dim: Float, u: float) -> None:
    value = dim.from_unit(u)
    back = dim.to_unit(value)
    assert 0.0 <= back <= 1.0 + 1e-12
    assert dim.from_unit(back) == pytest.approx(value, rel=1e-9, abs=1e-9 * (dim.high - dim.low))


@PROPERTY
@given(int_dims(), st.data())
def test_int_unit_round_trip_is_exact(dim: Int, data: st.DataObject) -> None:
    value = data.draw(st.integers(min_value=dim.low, max_value=dim.high))
    u = dim.to_unit(value)
    assert 0.0 <= u <= 1.0
    assert dim.from_unit(u) == value


@PROPERTY
@given(categorical_dims(), st.data())
def test_categorical_unit_round_trip(dim: Categorical, data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(dim.choices) - 1))
    back = dim.from_unit(dim.to_unit(dim.choices[i]))
    assert dim.index(back) == dim.index(dim.choices[i])


@PROPERTY
@given(floats_dims(), seeds)
def test_log_floats_sample_uniformly_in_the_log_domain(dim: Float, seed: int) -> None:
    assume(dim.log and dim.high / dim.low > 100)
    rng = np.random.default_rng(seed)
    middle = math.sqrt(dim.low * dim.high)
    below = sum(dim.sample(rng) < middle for _ in range(400)) / 400
    assert 0.35 < below < 0.65


@PROPERTY
@given(any_dims, st.integers(min_value=1, max_value=12))
def test_grid_values_are_legal_and_distinct(dim: Dimension, points: int) -> None:
    assume(not isinstance(dim, Int) or dim.high - dim.low < 10_000)
    values = dim.grid(points)
    assert values and all(dim.contains(v) for v in values)
    if isinstance(dim, Float):
        assert len(values) == (points if points >= 2 else 1)
        if points >= 2:
            assert values[0] == pytest.approx(dim.low) and values[-1] == pytest.approx(dim.high)
        assert values == sorted(values) and len(set(values)) == len(values)
    elif isinstance(dim, Int):
        assert values == list(range(dim.low, dim.high + 1))


# -- properties of bad input ---------------------------------------------------------------------------------------

# Anything a user might type as a bound, default or choice list, huge integers included.
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.complex_numbers(),
    st.fractions(),
    st.decimals(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.floats()),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=3),
)


def _built_or_space_error(make: Any) -> Dimension | None:
    try:
        return make()
    except SpaceError:
        return None


@PROPERTY
@given(anything, anything, st.booleans(), st.one_of(st.none(), anything))
def test_float_accepts_or_raises_space_error(low: Any, high: Any, log: bool, default: Any) -> None:
    dim = _built_or_space_error(lambda: Float(low, high, log=log, default=default))
    if dim is not None:
        assert isinstance(dim, Float)
        assert type(dim.low) is float and type(dim.high) is float
        assert math.isfinite(dim.low) and math.isfinite(dim.high) and dim.low < dim.high
        assert not dim.log or dim.low > 0
        assert dim.default is None or dim.contains(dim.default)


@PROPERTY
@given(anything, anything, st.booleans(), st.one_of(st.none(), anything))
def test_int_accepts_or_raises_space_error(low: Any, high: Any, log: bool, default: Any) -> None:
    dim = _built_or_space_error(lambda: Int(low, high, log=log, default=default))
    if dim is not None:
        assert isinstance(dim, Int)
        assert type(dim.low) is int and type(dim.high) is int and dim.low < dim.high
        assert not dim.log or dim.low > 0
        assert dim.default is None or dim.contains(dim.default)


@PROPERTY
@given(st.one_of(anything, st.lists(anything, max_size=4)), st.one_of(st.none(), anything))
def test_categorical_accepts_or_raises_space_error(choices: Any, default: Any) -> None:
    dim = _built_or_space_error(lambda: Categorical(choices, default=default))
    if dim is not None:
        assert isinstance(dim.choices, tuple) and dim.choices
        assert dim.default is None or dim.contains(dim.default)


@PROPERTY
@given(st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.none()), st.one_of(anything, any_dims)))
def test_space_accepts_or_raises_space_error(dims: dict[Any, Any]) -> None:
    space = _built_or_space_error(lambda: Space(dims))
    if space is not None:
        assert all(isinstance(n, str) and n and space[n].name == n for n in space)


def test_fractions_and_numpy_numbers_are_real_bounds() -> None:
    dim = Float(Fraction(1, 4), np.float32(0.75))
    assert (dim.low, dim.high) == (0.25, 0.75) and type(dim.high) is float
    idim = Int(np.int64(1), np.int32(5))
    assert (idim.low, idim.high) == (1, 5) and type(idim.low) is int


# -- extreme inputs are refused as SpaceErrors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: Float(0, 10**400), lambda: Int(0, 10**400), lambda: Float(0, 1, default=10**400)],
    ids=["float-bound", "int-bound", "float-default"],
)
def test_huge_integers_are_space_errors(make: Any) -> None:
    with pytest.raises(SpaceError):
        make()


def test_int_beyond_int64_is_refused_or_sampled() -> None:
    try:
        dim = Int(0, 2**70)
    except SpaceError:
        return
    assert dim.contains(dim.sample(np.random.default_rng(0)))


def test_float_spanning_the_whole_double_range() -> None:
    try:
        dim = Float(-1e308, 1e308)
    except SpaceError:
        return
    assert dim.contains(dim.from_unit(0.0))
    assert len({dim.sample(np.random.default_rng(i)) for i in range(5)}) > 1


@pytest.mark.parametrize("dims", [[1], "ab", None, 5], ids=["list-of-int", "str", "none", "int"])
def test_space_of_non_dimensions_is_a_space_error(dims: Any) -> None:
    with pytest.raises(SpaceError):
        Space(dims)

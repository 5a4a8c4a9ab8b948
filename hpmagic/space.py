"""Search-space dimensions: what a ``tune.*`` marker declares.

A dimension validates its bounds once, samples values, maps values to and from the unit interval (for strategies
that work in a cube), lists grid points, and checks membership. Strategies only ever see these objects, never the
markers' syntax.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpmagic.errors import SpaceError

__all__ = ["Categorical", "Dimension", "Float", "Int", "Space", "choice_key"]


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


_MAX_INT = 2**53


def _finite(x: Any) -> bool:
    """``math.isfinite`` that says False, rather than raising, for integers too large for a float."""
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _label(name: str | None) -> str:
    return f"'{name}'" if name else "marker"


def _check_name(name: Any) -> None:
    """A parameter's name is a non-empty string: it keys the store's JSON and the strategies' tables."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        shown = repr(name) if isinstance(name, str) else f"a {type(name).__name__}"
        raise SpaceError(f"a marker's name= must be a non-empty string, got {shown}")


class Dimension:
    """Base of the three kinds of hyperparameter.

    Attributes:
        name: the parameter's name (from its variable, a keyword argument or ``name=``), or None while unnamed.
        default: the value used outside a study, or None (see ``has_default``: a choice's default may be None).
    """

    name: str | None
    default: Any

    kind: str = "dimension"

    @property
    def has_default(self) -> bool:
        """Whether a ``default=`` was given (a number's default is never None, so None means none was)."""
        return self.default is not None

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value uniformly (in the log domain for log dimensions)."""
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        """Map a value to [0, 1] (log domain for log dimensions, choice index for categoricals)."""
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        """Inverse of ``to_unit``; clips to the bounds."""
        raise NotImplementedError

    def grid(self, points: int) -> list[Any]:
        """Grid values: ``points`` values for floats (log-spaced when log), every integer, every choice."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """True if ``value`` is a legal value of this dimension."""
        raise NotImplementedError

    def with_name(self, name: str) -> Dimension:
        """A copy of this dimension carrying ``name``."""
        raise NotImplementedError

    def same_shape(self, other: Dimension) -> bool:
        """True if both declare the same values (names and defaults aside)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short human description, e.g. ``loguniform(0.001, 0.5)``."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Float(Dimension):
    """A real-valued hyperparameter in ``[low, high]``, uniform or log-uniform."""

    low: float
    high: float
    log: bool = False
    default: float | None = None
    name: str | None = None
    kind: str = field(default="float", init=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        what = _label(self.name)
        if not _is_real(self.low) or not _is_real(self.high):
            raise SpaceError(f"{what}: bounds must be real numbers, got low={self.low!r}, high={self.high!r}")
        if not (_finite(self.low) and _finite(self.high) and _finite(float(self.high) - float(self.low))):
            raise SpaceError(f"{what}: bounds must be finite numbers, got low={self.low!r}, high={self.high!r}")
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if self.low >= self.high:
            raise SpaceError(f"{what}: low must be below high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise SpaceError(f"{what}: a log-scale bound must be > 0, got low={self.low!r}")
        if self.default is not None and not self.contains(self.default):
            raise SpaceError(f"{what}: default={self.default!r} is outside [{self.low}, {self.high}]")
        if self.default is not None:
            object.__setattr__(self, "default", float(self.default))

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(float(rng.random()))

    def to_unit(self, value: Any) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (float(value) - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if u == 1.0:
            return self.high  # exact ends: low + (high - low) can round away from high
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return min(max(v, self.low), self.high)

    def grid(self, points: int) -> list[float]:
        if points < 2:
            return [self.from_unit(0.5)]
        return [self.from_unit(i / (points - 1)) for i in range(points)]

    def contains(self, value: Any) -> bool:
        return _is_real(value) and _finite(value) and self.low <= value <= self.high

    def with_name(self, name: str) -> Float:
        return Float(self.low, self.high, self.log, self.default, name)

    def same_shape(self, other: Dimension) -> bool:
        return isinstance(other, Float) and (other.low, other.high, other.log) == (
            self.low,
            self.high,
            self.log,
        )

    def describe(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low:g}, {self.high:g})"


@dataclass(frozen=True, eq=False)
class Int(Dimension):
    """An integer hyperparameter in ``[low, high]``, both bounds included, optionally log-spaced."""

    low: int
    high: int
    log: bool = False
    default: int | None = None
    name: str | None = None
    kind: str = field(default="int", init=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        what = _label(self.name)
        for bound in (self.low, self.high):
            if not _is_real(bound) or not _finite(bound) or not float(bound).is_integer():
                raise SpaceError(f"{what}: tune.int bounds must be integers, got low={self.low!r}, high={self.high!r}")
            if abs(int(bound)) > _MAX_INT:
                raise SpaceError(
                    f"{what}: tune.int bounds must lie within ±2**53, got low={self.low!r}, high={self.high!r}"
                )
        if self.low >= self.high:
            raise SpaceError(f"{what}: low must be below high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise SpaceError(f"{what}: a log-scale bound must be > 0, got low={self.low!r}")
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        if self.default is not None and not self.contains(self.default):
            raise SpaceError(f"{what}: default={self.default!r} is not an integer in [{self.low}, {self.high}]")
        if self.default is not None:
            object.__setattr__(self, "default", int(self.default))

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        return self.from_unit(float(rng.random()))

    def _edges(self) -> tuple[float, float]:
        # Each integer owns an equal slice of the (log) interval [low - 0.5, high + 0.5].
        if self.log:
            return math.log(self.low - 0.5 if self.low > 0.5 else self.low * 0.5), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def to_unit(self, value: Any) -> float:
        a, b = self._edges()
        x = math.log(value) if self.log else float(value)
        return min(max((x - a) / (b - a), 0.0), 1.0)

    def from_unit(self, u: float) -> int:
        a, b = self._edges()
        x = a + min(max(float(u), 0.0), 1.0) * (b - a)
        v = round(math.exp(x)) if self.log else round(x)
        return int(min(max(v, self.low), self.high))

    def grid(self, points: int) -> list[int]:
        # Grid search tries every integer value, as it does every choice; narrow the range to shrink the grid.
        return list(range(self.low, self.high + 1))

    def contains(self, value: Any) -> bool:
        return _is_real(value) and _finite(value) and float(value).is_integer() and self.low <= value <= self.high

    def with_name(self, name: str) -> Int:
        return Int(self.low, self.high, self.log, self.default, name)

    def same_shape(self, other: Dimension) -> bool:
        return isinstance(other, Int) and (other.low, other.high, other.log) == (
            self.low,
            self.high,
            self.log,
        )

    def describe(self) -> str:
        return f"int({self.low}, {self.high}{', log=True' if self.log else ''})"


_MISSING = object()

_ADDRESS = re.compile(r"\s+at 0x[0-9a-fA-F]+")


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, (bool, np.bool_))


def _same_number(a: Any, b: Any) -> bool:
    """Equal numbers (or NumPy scalars) of the same Python kind: ``np.float64(0.1)`` and ``0.1``, ``np.str_("rbf")``
    and ``"rbf"`` (what the store gives back), but not ``1`` and ``1.0``, which a choice list may hold as two
    different choices."""
    a, b = (x.item() if isinstance(x, np.generic) else x for x in (a, b))
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def choice_key(value: Any) -> str | None:
    """A key that names a choice the same way in every trial and every process: its type and its repr without
    memory addresses (``Ridge(alpha=2.0)``; ``<Foo object>`` for a default repr, then its attributes too), or None
    when its repr fails. Two choices with the same key are interchangeable for the search.
    """
    if isinstance(value, np.ndarray):
        # A long array's repr elides its middle: key it by its contents instead.
        try:
            digest = hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
        except Exception:  # noqa: BLE001 - object arrays: fall back to the repr
            digest = None
        if digest is not None:
            return f"numpy.ndarray:{value.dtype}:{value.shape}:{digest}"
    try:
        text = _ADDRESS.sub("", repr(value))
        if text != repr(value) and hasattr(value, "__dict__"):
            text += _ADDRESS.sub("", repr(sorted(vars(value).items())))
    except Exception:  # noqa: BLE001 - a repr that raises gives no key
        return None
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}:{text}"


class _NoDefault:
    """The value of ``default=`` when none was given: not None, so that None can be a choice's default."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


def _same_choice(choice: Any, value: Any) -> bool:
    """The same object, or an equal value of the same type (False for arrays and objects whose ``==`` raises)."""
    try:
        return choice is value or (type(choice) is type(value) and bool(choice == value))
    except Exception:  # noqa: BLE001 - arrays and odd objects: ``Categorical.index`` compares them by key
        return False


@dataclass(frozen=True, eq=False)
class Categorical(Dimension):
    """One of a fixed list of choices (any Python objects; compared by equality, stored by index)."""

    choices: tuple[Any, ...]
    default: Any = NO_DEFAULT
    name: str | None = None
    kind: str = field(default="categorical", init=False, repr=False)
    #: Whether ``default=`` was given: ``tune.choice([None, "l2"], default=None)`` means "default None".
    _has_default: bool = field(default=False, init=False, repr=False)

    @property
    def has_default(self) -> bool:
        return self._has_default

    def __post_init__(self) -> None:
        _check_name(self.name)
        what = _label(self.name)
        choices = self.choices
        if (
            isinstance(choices, (str, bytes))
            or not isinstance(choices, (Sequence, np.ndarray, range, tuple))
            or getattr(choices, "ndim", 1) == 0
        ):
            raise SpaceError(f"{what}: tune.choice takes a list of choices, got {choices!r}")
        choices = tuple(choices)
        if not choices:
            raise SpaceError(f"{what}: tune.choice needs at least one choice, got an empty list")
        for i, c in enumerate(choices):
            # The store, the resume bookkeeping and the displays name a choice by its repr.
            if choice_key(c) is None:
                raise SpaceError(
                    f"{what}: choice {i} (a {type(c).__name__}) fails repr(); give its class a __repr__ that works"
                )
        object.__setattr__(self, "choices", choices)
        # ``default`` keeps None for "no default" (what code reading ``default`` has always seen), and
        # ``has_default`` tells an explicit ``default=None`` apart.
        object.__setattr__(self, "_has_default", self.default is not NO_DEFAULT)
        if self.default is NO_DEFAULT:
            object.__setattr__(self, "default", None)
        if self._has_default and self.index(self.default) is None:
            raise SpaceError(f"{what}: default={self.default!r} is not one of the choices {list(choices)!r}")

    def index(self, value: Any) -> int | None:
        """Position of ``value`` among the choices, or None.

        A cell builds its choices again in every trial (``tune.choice([Ridge(), Lasso()])`` makes new objects each
        time), and values come back from the store as plain JSON (``np.float64(0.1)`` as ``0.1``), so a match is,
        in order: the same object; an equal value of the same type; an equal NumPy and Python number; the
        one choice with the same stable key (``choice_key``: type and repr, memory addresses left out).
        """
        for i, c in enumerate(self.choices):
            if _same_choice(c, value):
                return i
        for i, c in enumerate(self.choices):
            scalars = isinstance(c, np.generic) or isinstance(value, np.generic)
            if (scalars or (_is_number(c) and _is_number(value))) and _same_number(c, value):
                return i
        key = choice_key(value)
        if key is None:
            return None
        found = [i for i, c in enumerate(self.choices) if choice_key(c) == key]
        return found[0] if found else None

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def to_unit(self, value: Any) -> float:
        i = self.index(value)
        if i is None:
            raise SpaceError(f"{_label(self.name)}: {value!r} is not one of the choices")
        return (i + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        i = int(min(max(float(u), 0.0), 1.0) * len(self.choices))
        return self.choices[min(i, len(self.choices) - 1)]

    def grid(self, points: int) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return self.index(value) is not None

    def with_name(self, name: str) -> Categorical:
        return Categorical(self.choices, self.default if self._has_default else NO_DEFAULT, name)

    def same_shape(self, other: Dimension) -> bool:
        if not isinstance(other, Categorical) or len(other.choices) != len(self.choices):
            return False
        # Position by position first: a search over every choice for each one (``index``) is quadratic, and this
        # runs in every trial (10,000 choices took seconds per trial).
        pairs = enumerate(zip(self.choices, other.choices, strict=True))
        return all(_same_choice(mine, c) or self.index(c) == i for i, (mine, c) in pairs)

    def describe(self) -> str:
        shown = ", ".join(repr(c) for c in self.choices[:6])
        return f"choice([{shown}{', ...' if len(self.choices) > 6 else ''}])"


class Space(Mapping[str, Dimension]):
    """An ordered mapping of parameter names to dimensions: the static part of a study's search space.

    Built once before the first trial so strategies that need the whole space (grid, Bayesian) have it. Parameters
    created at run time (markers in loops) are not in it; strategies sample those on demand.
    """

    def __init__(
        self, dims: Mapping[str, Dimension] | Sequence[Dimension] = (), conditional: Iterable[str] = ()
    ) -> None:
        """``conditional`` names the parameters that only some configurations use (markers in a branch of the
        cell): a grid enumerates their values only for trials that use them."""
        self._dims: dict[str, Dimension] = {}
        if isinstance(dims, Mapping):
            items = list(dims.items())
        elif isinstance(dims, (list, tuple)) and all(isinstance(d, Dimension) for d in dims):
            items = [(d.name, d) for d in dims]
        else:
            raise SpaceError(f"a search space maps parameter names to tune.* markers, got {dims!r}")
        for name, dim in items:
            if not isinstance(dim, Dimension):
                raise SpaceError(
                    f"parameter {name!r}: expected a tune.* marker (tune.uniform, tune.loguniform, tune.int, "
                    f"tune.choice), got {dim!r}"
                )
            if not isinstance(name, str) or not name:
                raise SpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if name in self._dims:
                raise SpaceError(f"parameter {name!r} is defined twice; give each marker its own name")
            self._dims[name] = dim if dim.name == name else dim.with_name(name)
        self.conditional = frozenset(name for name in conditional if name in self._dims)

    def __getitem__(self, name: str) -> Dimension:
        return self._dims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={d.describe()}" for n, d in self._dims.items())
        return f"Space({inner})"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One random configuration of every dimension."""
        return {name: dim.sample(rng) for name, dim in self._dims.items()}

    def contains(self, params: Mapping[str, Any]) -> bool:
        """True if every parameter present in ``params`` and known here has a legal value."""
        return all(self._dims[k].contains(v) for k, v in params.items() if k in self._dims)

    def grid_size(self, points: int) -> int:
        """Number of combinations ``grid`` would produce (without building them)."""
        n = 1
        for dim in self._dims.values():
            if isinstance(dim, Int):
                n *= dim.high - dim.low + 1
            elif isinstance(dim, Categorical):
                n *= len(dim.choices)
            elif isinstance(dim, Float):
                n *= max(points, 1)
            else:
                n *= len(dim.grid(points))
        return n

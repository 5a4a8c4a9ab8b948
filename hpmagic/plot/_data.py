"""What each plot shows, computed from a study's trials with plain Python and NumPy.

Kept apart from the drawing (``_draw``) so the numbers can be tested without matplotlib, and so the live dashboard
can reuse them (``convergence_data``) for its own views. Nothing here imports matplotlib or scikit-optimize.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpmagic.space import Categorical, Dimension, Float, Int
from hpmagic.trial import Trial, TrialState

__all__ = [
    "MIN_MODEL_TRIALS",
    "AxisData",
    "ConvergenceData",
    "ImportanceData",
    "ModelData",
    "ParallelData",
    "ScatterData",
    "complete_trials",
    "convergence_data",
    "importance_data",
    "known_params",
    "model_data",
    "parallel_data",
    "scatter_data",
]

#: Complete trials a surrogate model needs before its partial dependence means anything.
MIN_MODEL_TRIALS = 5

_DIRECTIONS = ("minimize", "maximize")
_LABEL_CHARS = 24


# -- shared helpers --------------------------------------------------------------------------------------------------


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _finite_value(trial: Trial) -> bool:
    return _is_real(trial.value) and math.isfinite(trial.value)  # type: ignore[arg-type]


def complete_trials(trials: Sequence[Trial]) -> list[Trial]:
    """Trials that completed with a finite value, by number: the only ones whose value is the objective's."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and _finite_value(t)]
    return sorted(done, key=lambda t: t.number)


def _best(done: Sequence[Trial], direction: str) -> Trial | None:
    """The best feasible trial of ``done`` (sorted by number), the earliest on ties, as ``Study.best_trial`` picks
    it."""
    best: Trial | None = None
    for t in done:
        if not t.feasible:
            continue
        if best is None or (t.value > best.value if direction == "maximize" else t.value < best.value):  # type: ignore[operator]
            best = t
    return best


def known_params(trials: Sequence[Trial], space: Mapping[str, Dimension] | None) -> list[str]:
    """The static space's parameters, then those created at run time (markers in loops), in order of first use."""
    names = list(space or {})
    seen = set(names)
    for t in trials:
        for n in t.params:
            if n not in seen:
                seen.add(n)
                names.append(n)
    return names


def _unknown(kind: str, name: Any, known: Sequence[str]) -> ValueError:
    shown = ", ".join(repr(n) for n in known) or "none (no trial has parameters yet)"
    return ValueError(f"unknown {kind} {name!r}; the study's parameters are: {shown}")


def _short(value: Any) -> str:
    text = value.__name__ if isinstance(value, type) else str(value)
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _fmt(x: float, integer: bool = False) -> str:
    if integer:
        return str(int(round(x)))
    return f"{x:.4g}"


def _level_labels(levels: Sequence[Any]) -> tuple[str, ...]:
    """Short, distinct labels for categorical levels (two choices can print alike: prefix their position then)."""
    labels = [_short(v) for v in levels]
    if len(set(labels)) < len(labels):
        labels = [f"{i}: {lab}" for i, lab in enumerate(labels)]
    return tuple(labels)


class _Scale:
    """Places one parameter's values on a shared [0, 1] axis: numeric (linear or log) or categorical levels."""

    def __init__(
        self,
        kind: str,
        *,
        log: bool = False,
        low: float = 0.0,
        high: float = 1.0,
        levels: Sequence[Any] = (),
    ) -> None:
        self.kind = kind
        self.log = log
        self.low = low
        self.high = high
        self.levels = tuple(levels)
        self._cat = Categorical(self.levels) if self.levels else None

    @classmethod
    def for_param(cls, name: str, dim: Dimension | None, values: Sequence[Any]) -> _Scale:
        """From the space's dimension when there is one (its bounds), else from the values seen."""
        reals = [float(v) for v in values if _is_real(v) and math.isfinite(v)]
        if isinstance(dim, (Float, Int)):
            low = min([float(dim.low), *reals])
            high = max([float(dim.high), *reals])
            kind = "int" if isinstance(dim, Int) else "float"
            return cls(kind, log=bool(dim.log) and low > 0, low=low, high=high)
        if isinstance(dim, Categorical):
            return cls("categorical", levels=dim.choices)
        if values and len(reals) == len(values):  # a run-time parameter with numbers only
            kind = "int" if all(float(v).is_integer() for v in reals) else "float"
            return cls(kind, low=min(reals), high=max(reals))
        levels: list[Any] = []
        for v in values:
            if not levels or Categorical(tuple(levels)).index(v) is None:
                levels.append(v)
        return cls("categorical", levels=levels)

    def index(self, value: Any) -> int | None:
        return None if self._cat is None else self._cat.index(value)

    def position(self, value: Any) -> float:
        """The value's place in [0, 1], or NaN when it cannot be placed (absent, or not a level)."""
        if self.kind == "categorical":
            i = self.index(value)
            if i is None:
                return math.nan
            return i / (len(self.levels) - 1) if len(self.levels) > 1 else 0.5
        if not _is_real(value) or not math.isfinite(value) or (self.log and value <= 0):
            return math.nan
        if self.high <= self.low:
            return 0.5
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (float(value) - self.low) / (self.high - self.low)

    def ticks(self) -> tuple[tuple[float, ...], tuple[str, ...]]:
        """Tick positions and labels: every level, or a numeric axis's real values at its ends and middle."""
        if self.kind == "categorical":
            n = len(self.levels)
            return tuple(i / (n - 1) if n > 1 else 0.5 for i in range(n)), _level_labels(self.levels)
        integer = self.kind == "int"
        if self.high <= self.low:
            return (0.5,), (_fmt(self.low, integer),)
        if self.log:
            mid = math.sqrt(self.low * self.high)
        else:
            mid = (self.low + self.high) / 2
        if integer and not float(mid).is_integer():
            return (0.0, 1.0), (_fmt(self.low, True), _fmt(self.high, True))
        return (0.0, 0.5, 1.0), (_fmt(self.low, integer), _fmt(mid, integer), _fmt(self.high, integer))


# -- convergence -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConvergenceData:
    """The objective over time.

    Attributes:
        numbers: trial numbers of the complete trials, ascending.
        values: their objective values.
        best_so_far: the best value among the feasible complete trials up to each one (running min or max by
            direction); NaN before the first feasible one.
        n_failed: failed trials, which have no value to show.
        n_pruned: pruned trials, left out because their value is an intermediate one, not the objective's.
        feasible: per complete trial, whether it met every constraint (all True in a study without constraints).
    """

    numbers: np.ndarray
    values: np.ndarray
    best_so_far: np.ndarray
    n_failed: int
    n_pruned: int
    feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def convergence_data(trials: Sequence[Trial], direction: str) -> ConvergenceData:
    """Each complete trial's value and the best value so far, in trial order; failed and pruned ones counted."""
    _check_direction(direction)
    done = complete_trials(trials)
    n_failed = sum(1 for t in trials if t.state == TrialState.FAILED)
    n_pruned = sum(1 for t in trials if t.state == TrialState.PRUNED)
    nums = np.fromiter((t.number for t in done), dtype=np.int64, count=len(done))
    values = np.fromiter((float(t.value or 0.0) for t in done), dtype=np.float64, count=len(done))
    feasible = np.fromiter((t.feasible for t in done), dtype=bool, count=len(done))
    accumulate = np.maximum.accumulate if direction == "maximize" else np.minimum.accumulate
    # Only feasible trials count towards the best: an infeasible one stands in as the worst possible value.
    worst = -np.inf if direction == "maximize" else np.inf
    best = accumulate(np.where(feasible, values, worst)) if len(values) else values.copy()
    best[~np.isfinite(best)] = np.nan
    return ConvergenceData(nums, values, best, n_failed, n_pruned, feasible)


# -- parallel coordinates --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AxisData:
    """One vertical axis of a parallel-coordinates plot.

    Attributes:
        name: the parameter's name, or ``"objective"`` for the last axis.
        kind: ``"float"``, ``"int"``, ``"categorical"`` or ``"objective"``.
        log: positions are proportional to the logarithm of the value.
        ticks: positions in [0, 1] to label; ``labels`` the real values (or choices) shown there.
    """

    name: str
    kind: str
    log: bool
    ticks: tuple[float, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ParallelData:
    """One row per complete trial, ordered worst first so that drawing in order puts the best on top.

    Attributes:
        axes: the parameters' axes, then the objective's.
        coords: shape (trials, axes), positions in [0, 1]; NaN where a trial did not use a (conditional) parameter.
        values: objective values (for colour); ``numbers`` the trial numbers.
        feasible: per row, whether the trial met every constraint (all True in a study without constraints).
    """

    axes: tuple[AxisData, ...]
    coords: np.ndarray
    values: np.ndarray
    numbers: np.ndarray
    feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def _worst_first(done: Sequence[Trial], direction: str) -> list[Trial]:
    """Worst value first, best last; among equal values the earliest last (it is the study's best). Trials that
    violate a constraint come before every feasible one, so the best feasible trial is last."""
    sign = 1.0 if direction == "maximize" else -1.0
    return sorted(done, key=lambda t: (t.feasible, sign * t.value, -t.number))  # type: ignore[operator]


def parallel_data(
    trials: Sequence[Trial],
    space: Mapping[str, Dimension] | None,
    direction: str,
    params: Sequence[str] | None = None,
) -> ParallelData:
    """Every complete trial as positions on one [0, 1] axis per parameter plus the objective.

    Numeric axes span the space's bounds (widened to any value outside them) so plots of one study stay
    comparable as it runs; log dimensions are placed in log space; categoricals as evenly spaced levels.
    """
    _check_direction(direction)
    space = space or {}
    known = known_params(trials, space)
    if params is None:
        names = known
    else:
        if isinstance(params, str):
            params = [params]
        names = list(params)
        for n in names:
            if n not in known:
                raise _unknown("parameter", n, known)
        if len(set(names)) < len(names):
            raise ValueError(f"params names a parameter twice: {names!r}")
    done = _worst_first(complete_trials(trials), direction)
    axes: list[AxisData] = []
    coords = np.full((len(done), len(names) + 1), np.nan)
    for j, name in enumerate(names):
        scale = _Scale.for_param(name, space.get(name), [t.params[name] for t in done if name in t.params])
        ticks, labels = scale.ticks()
        axes.append(AxisData(name, scale.kind, scale.log, ticks, labels))
        for i, t in enumerate(done):
            if name in t.params:
                coords[i, j] = scale.position(t.params[name])
    values = np.array([t.value for t in done], dtype=np.float64)
    if len(values):
        objective = _Scale("float", low=float(values.min()), high=float(values.max()))
        coords[:, -1] = [objective.position(v) for v in values]
        ticks, labels = objective.ticks()
    else:
        ticks, labels = (), ()
    axes.append(AxisData("objective", "objective", False, ticks, labels))
    nums = np.array([t.number for t in done], dtype=np.int64)
    return ParallelData(tuple(axes), coords, values, nums, np.array([t.feasible for t in done], dtype=bool))


# -- one parameter against the objective -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ScatterData:
    """One parameter's values against the objective, over the complete trials that used it.

    Attributes:
        param: the parameter's name.
        kind: ``"float"``, ``"int"`` or ``"categorical"``; ``log`` when the dimension is searched on a log scale.
        x: the values, or for a categorical the position of each value among ``levels``.
        values: the objective values; ``numbers`` the trial numbers.
        levels: labels of a categorical's choices (empty for numbers).
        best: row of the study's best trial, or None when it did not use this parameter (or nothing completed).
        n_missing: complete trials that did not use the parameter (conditional ones).
        feasible: per row, whether the trial met every constraint (all True in a study without constraints).
    """

    param: str
    kind: str
    log: bool
    x: np.ndarray
    values: np.ndarray
    numbers: np.ndarray
    levels: tuple[str, ...]
    best: int | None
    n_missing: int
    feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def scatter_data(
    trials: Sequence[Trial], space: Mapping[str, Dimension] | None, param: str, direction: str
) -> ScatterData:
    """``param`` against the objective for every complete trial that used it; the best trial marked."""
    _check_direction(direction)
    space = space or {}
    known = known_params(trials, space)
    if param not in known:
        raise _unknown("parameter", param, known)
    done = complete_trials(trials)
    used = [t for t in done if param in t.params]
    scale = _Scale.for_param(param, space.get(param), [t.params[param] for t in used])
    if scale.kind == "categorical":
        idx = [scale.index(t.params[param]) for t in used]
        used = [t for t, i in zip(used, idx, strict=True) if i is not None]
        x = np.array([i for i in idx if i is not None], dtype=np.float64)
        levels = _level_labels(scale.levels)
    else:
        used = [t for t in used if _is_real(t.params[param]) and math.isfinite(t.params[param])]
        x = np.array([float(t.params[param]) for t in used], dtype=np.float64)
        levels = ()
    best_trial = _best(done, direction)
    best = next((i for i, t in enumerate(used) if t is best_trial), None)
    return ScatterData(
        param=param,
        kind=scale.kind,
        log=scale.log,
        x=x,
        values=np.array([t.value for t in used], dtype=np.float64),
        numbers=np.array([t.number for t in used], dtype=np.int64),
        levels=levels,
        best=best,
        n_missing=len(done) - len(used),
        feasible=np.array([t.feasible for t in used], dtype=bool),
    )


# -- surrogate model input -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ModelData:
    """Complete trials encoded for a scikit-optimize surrogate model (without importing scikit-optimize).

    Attributes:
        names: the modelled parameters: the static space's dimensions that can vary.
        dims: their dimensions.
        levels: for each categorical, the labels skopt uses as its categories (None for numbers).
        log10: for each parameter, whether it is modelled as the base-10 logarithm of its value (log dimensions:
            skopt's plots sample a log dimension's axis evenly in the value, which leaves its low decades empty).
        x: one point per trial: floats (log10 ones for log dimensions), ints, or a categorical's label.
        y: the losses skopt minimises: the objective's values, negated when the study maximises.
        numbers: the trials' numbers.
    """

    names: tuple[str, ...]
    dims: tuple[Dimension, ...]
    levels: tuple[tuple[str, ...] | None, ...]
    log10: tuple[bool, ...]
    x: list[list[Any]]
    y: list[float]
    numbers: list[int]


def _filler(dim: Dimension) -> Any:
    """Value for a conditional parameter a trial never reached: its default, else the middle, else choice 0."""
    if isinstance(dim, Categorical):
        return dim.default if dim.default is not None else dim.choices[0]
    value = dim.default if dim.default is not None else dim.from_unit(0.5)
    return int(value) if isinstance(dim, Int) else float(value)


def model_data(
    trials: Sequence[Trial],
    space: Mapping[str, Dimension] | None,
    direction: str,
    min_trials: int = MIN_MODEL_TRIALS,
) -> ModelData:
    """The complete trials as points over the static space, for a partial-dependence model.

    Parameters created at run time are not modelled (they are not in the space); a trial that skipped a
    conditional parameter takes a neutral filler for it; a trial with a value outside the space is left out.

    Raises:
        ValueError: the space has nothing to vary, or fewer than ``min_trials`` trials can be used.
    """
    _check_direction(direction)
    space = space or {}
    names = tuple(n for n, d in space.items() if not (isinstance(d, Categorical) and len(d.choices) == 1))
    if not names:
        raise ValueError(
            "partial dependence needs a search space with at least one parameter that varies; "
            f"this study's space is {dict(space) or 'empty'}"
        )
    dims = tuple(space[n] for n in names)
    levels = tuple(_level_labels(d.choices) if isinstance(d, Categorical) else None for d in dims)
    log10 = tuple(isinstance(d, (Float, Int)) and bool(d.log) for d in dims)
    sign = -1.0 if direction == "maximize" else 1.0
    xs: list[list[Any]] = []
    ys: list[float] = []
    nums: list[int] = []
    for t in complete_trials(trials):
        point: list[Any] = []
        for name, dim, labels, in_log in zip(names, dims, levels, log10, strict=True):
            if name in t.params:
                value = t.params[name]
                if not dim.contains(value):
                    break
            else:
                value = _filler(dim)
            if labels is not None:
                assert isinstance(dim, Categorical)  # only choices have labels
                point.append(labels[dim.index(value) or 0])
            elif in_log:
                point.append(math.log10(value))
            elif isinstance(dim, Int):
                point.append(int(value))
            else:
                point.append(float(value))
        else:
            xs.append(point)
            ys.append(sign * float(t.value))  # type: ignore[arg-type]
            nums.append(t.number)
    if len(xs) < min_trials:
        raise ValueError(
            f"partial dependence needs at least {min_trials} complete trials inside the search space to fit its "
            f"model; this study has {len(xs)}"
        )
    return ModelData(names, dims, levels, log10, xs, ys, nums)


# -- importance ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportanceData:
    """Each parameter's share of the objective's variance (fANOVA), largest first, over ``n_trials`` trials."""

    names: tuple[str, ...]
    shares: tuple[float, ...]
    n_trials: int


def importance_data(study: Any, n_trees: int = 64, seed: int = 0) -> ImportanceData:
    """The shares ``hpmagic.importance`` computes, as plot data (it raises the same OptionError on too few trials)."""
    from hpmagic.fanova import importance

    shares = importance(study, n_trees=n_trees, seed=seed)
    n = sum(1 for t in study.trials if t.state is TrialState.COMPLETE and _finite_value(t))
    return ImportanceData(tuple(shares), tuple(shares.values()), n)

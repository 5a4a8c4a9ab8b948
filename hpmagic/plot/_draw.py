"""The plots themselves: matplotlib drawing over the numbers ``_data`` computes.

Called without ``ax`` a plot makes a pyplot figure, so a notebook shows it like any matplotlib plot. Given an Axes
it draws only there: the live dashboard passes Axes on pyplot-free Figures, since pyplot's global state is not
thread-safe. matplotlib is imported inside the functions, so ``import hpmagic.plot`` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from hpmagic.plot._data import (
    MIN_MODEL_TRIALS,
    ModelData,
    convergence_data,
    importance_data,
    model_data,
    parallel_data,
    scatter_data,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hpmagic.space import Dimension
    from hpmagic.trial import Trial

__all__ = ["convergence", "importance", "parallel_coordinates", "param_scatter", "partial_dependence"]

_BEST_COLOR = "#d62728"
_TRIAL_COLOR = "#1f77b4"
_INFEASIBLE_COLOR = "#8c959f"  # grey, as the results table draws infeasible rows


class StudyLike(Protocol):
    """What the plots read from a study: a ``hpmagic.Study``, or any object with these attributes."""

    @property
    def trials(self) -> Sequence[Trial]: ...

    @property
    def direction(self) -> str: ...

    @property
    def space(self) -> Any: ...


def _new_axes(figsize: tuple[float, float]) -> Axes:
    """One Axes on a new pyplot figure, so that a notebook shows it like any matplotlib plot.

    The dashboard never comes here: it passes its own Axes on a pyplot-free Figure (safe off the main thread).
    """
    import matplotlib.pyplot as plt

    _fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _name(study: Any) -> str:
    name = getattr(study, "name", None)
    return f"{name}" if name else "study"


def _value_label(study: Any) -> str:
    """The y axis of value plots: a multi-objective study's values there are its primary objective's."""
    if getattr(study, "is_multi_objective", False):
        return f"{study.objective_names[study.primary_index]} (primary objective)"
    return "objective value"


def _empty(ax: Axes, message: str) -> Axes:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")
    return ax


def _not_shown(n_failed: int, n_pruned: int = 0, n_missing: int = 0, param: str = "") -> str:
    parts = []
    if n_failed:
        parts.append(f"{n_failed} failed")
    if n_pruned:
        parts.append(f"{n_pruned} pruned")
    if n_missing:
        parts.append(f"{n_missing} without {param}")
    return f"not shown: {', '.join(parts)}" if parts else ""


# -- convergence -----------------------------------------------------------------------------------------------------


def convergence(study: StudyLike, ax: Axes | None = None) -> Axes:
    """Each complete trial's value by trial number, and the best value so far as a step line.

    Failed and pruned trials have no objective value to show: they are counted in the legend instead. Cheap enough
    to redraw live (the dashboard clears and redraws one reused Axes): one scatter, one line, no layout search.

    Args:
        study: a Study, or any object with ``trials``, ``direction`` and ``space``.
        ax: the Axes to draw into; None makes a new Figure.

    In a study with constraints, trials that violate one are grey crosses (``ax.collections[1]``, labelled
    "infeasible") and the best-so-far line counts only the feasible ones (it starts at the first of them).

    Returns:
        The Axes: ``ax.collections[0]`` holds the (feasible) trials' points, ``ax.lines[0]`` the best-so-far line.
    """
    data = convergence_data(study.trials, study.direction)
    if ax is None:
        ax = _new_axes((6.4, 3.6))
    from matplotlib.ticker import MaxNLocator

    ax.set_title(f"{_name(study)} ({study.direction})")
    ax.set_xlabel("trial")
    ax.set_ylabel(_value_label(study))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    note = _not_shown(data.n_failed, data.n_pruned)
    if not len(data.numbers):
        return _empty(ax, "no complete trial yet" + (f"\n({note})" if note else ""))
    ok = data.feasible
    ax.scatter(data.numbers[ok], data.values[ok], s=14, color=_TRIAL_COLOR, alpha=0.6, linewidths=0, label="trial")
    ax.plot(data.numbers, data.best_so_far, color=_BEST_COLOR, lw=1.8, drawstyle="steps-post", label="best so far")
    if not ok.all():
        _infeasible(ax, data.numbers[~ok], data.values[~ok], 22)
    # A fixed corner: loc="best" would test every point for overlap on each redraw.
    corner: Literal["upper right", "lower right"] = "upper right" if study.direction == "minimize" else "lower right"
    ax.legend(loc=corner, fontsize="small", title=note or None, title_fontsize="small", framealpha=0.8)
    return ax


def _infeasible(ax: Axes, x: np.ndarray, y: np.ndarray, size: float) -> None:
    """Trials that violate a constraint: grey crosses, so they never read as candidates for the best."""
    ax.scatter(x, y, s=size, marker="x", color=_INFEASIBLE_COLOR, alpha=0.8, linewidths=1.0, label="infeasible")


# -- importance ------------------------------------------------------------------------------------------------------


def importance(study: StudyLike, ax: Axes | None = None) -> Axes:
    """Which hyperparameters mattered: each one's fANOVA share of the objective's variance, as horizontal bars.

    Needs scikit-learn and at least five complete trials (fewer: the Axes says so rather than raising, so the
    dashboard can always draw it).

    Returns:
        The Axes: ``ax.patches`` holds one bar per parameter, largest at the top.
    """
    from hpmagic.errors import OptionError

    if ax is None:
        ax = _new_axes((6.4, 0.6 + 0.35 * max(len(study.space), 2)))
    ax.set_title(f"{_name(study)}: which hyperparameters mattered")
    try:
        data = importance_data(study)
    except (OptionError, ImportError) as exc:
        return _empty(ax, str(exc))
    ax.barh(list(reversed(data.names)), list(reversed(data.shares)), color=_TRIAL_COLOR)
    for y, share in enumerate(reversed(data.shares)):
        ax.text(share, y, f" {share:.0%}", va="center", fontsize="small")
    ax.set_xlim(0, max(1.0, max(data.shares, default=0) * 1.15))
    ax.set_xlabel(f"share of the objective's variance (fANOVA over {data.n_trials} complete trials)")
    return ax


# -- parallel coordinates --------------------------------------------------------------------------------------------


def parallel_coordinates(study: StudyLike, params: Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """One vertical axis per parameter and one for the objective; one line per complete trial.

    Lines are coloured by objective value, darkest for the best, and the best are drawn on top; the best trial is
    also drawn thick in red. Numeric axes span the search space (log dimensions in log space) and are labelled
    with real values; categorical axes list their choices. A trial that did not use a conditional parameter has
    a gap at that axis, bridged by a dashed line. In a study with constraints, trials that violate one are grey,
    drawn under the others, and the red line is the best feasible trial.

    Args:
        study: a Study, or any object with ``trials``, ``direction`` and ``space``.
        params: the parameters to show, in order (default: all of them).
        ax: the Axes to draw into; None makes a new Figure.

    Returns:
        The Axes: the collection with gid ``"trials"`` holds one path per complete trial, worst first (NaN where a
        parameter is missing); the one with gid ``"gaps"`` the dashed bridges.
    """
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize, to_rgba

    data = parallel_data(study.trials, study.space, study.direction, params)
    n_axes = len(data.axes)
    if ax is None:
        ax = _new_axes((max(6.4, 1.5 * n_axes + 1.0), 4.2))
    xs = np.arange(n_axes, dtype=np.float64)
    ax.set_xlim(-0.15, n_axes - 1 + 0.6)
    ax.set_ylim(-0.06, 1.06)
    ax.set_yticks([])
    ax.set_xticks(xs, [a.name for a in data.axes])
    for spine in ax.spines.values():
        spine.set_visible(False)
    axis_lines = ax.vlines(xs, 0.0, 1.0, colors="0.25", linewidths=1.0, zorder=3)
    axis_lines.set_gid("axes")
    if len(data.values):
        cmap = colormaps["viridis_r" if study.direction == "maximize" else "viridis"]
        norm = Normalize(float(data.values.min()), float(data.values.max()))
        colors = cmap(norm(data.values))
        colors[~data.feasible] = to_rgba(_INFEASIBLE_COLOR)
        # NaN vertices break a path: a trial without a conditional parameter has a gap at that axis, bridged by a
        # dashed line (so its objective stays visible, and the crossing does not read as a value).
        segments = [np.column_stack([xs, row]) for row in data.coords]
        lines = LineCollection(segments, colors=colors, linewidths=1.1, alpha=0.75, zorder=2)
        lines.set_gid("trials")
        ax.add_collection(lines, autolim=False)
        rows, spans = _bridges(data.coords)
        if spans:
            c = data.coords
            dashed = [np.array([[a, c[r, a]], [b, c[r, b]]]) for r, (a, b) in zip(rows, spans, strict=True)]
            gaps = LineCollection(dashed, colors=colors[rows], linewidths=0.9, alpha=0.5, linestyles="--", zorder=2)
            gaps.set_gid("gaps")
            ax.add_collection(gaps, autolim=False)
        title = f"{_name(study)} ({study.direction}): {len(data.values)} trials"
        if data.feasible[-1]:  # the last row is the best feasible trial (none, when no trial met the constraints)
            best = data.coords[-1]
            ax.plot(xs, best, color=_BEST_COLOR, lw=2.4, zorder=2.5, label=f"best: trial {data.numbers[-1]}")
            for r, (a, b) in zip(rows, spans, strict=True):
                if r == len(data.coords) - 1:
                    ax.plot([a, b], [best[a], best[b]], color=_BEST_COLOR, lw=1.6, ls="--", zorder=2.5)
            title += f", best (red): trial {data.numbers[-1]}"
        if not data.feasible.all():
            title += f", {int((~data.feasible).sum())} infeasible (grey)"
    else:
        title = f"{_name(study)} ({study.direction})"
        _empty(ax, "no complete trial yet")
    ax.set_title(title)
    for x, axis in zip(xs, data.axes, strict=True):
        for pos, label in zip(axis.ticks, axis.labels, strict=True):
            ax.text(
                x + 0.04,
                pos,
                label,
                fontsize="x-small",
                va="center",
                ha="left",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            )
        ax.plot([x - 0.03] * len(axis.ticks), axis.ticks, "_", color="0.25", ms=6, zorder=3)
    return ax


def _bridges(coords: np.ndarray) -> tuple[list[int], list[tuple[int, int]]]:
    """Row and (from, to) axis indices of each run of missing values between two present ones."""
    rows: list[int] = []
    spans: list[tuple[int, int]] = []
    for r, row in enumerate(coords):
        present = np.flatnonzero(~np.isnan(row))
        for a, b in zip(present[:-1], present[1:], strict=True):
            if b > a + 1:
                rows.append(r)
                spans.append((int(a), int(b)))
    return rows, spans


# -- one parameter against the objective -----------------------------------------------------------------------------


def param_scatter(study: StudyLike, param: str, ax: Axes | None = None) -> Axes:
    """One parameter's value against the objective for each complete trial, the best trial as a red star.

    Log dimensions get a log x-axis; a categorical's choices are spread a little sideways (with a fixed seed, so
    redraws do not jump) so that equal values do not hide each other.

    Args:
        study: a Study, or any object with ``trials``, ``direction`` and ``space``.
        param: the parameter's name.
        ax: the Axes to draw into; None makes a new Figure.

    In a study with constraints, trials that violate one are grey crosses (the last collection, labelled
    "infeasible"); the star is the best feasible trial.

    Returns:
        The Axes: ``ax.collections[0]`` holds the (feasible) trials' points, ``ax.collections[1]`` the best one.

    Raises:
        ValueError: ``param`` is not a parameter of the study (the message lists those that are).
    """
    from matplotlib.ticker import MaxNLocator

    data = scatter_data(study.trials, study.space, param, study.direction)
    if ax is None:
        ax = _new_axes((5.6, 3.8))
    ax.set_title(f"{_name(study)}: {param} ({study.direction})")
    ax.set_xlabel(param)
    ax.set_ylabel(_value_label(study))
    note = _not_shown(0, n_missing=data.n_missing, param=param)
    x = data.x
    if data.kind == "categorical":
        x = x + np.random.default_rng(0).uniform(-0.15, 0.15, size=len(x))
        ax.set_xticks(np.arange(len(data.levels)), data.levels)
        ax.set_xlim(-0.5, len(data.levels) - 0.5)
    elif data.log:
        ax.set_xscale("log")
    elif data.kind == "int":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not len(x):
        return _empty(ax, f"no complete trial with {param} yet" + (f"\n({note})" if note else ""))
    ok = data.feasible
    ax.scatter(x[ok], data.values[ok], s=18, color=_TRIAL_COLOR, alpha=0.65, linewidths=0, label="trial")
    if data.best is not None:
        ax.scatter(
            [x[data.best]],
            [data.values[data.best]],
            s=180,
            marker="*",
            color=_BEST_COLOR,
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
            label=f"best: trial {data.numbers[data.best]}",
        )
    if not ok.all():
        _infeasible(ax, x[~ok], data.values[~ok], 26)
    ax.legend(loc="best", fontsize="small", title=note or None, title_fontsize="small", framealpha=0.8)
    return ax


# -- partial dependence (a surrogate model's view) -------------------------------------------------------------------


def _skopt_dimension(name: str, dim: Dimension, levels: tuple[str, ...] | None, log10: bool) -> Any:
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer, Real

    from hpmagic.space import Float, Int

    if levels is not None:
        # Choices may be any objects; skopt sees their labels (distinct strings), which also label its axes.
        return SkCategorical(list(levels), name=name)
    if log10:
        return Real(math.log10(dim.low), math.log10(dim.high), name=name)  # type: ignore[attr-defined]
    if isinstance(dim, Float):
        return Real(dim.low, dim.high, name=name)
    if isinstance(dim, Int):
        return Integer(dim.low, dim.high, name=name)
    raise TypeError(f"parameter {name!r}: unsupported dimension {dim!r}")


def _label_log_axes(axes: np.ndarray, log10: Sequence[bool]) -> None:
    """Label the log10-modelled axes with the values (10^-3, 10^-2, ...) rather than their bare exponents."""
    from matplotlib.ticker import FixedFormatter, FuncFormatter, MaxNLocator

    def fmt(v: float, _pos: Any) -> str:
        if abs(v - round(v)) < 1e-9:
            return f"$10^{{{round(v)}}}$"  # as matplotlib labels a log axis: short, so neighbours do not collide
        return f"{10**v:.2g}"

    n = axes.shape[0]
    for i in range(n):
        for j in range(i + 1):
            for axis, k in ((axes[i, j].xaxis, j), (axes[i, j].yaxis, i if i > j else -1)):
                if k < 0 or not log10[k]:
                    continue
                lo, hi = axis.get_view_interval()
                axis.set_major_locator(MaxNLocator(5, integer=abs(hi - lo) >= 2))
                if not isinstance(axis.get_major_formatter(), FixedFormatter):  # skopt hid these labels
                    axis.set_major_formatter(FuncFormatter(fmt))


class _Objective:
    """The fitted GP seen in the objective's own sign: skopt minimises, so a maximised study's losses are negated."""

    def __init__(self, model: Any, sign: float) -> None:
        self.model = model
        self.sign = sign

    def predict(self, x: Any, **kwargs: Any) -> Any:
        return self.sign * self.model.predict(x, **kwargs)


def _fit(data: ModelData, direction: str) -> Any:
    """A scikit-optimize OptimizeResult whose last model is a GP fitted to every point."""
    from skopt import Optimizer

    dims = [
        _skopt_dimension(n, d, lv, lg)
        for n, d, lv, lg in zip(data.names, data.dims, data.levels, data.log10, strict=True)
    ]
    opt = Optimizer(
        dims,
        base_estimator="GP",  # not "GBRT": broken with scikit-learn >= 1.6
        n_initial_points=1,  # fit on the first tell: every point is already known
        acq_func="EI",
        acq_optimizer="sampling",  # tell() also proposes a next point, which a plot never uses: keep it cheap
        acq_optimizer_kwargs={"n_points": 100},
        random_state=0,
    )
    opt.tell(data.x, data.y)
    result = opt.get_result()
    if direction == "maximize":
        result.models[-1] = _Objective(result.models[-1], -1.0)
    return result


def partial_dependence(
    study: StudyLike,
    fig: Figure | None = None,
    *,
    n_points: int = 40,
    n_samples: int = 250,
) -> np.ndarray:
    """Partial dependence of the objective on each parameter and pair, from a GP fitted to the complete trials.

    This is scikit-optimize's ``plot_objective`` over the study: the diagonal shows the objective's modelled
    mean as one parameter varies (others averaged out), below it each pair as contours; black dots are the
    trials, the red line and star the best one. Values are in the objective's own sign (maximised studies too).
    It is a model's estimate: with few trials, read it as a hint of where to look, not a measurement.

    Only the study's static space is modelled; a trial that skipped a conditional parameter takes its default
    (or middle) value.

    Args:
        study: a Study, or any object with ``trials``, ``direction`` and ``space``.
        fig: the Figure to draw into (on a new subplot filling it); None makes a new one.
        n_points: points per parameter at which the dependence is evaluated (fewer: faster, coarser).
        n_samples: random points averaged over for each of them.

    Returns:
        The square array of Axes (parameters by parameters; those above the diagonal are switched off).

    Raises:
        ValueError: fewer than 5 complete trials, or nothing in the space to vary.
    """
    data = model_data(study.trials, study.space, study.direction, MIN_MODEL_TRIALS)
    from hpmagic.samplers._bayes import quiet_single_threaded  # the sampler's guard: quiet, BLAS on one thread

    with quiet_single_threaded():
        result = _fit(data, study.direction)
        from skopt.plots import plot_objective  # imports pyplot, but with ``ax`` given it never uses it

        n = len(data.names)
        if fig is None:
            import matplotlib.pyplot as plt

            side = max(3.0, 2.2 * n)
            fig = plt.figure(figsize=(side, side))
        host = fig.add_subplot()
        before = len(fig.axes)
        # scikit-optimize averages over points drawn from NumPy's global generator: seed it for this call only, so
        # the same study always draws the same plot.
        saved = np.random.get_state()
        np.random.seed(0)
        try:
            plot_objective(
                result,
                n_points=n_points,
                n_samples=n_samples,
                cmap="viridis" if study.direction == "maximize" else "viridis_r",  # the best region light, both ways
                ax=host,
            )
        finally:
            np.random.set_state(saved)
    axes = np.array(fig.axes[before:], dtype=object).reshape(n, n)
    _label_log_axes(axes, data.log10)
    fig.suptitle(f"{_name(study)}: partial dependence ({study.direction}, GP on {len(data.y)} trials)")
    return axes

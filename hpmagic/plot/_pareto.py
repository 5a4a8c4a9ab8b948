"""The Pareto front of a multi-objective study: two objectives against each other, the front as a step line.

The numbers come from ``pareto_data`` (no matplotlib), the drawing from ``pareto_front``. The front is the
non-dominated set, within the chosen pair of objectives, of the complete feasible trials: in a 3-objective study a
trial on the study's front can lie behind this pair's front, which is what the pair's plot should show. Trials that
violate a constraint are drawn apart (grey crosses) and never make the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpmagic.plot._draw import _empty, _name, _new_axes
from hpmagic.trial import TrialState

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ParetoData", "pareto_data", "pareto_front"]

_FRONT_COLOR = "#d62728"
_TRIAL_COLOR = "#1f77b4"
_INFEASIBLE_COLOR = "0.55"


@dataclass(frozen=True)
class ParetoData:
    """What ``pareto_front`` draws: each complete trial's two objective values, its feasibility, whether it is on
    the pair's front, and the front's step line (its corners included), in the objectives' own units.

    ``numbers``, ``x``, ``y``, ``feasible`` and ``on_front`` are parallel, in trial order.
    """

    names: tuple[str, str]
    directions: tuple[str, str]
    numbers: tuple[int, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    feasible: tuple[bool, ...]
    on_front: tuple[bool, ...]
    step_x: tuple[float, ...]
    step_y: tuple[float, ...]

    @property
    def front_numbers(self) -> tuple[int, ...]:
        """The front's trials, along the x axis."""
        front = [(x, n) for x, n, on in zip(self.x, self.numbers, self.on_front, strict=True) if on]
        return tuple(n for _x, n in sorted(front))


def objective_pair(study: Any, objectives: Sequence[str] | None = None) -> tuple[int, int]:
    """The positions of the two objectives to plot: ``objectives`` by name, or the first two.

    Raises:
        ValueError: a single-objective study, or names that are not two distinct objectives of the study.
    """
    names = list(getattr(study, "objective_names", None) or ["value"])
    if len(names) < 2:
        raise ValueError("a Pareto front needs a study with two or more objectives; this one has one")
    if objectives is None:
        return 0, 1
    if isinstance(objectives, str) or len(objectives) != 2:
        raise ValueError(f"objectives must be a pair of the study's objective names {names!r}, got {objectives!r}")
    unknown = [o for o in objectives if o not in names]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; the study's objectives are: {names!r}")
    if objectives[0] == objectives[1]:
        raise ValueError(f"objectives must be two different names of {names!r}, got {objectives!r}")
    return names.index(objectives[0]), names.index(objectives[1])


def pareto_data(study: Any, objectives: Sequence[str] | None = None) -> ParetoData:
    """The numbers behind ``pareto_front`` (see ``ParetoData``)."""
    from hpmagic.pareto import pareto_mask
    from hpmagic.types import Direction

    i, j = objective_pair(study, objectives)
    names = list(study.objective_names)
    directions = [str(d) for d in study.directions]
    trials = sorted(
        (
            t
            for t in study.trials
            if t.state is TrialState.COMPLETE
            and t.values is not None
            and len(t.values) == len(names)
            and math.isfinite(t.values[i])
            and math.isfinite(t.values[j])
        ),
        key=lambda t: t.number,
    )
    x = np.array([t.values[i] for t in trials], dtype=float)
    y = np.array([t.values[j] for t in trials], dtype=float)
    feasible = np.array([t.feasible for t in trials], dtype=bool)
    signs = np.array([Direction(directions[i]).sign, Direction(directions[j]).sign], dtype=float)
    on_front = np.zeros(len(trials), dtype=bool)
    if feasible.any():
        on_front[feasible] = pareto_mask(np.column_stack([x, y])[feasible] * signs)
    step_x, step_y = _staircase(x[on_front], y[on_front], minimize_x=signs[0] > 0)
    return ParetoData(
        (names[i], names[j]),
        (directions[i], directions[j]),
        tuple(t.number for t in trials),
        tuple(float(v) for v in x),
        tuple(float(v) for v in y),
        tuple(bool(f) for f in feasible),
        tuple(bool(f) for f in on_front),
        step_x,
        step_y,
    )


def _staircase(x: np.ndarray, y: np.ndarray, minimize_x: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The boundary of what the front dominates, through its points sorted along x, with a corner between each two.

    Between neighbours the corner is where both are no better than the next point: when x is minimised, the first
    point's y at the second point's x; when x is maximised, the mirror image (the first point's x at the second's y).
    """
    if len(x) == 0:
        return (), ()
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    px, py = [float(xs[0])], [float(ys[0])]
    for k in range(1, len(xs)):
        corner = (xs[k], ys[k - 1]) if minimize_x else (xs[k - 1], ys[k])
        px += [float(corner[0]), float(xs[k])]
        py += [float(corner[1]), float(ys[k])]
    return tuple(px), tuple(py)


def _axis_label(name: str, direction: str) -> str:
    return f"{name} ({'maximize ↑' if direction == 'maximize' else 'minimize ↓'})"


def pareto_front(study: Any, objectives: Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """Two objectives of a multi-objective study against each other, with the Pareto front as a step line.

    Args:
        study: a multi-objective Study (or any object with ``trials``, ``objective_names`` and ``directions``).
        objectives: the pair to plot, by name (a 3-objective study has three pairs); default the first two.
        ax: the Axes to draw into; None makes a new Figure.

    Returns:
        The Axes. Its artists carry ids (``get_gid()``): ``"trials"`` (feasible trials off the front), ``"front"``
        (the front's points), ``"infeasible"`` (trials that violate a constraint), ``"front-line"`` (the step line).
    """
    data = pareto_data(study, objectives)
    if ax is None:
        ax = _new_axes((6.4, 4.4))
    ax.set_title(f"{_name(study)}: Pareto front")
    ax.set_xlabel(_axis_label(data.names[0], data.directions[0]))
    ax.set_ylabel(_axis_label(data.names[1], data.directions[1]))
    if not data.numbers:
        return _empty(ax, "no complete trial yet")
    x, y = np.array(data.x), np.array(data.y)
    feasible, front = np.array(data.feasible), np.array(data.on_front)
    rest = feasible & ~front
    if rest.any():
        ax.scatter(x[rest], y[rest], s=18, color=_TRIAL_COLOR, alpha=0.6, linewidths=0, label="trial", gid="trials")
    if (~feasible).any():
        ax.scatter(
            x[~feasible],
            y[~feasible],
            s=22,
            marker="x",
            color=_INFEASIBLE_COLOR,
            linewidths=1.0,
            label=f"infeasible ({int((~feasible).sum())})",
            gid="infeasible",
        )
    if front.any():
        ax.plot(data.step_x, data.step_y, color=_FRONT_COLOR, lw=1.4, alpha=0.8, gid="front-line")
        ax.scatter(
            x[front],
            y[front],
            s=30,
            color=_FRONT_COLOR,
            zorder=3,
            label=f"Pareto front ({int(front.sum())})",
            gid="front",
        )
    ax.legend(fontsize="small", framealpha=0.8)
    return ax

"""Learning curves: the intermediate values each trial sent with ``tune.report``, by step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpmagic.plot._draw import _empty, _name, _new_axes
from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CurveData", "learning_curves", "learning_curves_data"]

_COLOURS = {"complete": "#1f77b4", "pruned": "#9a6700", "failed": "#cf222e", "running": "#0969da"}


@dataclass(frozen=True)
class CurveData:
    """One trial's curve: its number, state, the steps and values it reported, and whether it is the best trial."""

    number: int
    state: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    is_best: bool


def learning_curves_data(trials: Sequence[Trial], best: Trial | None = None) -> list[CurveData]:
    """The reported curve of every trial that reported at least one finite value, in trial order.

    A trial that continues another (a promotion, a population clone) reports from the step it starts at, so its
    curve carries on where its source stopped.
    """
    curves = []
    for t in trials:
        points = [(int(s), float(v)) for s, v in t.intermediate if isinstance(v, (int, float)) and math.isfinite(v)]
        if not points:
            continue
        state = t.state.value if t.state is not TrialState.RUNNING else "running"
        curves.append(CurveData(t.number, state, tuple(s for s, _ in points), tuple(v for _, v in points), t is best))
    return curves


def learning_curves(study: Any, ax: Axes | None = None) -> Axes:
    """One line per trial of the values it reported with ``tune.report`` against the step; the best trial in red.

    Pruned trials are drawn in amber, so a scheduler's stops show where each curve ends.
    """
    ax = ax if ax is not None else _new_axes((7, 4))
    best = None if getattr(study, "is_multi_objective", False) else getattr(study, "best_trial", None)
    curves = learning_curves_data(study.trials, best)
    ax.set_title(f"{_name(study)}: learning curves")
    ax.set_xlabel("step")
    ax.set_ylabel("reported value")
    if not curves:
        return _empty(ax, "no trial reported intermediate values (tune.report)")
    for c in curves:
        if c.is_best:
            continue
        ax.plot(
            c.steps,
            c.values,
            color=_COLOURS.get(c.state, "0.5"),
            alpha=0.5,
            lw=1.0,
            marker="." if len(c.steps) == 1 else None,
        )
    for c in curves:
        if c.is_best:
            ax.plot(c.steps, c.values, color="#d62728", lw=2.2, label=f"best (trial {c.number})")
    states = sorted({c.state for c in curves if not c.is_best})
    for state in states:
        ax.plot([], [], color=_COLOURS.get(state, "0.5"), label=state)
    ax.legend(fontsize="small")
    return ax

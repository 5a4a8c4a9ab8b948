"""Study plots as SVG, drawn on the server by ``hpmagic.plot`` (matplotlib), for the JupyterLab study page.

The browser shows each SVG in an ``<img>``, where scripts never run; matplotlib draws text as paths, so user
strings (study and parameter names) reach the page as shapes, never as markup.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from hpmagic.plot import convergence, convergence_data, parallel_coordinates, param_scatter

__all__ = ["KINDS", "compare_svg", "study_svg"]

KINDS = ("convergence", "parallel", "scatter", "curves")

# The largest number of trials drawn one line each (parallel coordinates, learning curves): beyond it the best ones.
_MAX_LINES = 500


def _figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


class _Shown:
    """A study's view for the plot functions: at most ``_MAX_LINES`` trials where each trial is one line."""

    def __init__(self, study: Any, trials: Sequence[Any]) -> None:
        self.name = study.name
        self.direction = study.direction
        self.space = study.space
        self.trials = list(trials)


def _best_trials(study: Any, n: int) -> list[Any]:
    done = [t for t in study.trials if t.value is not None and math.isfinite(t.value)]
    done.sort(key=lambda t: t.value, reverse=study.direction == "maximize")
    return sorted(done[:n], key=lambda t: t.number)


def study_svg(study: Any, kind: str, param: str | None = None) -> bytes:
    """One plot of a loaded Study as SVG bytes: convergence, parallel coordinates, a parameter against the objective,
    or the trials' intermediate values (learning curves)."""
    if kind == "convergence":
        fig, ax = _figure()
        convergence(study, ax=ax)
    elif kind == "parallel":
        fig, ax = _figure(7.5, 3.8)
        shown: Any = study if len(study.trials) <= _MAX_LINES else _Shown(study, _best_trials(study, _MAX_LINES))
        parallel_coordinates(shown, ax=ax)
    elif kind == "scatter":
        if not param:
            raise ValueError("a scatter plot needs a parameter")
        fig, ax = _figure()
        param_scatter(study, param, ax=ax)
    elif kind == "curves":
        fig, ax = _figure()
        _learning_curves(study, ax)
    else:
        raise ValueError(f"unknown plot {kind!r}; one of {', '.join(KINDS)}")
    return _svg(fig)


def _learning_curves(study: Any, ax: Any) -> None:
    """Each trial's reported values against its step (``tune.report``): the learning curves of a study."""
    with_reports = [t for t in study.trials if t.intermediate]
    ax.set_xlabel("step")
    ax.set_ylabel("reported value")
    ax.set_title("intermediate values")
    if not with_reports:
        ax.text(0.5, 0.5, "no trial reported intermediate values", transform=ax.transAxes, ha="center", color="0.4")
        return
    if len(with_reports) > _MAX_LINES:
        with_reports = with_reports[-_MAX_LINES:]
    for t in with_reports:
        steps = [s for s, _ in t.intermediate]
        values = [v for _, v in t.intermediate]
        ax.plot(steps, values, lw=0.9, alpha=0.6, marker="." if len(steps) < 3 else None)


def compare_svg(studies: Sequence[tuple[str, Any]]) -> bytes:
    """Several studies' best-so-far curves on one plot (labelled by the given names)."""
    fig, ax = _figure(7.0, 3.8)
    ax.set_xlabel("trial")
    ax.set_ylabel("best value so far")
    ax.set_title("convergence")
    drawn = 0
    for i, (label, study) in enumerate(studies):
        data = convergence_data(study.trials, study.direction)
        if len(data.numbers):
            arrow = "↑" if study.direction == "maximize" else "↓"
            # gid: the SVG group of each curve is named after its place in the request, so a test can count them.
            ax.plot(
                data.numbers,
                data.best_so_far,
                drawstyle="steps-post",
                lw=1.8,
                label=f"{label} {arrow}",
                gid=f"hpmagic-compare-{i}",
            )
            drawn += 1
    if drawn:
        ax.legend(fontsize="small", framealpha=0.8)
    else:
        ax.text(0.5, 0.5, "no complete trial yet", transform=ax.transAxes, ha="center", color="0.4")
    return _svg(fig)

"""Population-based training: each member's hyperparameter over the training steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpmagic.plot._draw import _empty, _name, _new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["pbt_schedule_plot"]


def pbt_schedule_plot(study: Any, param: str | None = None, ax: Axes | None = None) -> Axes:
    """One step line per PBT member: the value of ``param`` (default: the first parameter) at each round's end.

    Jumps show exploit/explore events: a member that copied a better one and perturbed its hyperparameters.
    """
    from hpmagic.strategies import pbt_schedule

    ax = ax if ax is not None else _new_axes((7, 4))
    schedule = pbt_schedule(study)
    if not schedule:
        return _empty(ax, "no population-based training rounds in this study")
    names = [n for rows in schedule.values() for _, _, params, _ in rows for n in params]
    if param is None:
        param = names[0] if names else None
    if param is None or param not in names:
        raise ValueError(f"unknown parameter {param!r}; the schedule has: {', '.join(dict.fromkeys(names))}")
    for member, rows in schedule.items():
        steps = [0] + [step for _, step, params, _ in rows if param in params]
        values = [p[param] for _, _, p, _ in rows if param in p]
        if not values:
            continue
        ax.step(steps, [values[0], *values], where="pre", label=f"member {member}", linewidth=1.2)
    dim = getattr(study, "space", {}).get(param) if hasattr(getattr(study, "space", None), "get") else None
    if getattr(dim, "log", False):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(param)
    ax.set_title(f"{_name(study)}: {param} per member")
    if len(schedule) <= 12:
        ax.legend(fontsize="small", ncol=2)
    return ax

"""Figures to PNG bytes, for the live dashboard (an ``ipywidgets.Image``) and anything else that wants pixels."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["render_png"]


def _figure_of(fig_or_ax: Any) -> Any:
    """The top-level Figure of a Figure, SubFigure, Axes or array of Axes (what the plot functions return)."""
    from matplotlib.figure import Figure, SubFigure

    obj = fig_or_ax
    if hasattr(obj, "flat") and not hasattr(obj, "get_figure"):  # an array of Axes
        items = list(obj.flat)
        if not items:
            raise ValueError("render_png got an empty array of Axes")
        obj = items[0]
    if isinstance(obj, Figure):
        return obj
    get_figure = getattr(obj, "get_figure", None)
    if get_figure is None:
        raise TypeError(f"render_png takes a matplotlib Figure or Axes, got {type(fig_or_ax).__name__}")
    fig = get_figure()
    while isinstance(fig, SubFigure):
        fig = fig.get_figure()
    if not isinstance(fig, Figure):
        raise TypeError(f"render_png: {type(fig_or_ax).__name__} is not attached to a Figure")
    return fig


def render_png(fig_or_ax: Any, dpi: float = 80) -> bytes:
    """Draw a Figure (or the figure of an Axes) with the Agg renderer and return PNG bytes.

    Uses Agg whatever canvas the figure has (inline, ipympl, none), so it works in a worker thread and never opens
    a window. The figure's own dpi and canvas are left as they were.
    """
    fig = _figure_of(fig_or_ax)
    buf = io.BytesIO()
    # savefig switches to an Agg canvas for the duration of the call when the figure has another one.
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()

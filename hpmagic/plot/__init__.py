"""Plots of a study: convergence, parallel coordinates, one parameter against the objective, partial dependence,
learning curves, which hyperparameters mattered, the Pareto front of a multi-objective study.

Each plot function takes a Study (or any object with ``trials``, ``direction`` and ``space``) and ``ax=None``, draws
on a pyplot-free matplotlib Figure, and returns the Axes. The numbers behind each plot come from the ``*_data``
functions, which need no matplotlib. ``render_png`` turns a figure into PNG bytes.
"""

from __future__ import annotations

from hpmagic.plot._curves import CurveData, learning_curves, learning_curves_data
from hpmagic.plot._data import (
    AxisData,
    ConvergenceData,
    ImportanceData,
    ParallelData,
    ScatterData,
    convergence_data,
    importance_data,
    parallel_data,
    scatter_data,
)
from hpmagic.plot._draw import convergence, importance, parallel_coordinates, param_scatter, partial_dependence
from hpmagic.plot._pareto import ParetoData, pareto_data, pareto_front
from hpmagic.plot._render import render_png
from hpmagic.plot._schedule import pbt_schedule_plot

__all__ = [
    "AxisData",
    "ConvergenceData",
    "CurveData",
    "ImportanceData",
    "ParallelData",
    "ParetoData",
    "ScatterData",
    "convergence",
    "convergence_data",
    "importance",
    "importance_data",
    "learning_curves",
    "learning_curves_data",
    "parallel_coordinates",
    "parallel_data",
    "param_scatter",
    "pareto_data",
    "pareto_front",
    "partial_dependence",
    "pbt_schedule_plot",
    "render_png",
    "scatter_data",
]

"""Multi-objective benchmark problems: ZDT1, ZDT2, DTLZ2 and a scikit-learn trade-off (error against tree size).

Every objective is minimised. Each problem has a fixed reference point for the hypervolume (the same for every
optimizer and seed) and, for the synthetic ones, the exact hypervolume of the true Pareto front under that reference
(the most any optimizer can reach), so a report can say how close a run got.

* ZDT1 and ZDT2 (Zitzler, Deb and Thiele, 2000), 6-d on [0, 1]^6: ``f1 = x1``, ``g = 1 + 9 * mean(x2..x6)``,
  ``f2 = g * (1 - sqrt(f1 / g))`` (ZDT1: a convex front) or ``g * (1 - (f1 / g) ** 2)`` (ZDT2: a concave one); the
  front is ``g = 1``. Reference (1.1, 6): a random point has ``g`` near 5.5, so the reference keeps a share of the
  random ones, and what separates optimizers is how near ``g = 1`` they get. The front's hypervolume is the
  integral of ``6 - f2`` over ``f1`` in [0, 1] plus the strip ``f1`` in [1, 1.1]: ``5 + 2/3 + 0.6`` (ZDT1),
  ``5 + 1/3 + 0.6`` (ZDT2).
* DTLZ2 (Deb, Thiele, Laumanns and Zitzler, 2002), 3 objectives, 6-d on [0, 1]^6 (k = 4): the front is the
  positive octant of the unit sphere. Reference (1.1, 1.1, 1.1): the front's hypervolume is the cube less the
  octant, ``1.1**3 - pi/6``.
* ``tree-digits``: a DecisionTreeClassifier on scikit-learn's bundled digits (fixed split, fixed seed, so each
  evaluation is deterministic and takes milliseconds): validation error against the tree's number of nodes, in
  hundreds. Reference (1.0, 3.0): an error of 100% and 300 nodes (the largest trees here have about 270). Its true
  front is unknown.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpmagic.space import Categorical, Dimension, Float, Int

__all__ = ["PROBLEMS", "MOProblem", "get"]


@dataclass(frozen=True)
class MOProblem:
    """One multi-objective problem: its space, its objectives (all minimised) and its hypervolume reference."""

    name: str
    space: Mapping[str, Dimension]
    objectives: tuple[str, ...]
    evaluate: Callable[[Mapping[str, Any]], dict[str, float]]
    reference: tuple[float, ...]
    description: str
    best_hypervolume: float | None = None  # the true front's, when it is known

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        return {k: float(v) for k, v in self.evaluate(params).items()}


N_DIMS = 6


def _unit_space(n: int = N_DIMS) -> dict[str, Dimension]:
    return {f"x{i + 1}": Float(0.0, 1.0) for i in range(n)}


def _xs(params: Mapping[str, Any], n: int = N_DIMS) -> np.ndarray:
    return np.array([float(params[f"x{i + 1}"]) for i in range(n)])


def zdt1(params: Mapping[str, Any]) -> dict[str, float]:
    x = _xs(params)
    g = 1.0 + 9.0 * float(np.mean(x[1:]))
    return {"f1": x[0], "f2": g * (1.0 - math.sqrt(x[0] / g))}


def zdt2(params: Mapping[str, Any]) -> dict[str, float]:
    x = _xs(params)
    g = 1.0 + 9.0 * float(np.mean(x[1:]))
    return {"f1": x[0], "f2": g * (1.0 - (x[0] / g) ** 2)}


def dtlz2(params: Mapping[str, Any]) -> dict[str, float]:
    x = _xs(params)
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return {
        "f1": (1 + g) * math.cos(a) * math.cos(b),
        "f2": (1 + g) * math.cos(a) * math.sin(b),
        "f3": (1 + g) * math.sin(a),
    }


@functools.cache
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return x_train, x_val, y_train, y_val


def tree_digits(params: Mapping[str, Any]) -> dict[str, float]:
    from sklearn.tree import DecisionTreeClassifier

    x_train, x_val, y_train, y_val = _digits_split()
    model = DecisionTreeClassifier(
        max_depth=int(params["max_depth"]),
        min_samples_leaf=int(params["min_samples_leaf"]),
        ccp_alpha=float(params["ccp_alpha"]),
        criterion=params["criterion"],
        random_state=0,
    ).fit(x_train, y_train)
    return {"error": 1.0 - float(model.score(x_val, y_val)), "nodes": model.tree_.node_count / 100.0}


PROBLEMS: dict[str, MOProblem] = {
    p.name: p
    for p in (
        MOProblem("zdt1", _unit_space(), ("f1", "f2"), zdt1, (1.1, 6.0), "ZDT1, 6-d, convex front", 5 + 2 / 3 + 0.6),
        MOProblem("zdt2", _unit_space(), ("f1", "f2"), zdt2, (1.1, 6.0), "ZDT2, 6-d, concave front", 5 + 1 / 3 + 0.6),
        MOProblem(
            "dtlz2",
            _unit_space(),
            ("f1", "f2", "f3"),
            dtlz2,
            (1.1, 1.1, 1.1),
            "DTLZ2, 3 objectives, 6-d (front: the unit sphere's positive octant)",
            1.1**3 - math.pi / 6,
        ),
        MOProblem(
            "tree-digits",
            {
                "max_depth": Int(1, 20),
                "min_samples_leaf": Int(1, 40),
                "ccp_alpha": Float(1e-5, 1e-1, log=True),
                "criterion": Categorical(["gini", "entropy"]),
            },
            ("error", "nodes"),
            tree_digits,
            (1.0, 3.0),
            "DecisionTreeClassifier on digits (30% held out): validation error vs nodes / 100",
        ),
    )
}


def get(name: str) -> MOProblem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}: {', '.join(PROBLEMS)}") from None

"""Which hyperparameters mattered: functional ANOVA over a random forest (fANOVA, Hutter, Hoos & Leyton-Brown 2014).

A random forest is fitted to the complete trials (parameters in the unit cube -> loss). Each tree is a
piecewise-constant function over the cube; under the uniform measure its variance splits exactly into main effects
(the variance of the tree's average over all other parameters, as a function of one parameter) and interactions.
A parameter's share is its main-effect variance over the tree's total variance, averaged over the trees, then
scaled so the shares sum to one. Working in the unit cube makes log-scale parameters count by orders of magnitude
and gives each choice of a categorical the same weight. A conditional parameter (absent from some trials) gets its
own "absent" value covering half of its axis, so being switched on or off counts as part of its effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpmagic.errors import OptionError, SpaceError
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial, TrialState

__all__ = ["MIN_TRIALS", "importance", "top_parameters"]

#: Complete trials below which importance is refused: a forest over fewer points says nothing.
MIN_TRIALS = 5


def importance(study: Any, *, n_trees: int = 64, seed: int = 0) -> dict[str, float]:
    """Each parameter's share of the objective's variance explained by single parameters, largest first.

    Args:
        study: a Study (or anything with ``trials``, ``space``; failed, pruned and running trials are left out).
        n_trees: trees of the random forest (more: steadier shares, slower).
        seed: the forest's seed, so the same study gives the same shares.

    Raises:
        OptionError: fewer than ``MIN_TRIALS`` complete trials, or no parameter that varies.
    """
    trials = [t for t in study.trials if t.state is TrialState.COMPLETE and _finite(t.value)]
    if len(trials) < MIN_TRIALS:
        raise OptionError(
            f"importance needs at least {MIN_TRIALS} complete trials, the study has {len(trials)}: run more trials"
        )
    names, x = encode(study.space, trials)
    if not names:
        raise OptionError("importance needs at least one parameter that takes more than one value in the trials")
    y = np.array([float(t.value) for t in trials if t.value is not None])
    if np.ptp(y) == 0:
        return dict.fromkeys(names, 0.0)
    from sklearn.ensemble import RandomForestRegressor  # type: ignore[import-untyped]
    from threadpoolctl import threadpool_limits

    forest = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=1, random_state=seed, n_jobs=1)
    with threadpool_limits(1):
        forest.fit(x, y)
    shares = np.zeros(len(names))
    used = 0
    for tree in forest.estimators_:
        effects = main_effects(tree.tree_, len(names))
        if effects is not None:
            shares += effects
            used += 1
    if used:
        shares /= used
    total = shares.sum()
    if total > 0:
        shares = shares / total
    order = np.argsort(-shares, kind="stable")
    return {names[i]: float(shares[i]) for i in order}


def top_parameters(study: Any, k: int = 3) -> str | None:
    """A sentence naming the ``k`` parameters that mattered most, or None (too few trials, or no scikit-learn)."""
    if len(study.space) < 2 or sum(t.state is TrialState.COMPLETE for t in study.trials) < MIN_TRIALS:
        return None
    try:
        shares = importance(study, n_trees=32)
    except (OptionError, ImportError):
        return None
    shown = ", ".join(f"{n} {s:.0%}" for n, s in list(shares.items())[:k])
    return f"parameters that mattered most (fANOVA share): {shown}"


def encode(space: Space, trials: Sequence[Trial]) -> tuple[list[str], np.ndarray]:
    """The parameters that vary across ``trials`` and their unit-cube matrix (conditional ones halved, see above)."""
    names, columns = [], []
    for name in space:
        dim = space[name]
        units = [_unit(dim, t.params[name]) if name in t.params else None for t in trials]
        present = [u is not None for u in units]
        column = np.array([0.0 if u is None else u for u in units], dtype=float)
        if not all(present):
            column = np.where(present, 0.5 + 0.5 * column, 0.25)
        if np.ptp(column) > 0:
            names.append(name)
            columns.append(np.clip(column, 0.0, 1.0))
    return names, (np.column_stack(columns) if columns else np.zeros((len(trials), 0)))


def _unit(dim: Dimension, value: Any) -> float | None:
    """``value`` in the unit cube, or None when the dimension has no such value: a resumed study whose cell changed
    its choices (or a parameter's kind) keeps its earlier trials, which count as not using the parameter."""
    try:
        return float(dim.to_unit(value))
    except (SpaceError, TypeError, ValueError):
        return None


def main_effects(tree: Any, d: int) -> np.ndarray | None:
    """Each feature's main-effect variance over the total variance of one fitted scikit-learn tree on [0, 1]^d.

    The leaves are boxes of the cube; the tree's marginal in feature ``i`` is constant between consecutive leaf
    edges along ``i``, so its variance is an exact sum over those intervals. None for a constant tree.
    """
    lows, highs, values = _leaves(tree, d)
    widths = highs - lows
    volume = widths.prod(axis=1)
    mean = float(volume @ values)
    total = float(volume @ (values - mean) ** 2)
    if total <= 0:
        return None
    out = np.zeros(d)
    for i in range(d):
        edges = np.unique(np.concatenate([lows[:, i], highs[:, i], [0.0, 1.0]]))
        mids = (edges[:-1] + edges[1:]) / 2
        inside = (lows[:, i][None, :] <= mids[:, None]) & (mids[:, None] < highs[:, i][None, :])
        marginal = inside @ (values * volume / widths[:, i])
        out[i] = float(np.diff(edges) @ (marginal - mean) ** 2) / total
    return out


def _leaves(tree: Any, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leaves' boxes (lower and upper corners, clipped to the cube) and values of a fitted tree."""
    lows, highs, values = [], [], []
    stack = [(0, np.zeros(d), np.ones(d))]
    while stack:
        node, low, high = stack.pop()
        left, right = tree.children_left[node], tree.children_right[node]
        if left == right:  # a leaf
            lows.append(low)
            highs.append(high)
            values.append(float(tree.value[node].ravel()[0]))
            continue
        f, cut = tree.feature[node], min(max(float(tree.threshold[node]), low[tree.feature[node]]), 1.0)
        high_left, low_right = high.copy(), low.copy()
        high_left[f] = min(cut, high[f])
        low_right[f] = max(cut, low[f])
        stack.append((left, low, high_left))
        stack.append((right, low_right, high))
    lo, hi = np.array(lows), np.array(highs)
    keep = (hi - lo).min(axis=1) > 0  # a split outside the cube leaves an empty box behind
    return lo[keep], hi[keep], np.array(values)[keep]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)

"""Pareto ranking for multi-objective studies: non-dominated sorting, crowding, hypervolume (pure NumPy).

Everything here works in minimisation form: a row of ``points`` is one trial's objectives, each multiplied by its
direction's sign (``losses`` does that), so smaller is better in every column. Constraints follow NSGA-II's
constrained domination: a feasible trial beats every infeasible one, and of two infeasible trials the one with the
smaller total violation wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpmagic.trial import Trial, TrialState
from hpmagic.types import Direction

__all__ = [
    "constrained_ranks",
    "crowding_distance",
    "dominates",
    "front_order",
    "hypervolume",
    "losses",
    "nondominated_ranks",
    "pareto_mask",
    "pareto_trials",
    "rank_trials",
    "total_violation",
]


def _matrix(points: Any) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1) if arr.size else arr.reshape(0, 1)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-d array (one row per trial), got shape {arr.shape}")
    return arr


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def nondominated_ranks(points: Any) -> np.ndarray:
    """The front of each row: 0 for the non-dominated ones, 1 for those only the front dominates, and so on.

    One or two objectives: a sort and a binary search per row, O(n log n), so a table of 10,000 trials ranks at
    once. More: fronts peeled off a domination matrix, O(n² m) memory and time, fine for thousands of trials.
    """
    p = _matrix(points)
    n = len(p)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    if p.shape[1] == 1:
        return np.unique(p[:, 0], return_inverse=True)[1].astype(int).reshape(-1)
    if p.shape[1] == 2:
        return _ranks_2d(p)
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)
    dominated_by = (le & lt).T  # [j, i]: i dominates j
    left = np.ones(n, dtype=bool)
    front = 0
    while left.any():
        current = left & ~np.any(dominated_by[:, left], axis=1)
        ranks[current] = front
        left &= ~current
        front += 1
    return ranks


def _ranks_2d(p: np.ndarray) -> np.ndarray:
    """Two objectives: rows by the first objective (then the second), each put in the first front none of whose
    rows dominates it. A front dominates later rows from some point on (domination is transitive), so the front is
    found by binary search; every row already placed is no worse on the first objective, so a front dominates a row
    exactly when its lowest second objective is lower, or equal and reached at a lower first objective."""
    ranks = np.full(len(p), -1, dtype=int)
    lowest: list[tuple[float, float]] = []  # per front: (lowest second objective, first objective where reached)
    for i in np.lexsort((p[:, 1], p[:, 0])):
        x, y = float(p[i, 0]), float(p[i, 1])
        lo, hi = 0, len(lowest)
        while lo < hi:
            mid = (lo + hi) // 2
            best_y, at_x = lowest[mid]
            if best_y < y or (best_y == y and at_x < x):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(lowest):
            lowest.append((y, x))
        elif y < lowest[lo][0]:
            lowest[lo] = (y, x)
        ranks[i] = lo
    return ranks


def pareto_mask(points: Any) -> np.ndarray:
    """True for the non-dominated rows."""
    return nondominated_ranks(points) == 0


def crowding_distance(points: Any) -> np.ndarray:
    """NSGA-II's crowding distance of each row within ``points`` (one front): larger means lonelier.

    The extremes of every objective get infinity, so selection keeps the ends of a front; an objective on which all
    rows agree adds nothing.
    """
    p = _matrix(points)
    n, m = p.shape
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for k in range(m):
        order = np.argsort(p[:, k], kind="stable")
        column = p[order, k]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def total_violation(violations: Any) -> np.ndarray:
    """Each row's summed positive violation (0.0 for a feasible row; ``None`` rows count as feasible)."""
    rows = [np.zeros(0) if v is None else np.asarray(v, dtype=float) for v in violations]
    return np.array([float(np.clip(np.nan_to_num(r, nan=np.inf), 0.0, None).sum()) for r in rows])


def constrained_ranks(points: Any, violations: Any = None) -> np.ndarray:
    """Fronts under constrained domination: feasible rows' non-dominated fronts first, then the infeasible rows,
    one rank per distinct total violation (smallest first)."""
    p = _matrix(points)
    if violations is None:
        return nondominated_ranks(p)
    total = total_violation(violations)
    feasible = total <= 0.0
    ranks = np.zeros(len(p), dtype=int)
    ranks[feasible] = nondominated_ranks(p[feasible])
    offset = int(ranks[feasible].max()) + 1 if feasible.any() else 0
    if (~feasible).any():
        levels = np.unique(total[~feasible])
        ranks[~feasible] = offset + np.searchsorted(levels, total[~feasible])
    return ranks


def front_order(points: Any, violations: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, ranks, crowding)``: row indices best first (by front, then lonelier first within a front, then by
    position), each row's front and its crowding distance within that front."""
    p = _matrix(points)
    ranks = constrained_ranks(p, violations)
    crowding = np.zeros(len(p))
    for r in np.unique(ranks):
        members = ranks == r
        crowding[members] = crowding_distance(p[members])
    order = np.array(sorted(range(len(p)), key=lambda i: (ranks[i], -crowding[i], i)), dtype=int)
    return order, ranks, crowding


def hypervolume(points: Any, reference: Any) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (both in minimisation form), exactly.

    Rows that do not dominate the reference strictly are ignored. Slices along the last objective and recurses (a
    sweep in 2-d): exact for any number of objectives, quick for 2 and 3, exponential beyond.
    """
    p = _matrix(points)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if p.shape[0] == 0:
        return 0.0
    if p.shape[1] != ref.size:
        raise ValueError(f"reference has {ref.size} coordinates for points of {p.shape[1]} objectives")
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    return _hv(p[pareto_mask(p)], ref)


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    m = p.shape[1]
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:
        p = p[np.lexsort((p[:, 1], p[:, 0]))]
        volume, best_y = 0.0, ref[1]
        for x, y in p:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    p = p[np.argsort(p[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(p)):
        top = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        height = top - p[i, -1]
        if height > 0:
            below = p[: i + 1, :-1]
            volume += height * _hv(below[pareto_mask(below)], ref[:-1])
    return float(volume)


def losses(trials: Sequence[Trial], directions: Sequence[Direction | str]) -> tuple[list[Trial], np.ndarray]:
    """``(used, matrix)``: the complete trials that have every objective's value, and their values in minimisation
    form (a maximised objective's column negated), one row per trial in the order given. With one direction, a
    trial's ``value`` is its objective."""
    signs = np.array([Direction(d).sign for d in directions], dtype=float)
    rows = [(t, _values(t, len(signs))) for t in trials if t.state is TrialState.COMPLETE]
    used = [t for t, v in rows if v is not None]
    kept = [v for _, v in rows if v is not None]
    matrix = np.array(kept, dtype=float).reshape(len(used), len(signs)) * signs
    return used, matrix


def _values(trial: Trial, n: int) -> list[float] | None:
    """A trial's objective values (its ``value`` alone in a single-objective study), if all are there and finite."""
    values = trial.values if trial.values is not None or n != 1 else [trial.value]
    if values is None or len(values) != n or not all(v is not None and np.isfinite(v) for v in values):
        return None
    return [float(v) for v in values if v is not None]


def pareto_trials(trials: Sequence[Trial], directions: Sequence[Direction | str]) -> list[Trial]:
    """The best trials of a multi-objective study: the Pareto set of its complete feasible trials, or, when no trial
    is feasible, the ones with the least total violation. By trial number."""
    used, matrix = losses(trials, directions)
    if not used:
        return []
    violations = [t.violations for t in used] if any(t.violations is not None for t in used) else None
    ranks = constrained_ranks(matrix, violations)
    return [t for t, r in zip(used, ranks, strict=True) if r == 0]


def rank_trials(
    trials: Sequence[Trial], directions: Sequence[Direction | str]
) -> tuple[list[Trial], dict[int, int], dict[int, float]]:
    """``(ordered, rank, crowding)``: the complete trials with every value, best first (by front under constrained
    domination, then lonelier first, then by number), and each one's front (0: the Pareto set) and crowding
    distance within its front, by trial number."""
    used, matrix = losses(trials, directions)
    if not used:
        return [], {}, {}
    violations = [t.violations for t in used] if any(t.violations is not None for t in used) else None
    order, ranks, crowding = front_order(matrix, violations)
    ordered = [used[i] for i in order]
    return (
        ordered,
        {t.number: int(r) for t, r in zip(used, ranks, strict=True)},
        {t.number: float(c) for t, c in zip(used, crowding, strict=True)},
    )

"""Coarse to fine: narrow each range of a search space around the best trials found so far.

A first, coarse study explores the whole space; ``--refine`` continues it in a space cut down to where its best
trials lie (with a margin), warm-starting from every trial already done. Repeating ``--refine`` zooms in further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hpmagic.constraints import total_violation
from hpmagic.errors import OptionError
from hpmagic.space import NO_DEFAULT, Categorical, Dimension, Float, Int, Space
from hpmagic.trial import Trial, TrialState

__all__ = ["refine_space"]


def refine_space(
    space: Space,
    trials: Sequence[Trial],
    direction: str,
    *,
    top: float = 0.25,
    min_top: int = 3,
    margin: float = 0.25,
) -> Space:
    """The space narrowed to the best ``top`` fraction of complete trials (at least ``min_top`` of them).

    With constraints, the best are the best feasible trials (then the least violating ones). Numeric ranges become
    the span of those trials' values, padded by ``margin`` of that span on each side (and at
    least 5% of the original range), measured on the dimension's own scale (log for log dimensions), and clipped to
    the original bounds. Categorical dimensions keep the choices those trials used.
    """
    sign = -1.0 if direction == "maximize" else 1.0
    scored = [
        ((total_violation(t.violations), sign * t.value), t)
        for t in trials
        if t.state is TrialState.COMPLETE and t.value is not None
    ]
    # Feasible trials first (a constraint's violation is 0 for them), then the least violating; stable on ties.
    scored.sort(key=lambda pair: pair[0])
    complete = [t for _, t in scored]
    if len(complete) < 2:
        raise OptionError("--refine needs a study with at least 2 complete trials to narrow the space around")
    best = complete[: max(min_top, math.ceil(top * len(complete)))]
    return Space(
        {name: _narrow(dim, [t.params[name] for t in best if name in t.params], margin) for name, dim in space.items()}
    )


def _narrow(dim: Dimension, values: list, margin: float) -> Dimension:
    values = [v for v in values if dim.contains(v)]
    if not values:
        return dim
    if isinstance(dim, Categorical):
        kept = tuple(c for c in dim.choices if any(dim.index(v) == dim.index(c) for v in values))
        keep_default = dim.has_default and any(dim.index(dim.default) == dim.index(c) for c in kept)
        return Categorical(kept, dim.default if keep_default else NO_DEFAULT, dim.name)
    units = [dim.to_unit(v) for v in values]
    lo, hi = min(units), max(units)
    pad = max(margin * (hi - lo), 0.05)
    lo, hi = max(lo - pad, 0.0), min(hi + pad, 1.0)
    low, high = dim.from_unit(lo), dim.from_unit(hi)
    if isinstance(dim, Int):
        if low >= high:
            low, high = max(dim.low, low - 1), min(dim.high, high + 1)
        int_default = dim.default if dim.default is not None and low <= dim.default <= high else None
        return Int(low, high, dim.log, int_default, dim.name)
    assert isinstance(dim, Float)
    float_default = dim.default if dim.default is not None and low <= dim.default <= high else None
    return Float(low, high, dim.log, float_default, dim.name)

"""PED-ANOVA (Watanabe, Bansal & Hutter 2023): importance from how the good trials' values of each parameter
differ from all trials' values, with no surrogate model.

For each parameter, the values of the best ``target_quantile`` of the complete trials and of all of them (in the
unit cube, as ``fanova.encode`` gives them) are smoothed into densities with a Gaussian kernel; the parameter's
importance is the Pearson divergence of the first from the second: zero when good trials take any value, large when
they crowd into a small region. Shares are scaled to sum to one. Kept beside fANOVA for ``make bench-importance``,
which picks the default by measurement.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpmagic.errors import OptionError
from hpmagic.fanova import MIN_TRIALS, encode
from hpmagic.trial import TrialState

__all__ = ["ped_anova"]

_GRID = np.linspace(0.0, 1.0, 201)


def ped_anova(study: Any, *, target_quantile: float = 0.1) -> dict[str, float]:
    """Each parameter's PED-ANOVA share, largest first (same inputs and errors as ``fanova.importance``)."""
    trials = [t for t in study.trials if t.state is TrialState.COMPLETE and isinstance(t.value, int | float)]
    trials = [t for t in trials if np.isfinite(t.value)]
    if len(trials) < MIN_TRIALS:
        raise OptionError(
            f"importance needs at least {MIN_TRIALS} complete trials, the study has {len(trials)}: run more trials"
        )
    names, x = encode(study.space, trials)
    if not names:
        raise OptionError("importance needs at least one parameter that takes more than one value in the trials")
    loss = np.array([float(t.value) for t in trials if t.value is not None]) * study.direction.sign
    n_top = max(2, int(np.ceil(target_quantile * len(trials))))
    top = np.argsort(loss, kind="stable")[:n_top]
    scores = np.array([_pearson(_density(x[top, i]), _density(x[:, i])) for i in range(len(names))])
    total = scores.sum()
    shares = scores / total if total > 0 else scores
    order = np.argsort(-shares, kind="stable")
    return {names[i]: float(shares[i]) for i in order}


def _density(values: np.ndarray) -> np.ndarray:
    """A Gaussian-kernel density of ``values`` on ``_GRID`` (Scott's bandwidth, at least a fiftieth of the axis)."""
    h = max(1.06 * float(np.std(values)) * len(values) ** -0.2, 0.02)
    d = np.exp(-0.5 * ((_GRID[:, None] - values[None, :]) / h) ** 2).sum(axis=1)
    return d / d.sum()


def _pearson(p: np.ndarray, q: np.ndarray) -> float:
    """Pearson divergence of ``p`` from ``q`` over the grid."""
    keep = q > 1e-12
    return float((q[keep] * (p[keep] / q[keep] - 1.0) ** 2).sum())

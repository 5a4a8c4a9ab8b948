"""A model of where the constraints hold, for the bayes strategy (constrained expected improvement).

One Gaussian process per constraint, fitted to the trials' margins (how far each trial was past the bound,
negative when it held: ``hpmagic.constraints``); the probability that a point is feasible is the product over the
constraints of P(margin <= 0) under each posterior. The acquisition is then log EI + log P(feasible): expected
improvement over the best *feasible* trial, weighted by the chance that the point counts at all (Gardner et al.,
2014, "Bayesian Optimization with Inequality Constraints"; Gelbart et al., 2014), with a steep penalty below a
probability of ``FLOOR`` so that few trials are spent just past a bound. Before any trial is feasible the
acquisition is P(feasible) alone: find the feasible region first.

Margins are reshaped by a signed log (``sign(m) log(1 + |m| / s)``, ``s`` their median size) before they are
standardised: the sign, which decides feasibility, is kept, and a few trials that miss a bound by orders of
magnitude do not flatten the model near the bound where it matters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_ndtr

__all__ = ["FeasibilityModel"]

#: Below this probability of feasibility a candidate is penalised steeply: log EI + log P alone still proposed many
#: points just past a bound (the constrained optimum often lies on one, and expected improvement is largest across
#: it). Measured with ``make bench-constraints`` (Branin in a disk and in a band, 5 seeds x 40 trials): with the
#: plain product, 27% and 79% of bayes's trials were infeasible against random search's 25% and 84%; with the
#: floor at 0.8, 19% and 56%; at 0.9, 16% and 48%, the best feasible values as close to the optimum each time.
FLOOR = 0.9
FLOOR_WEIGHT = 20.0


class FeasibilityModel:
    """P(every constraint holds) at a point, from GPs fitted to the margins of the trials seen.

    Args:
        x: the trials' model features (``Encoding.features``), one row per trial.
        margins: one row per trial, one column per constraint (``<= 0``: satisfied).
        previous: the last model, whose GPs start from their fitted hyperparameters (refitted only if ``refit``).
    """

    def __init__(
        self, x: np.ndarray, margins: np.ndarray, previous: FeasibilityModel | None = None, refit: bool = True
    ):
        from hpmagic.samplers._gp import GPModel

        self.models: list[Any] = []
        self.thresholds: list[float] = []
        for j in range(margins.shape[1]):
            z, threshold = _standardise(margins[:, j])
            model = previous.models[j] if previous is not None and j < len(previous.models) else None
            if model is None or model.n_features != x.shape[1]:
                model = GPModel(x.shape[1])
            model.fit(x, z, optimize=refit, restart=refit)
            self.models.append(model)
            self.thresholds.append(threshold)

    def log_probability(self, x: np.ndarray) -> np.ndarray:
        """log P(feasible) at the rows of ``x`` (features), summed over the constraints."""
        total = np.zeros(len(x))
        for model, threshold in zip(self.models, self.thresholds, strict=True):
            mean, std = model.predict(x)
            total += log_ndtr((threshold - mean) / std)
        return total

    def log_weight(self, x: np.ndarray) -> np.ndarray:
        """What the acquisition adds: log P(feasible), and a steep (but smooth) penalty below ``FLOOR``."""
        log_p = self.log_probability(x)
        return log_p + FLOOR_WEIGHT * np.minimum(0.0, log_p - np.log(FLOOR))

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(feasible) at the rows of ``x``."""
        return np.exp(self.log_probability(x))


def _standardise(margins: np.ndarray) -> tuple[np.ndarray, float]:
    """Signed-log, then scaled margins, and where the bound (margin 0) lies on that scale.

    The margins are scaled, not centred: the GP's prior mean is then the bound itself, so a region far from every
    trial is as likely feasible as not (P = 0.5). Centred on the trials' mean, an unexplored corner would look as
    feasible as the average trial, and expected improvement, high where nothing is known, would send trials there.
    """
    m = np.asarray(margins, dtype=float)
    size = np.abs(m)
    scale = float(np.median(size[size > 0])) if np.any(size > 0) else 1.0
    g = np.sign(m) * np.log1p(size / scale)
    spread = float(np.sqrt(np.mean(g**2)))
    return (g / spread if spread > 0 else g), 0.0

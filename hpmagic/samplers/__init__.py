"""Samplers: which configuration a trial runs (grid, random, bayes, evolution, gradient), behind ``Sampler``.

Each sampler lives in its own private module; this package only re-exports them.
"""

from __future__ import annotations

from hpmagic.samplers._base import Sampler
from hpmagic.samplers._bayes import BayesSampler
from hpmagic.samplers._evolution import EvolutionSampler
from hpmagic.samplers._gradient import GradientSampler
from hpmagic.samplers._grid import GridSampler
from hpmagic.samplers._random import RandomSampler

__all__ = ["BayesSampler", "EvolutionSampler", "GradientSampler", "GridSampler", "RandomSampler", "Sampler"]

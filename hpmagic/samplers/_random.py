"""Random search: independent draws from the space's priors (log-uniform where the marker says so)."""

from __future__ import annotations

from typing import Any

from hpmagic.samplers._base import Sampler

__all__ = ["RandomSampler"]


class RandomSampler(Sampler):
    """Samples every trial independently.

    Trial ``i`` draws from ``trial_rng(i)``, a generator that depends only on the seed and ``i``. ``setup`` sets
    ``n_asked`` to the number of finished trials in the history, so a resumed study continues the very sequence an
    uninterrupted run would have produced, and never replays the configurations it already tried.
    """

    name = "random"
    supports_dynamic = True

    def ask(self, number: int) -> dict[str, Any]:
        params = self.space.sample(self.trial_rng(self.n_asked))
        self.n_asked += 1
        return params

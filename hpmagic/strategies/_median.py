"""Median stopping: stop a trial whose intermediate value is worse than the median of earlier trials at that step."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.space import Dimension, Space
from hpmagic.strategies._base import Strategy, TrialRequest
from hpmagic.trial import Trial, TrialState

__all__ = ["MedianStopping"]


class MedianStopping(Strategy):
    """Adds median stopping (``--prune median``) on top of a sampling strategy such as random or bayes.

    The wrapped strategy proposes every configuration; this one only decides, at each ``tune.report``, whether the
    trial goes on. A trial stops when, after ``n_startup`` finished trials and from step ``warmup`` on, its value is
    worse than the median of the earlier trials' values at the same step (Golovin et al., Google Vizier).

    Args:
        inner: the sampling strategy.
        n_startup: finished trials needed before any stopping.
        warmup: the first step at which a trial may be stopped.
    """

    def __init__(self, inner: Strategy, n_startup: int = 5, warmup: int = 1) -> None:
        if isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 1:
            raise OptionError(f"median stopping: n_startup must be an integer >= 1, got {n_startup!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise OptionError(f"median stopping: warmup must be an integer >= 0, got {warmup!r}")
        self.inner = inner
        self.n_startup = n_startup
        self.warmup = warmup
        self.name = inner.name  # type: ignore[misc]  # the study keeps the sampler's name
        self.supports_dynamic = inner.supports_dynamic  # type: ignore[misc]
        self._by_step: dict[int, list[float]] = {}
        self._finished = 0
        self.n_stopped = 0

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        super().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=history)
        self.inner.resource = self.resource
        self.inner.setup(space, direction=direction, seed=seed, n_trials=n_trials, history=history)
        self._by_step, self._finished = {}, 0
        for trial in history:
            self._record(trial)

    def ask(self) -> dict[str, Any]:
        return self.inner.ask()

    def ask_request(self) -> TrialRequest:
        return self.inner.ask_request()

    def tell(self, trial: Trial) -> None:
        self.inner.tell(trial)
        self._record(trial)

    def report(self, trial: Trial, step: int, value: float) -> bool:
        if self.inner.report(trial, step, value):
            return True
        if self._finished < self.n_startup or step < self.warmup:
            return False
        others = self._by_step.get(step)
        if not others:
            return False
        if self.sign * value > statistics.median(others):
            self.n_stopped += 1
            return True
        return False

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        return self.inner.sample_dynamic(trial, name, dim)

    def is_exhausted(self) -> bool:
        return self.inner.is_exhausted()

    def _record(self, trial: Trial) -> None:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return
        self._finished += 1
        for step, value in trial.intermediate:
            self._by_step.setdefault(step, []).append(self.sign * value)

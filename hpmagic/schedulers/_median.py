"""Median stopping: stop a trial whose intermediate value is worse than the median of earlier trials at that step."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from hpmagic.errors import OptionError
from hpmagic.samplers._base import Sampler
from hpmagic.schedulers._base import Scheduler, TrialRequest
from hpmagic.trial import Trial, TrialState

__all__ = ["MedianStopping"]


class MedianStopping(Scheduler):
    """Median stopping (``--scheduler median``, or ``--prune median``) over any sampler.

    The sampler proposes every configuration, each runs at the full budget; this scheduler only decides, at each
    ``tune.report``, whether the trial goes on. A trial stops when, after ``n_startup`` finished trials and from
    step ``warmup`` on, its value is worse than the median of the earlier trials' values at the same step
    (Golovin et al., Google Vizier).

    Args:
        n_startup: finished trials needed before any stopping.
        warmup: the first step at which a trial may be stopped.
    """

    name = "median"

    def __init__(self, sampler: Sampler | None = None, n_startup: int = 5, warmup: int = 1) -> None:
        if isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 1:
            raise OptionError(f"median stopping: n_startup must be an integer >= 1, got {n_startup!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise OptionError(f"median stopping: warmup must be an integer >= 0, got {warmup!r}")
        if sampler is not None:
            self.attach(sampler)
        self.n_startup = n_startup
        self.warmup = warmup
        self._by_step: dict[int, list[float]] = {}
        self._finished = 0
        self.n_stopped = 0

    def _prepare(self, history: Sequence[Trial]) -> None:
        self._by_step, self._finished = {}, 0
        for trial in history:
            self._record(trial)

    def ask(self, number: int) -> TrialRequest:
        return TrialRequest(self._sampler().propose(number))

    def tell(self, trial: Trial) -> None:
        super().tell(trial)
        self._record(trial)

    def report(self, trial: Trial, step: int, value: float) -> bool:
        if self._finished < self.n_startup or step < self.warmup:
            return False
        others = self._by_step.get(step)
        if not others:
            return False
        if self.sign * value > statistics.median(others):
            self.n_stopped += 1
            return True
        return False

    def _record(self, trial: Trial) -> None:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return
        self._finished += 1
        for step, value in trial.intermediate:
            self._by_step.setdefault(step, []).append(self.sign * value)

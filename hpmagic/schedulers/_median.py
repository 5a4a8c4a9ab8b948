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
    ``tune.report``, whether the trial goes on. A trial stops when, after ``n_startup`` finished trials and past
    its first ``n_warmup_steps`` steps, its value is worse than the median of the values at the same step of at
    least ``n_min_trials`` earlier trials (Golovin et al., Google Vizier; the options are those of Optuna's
    MedianPruner). Early values are noisy, so stopping at step 1 would judge a trial before it learned anything.

    Args:
        n_startup: finished trials needed before any stopping.
        n_warmup_steps: steps every trial runs before it may be stopped; None: a quarter of the budget's maximum
            (``--budget 1..20`` judges from step 6 on).
        n_min_trials: earlier trials that must have reported at a step for the median there to judge.
    """

    name = "median"

    def __init__(
        self,
        sampler: Sampler | None = None,
        n_startup: int = 5,
        n_warmup_steps: int | None = None,
        n_min_trials: int = 3,
    ) -> None:
        if isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 1:
            raise OptionError(f"median stopping: n_startup must be an integer >= 1, got {n_startup!r}")
        if n_warmup_steps is not None and (
            isinstance(n_warmup_steps, bool) or not isinstance(n_warmup_steps, int) or n_warmup_steps < 0
        ):
            raise OptionError(f"median stopping: n_warmup_steps must be an integer >= 0, got {n_warmup_steps!r}")
        if isinstance(n_min_trials, bool) or not isinstance(n_min_trials, int) or n_min_trials < 1:
            raise OptionError(f"median stopping: n_min_trials must be an integer >= 1, got {n_min_trials!r}")
        if sampler is not None:
            self.attach(sampler)
        self.n_startup = n_startup
        self.n_warmup_steps = n_warmup_steps
        self.n_min_trials = n_min_trials
        self.warmup = 0 if n_warmup_steps is None else n_warmup_steps
        self._by_step: dict[int, list[float]] = {}
        self._finished = 0
        self.n_stopped = 0

    def _prepare(self, history: Sequence[Trial]) -> None:
        if self.n_warmup_steps is None:
            self.warmup = self.resource[1] // 4 if self.resource else 0
        self._by_step, self._finished = {}, 0
        for trial in history:
            self._record(trial)

    def ask(self, number: int) -> TrialRequest:
        return TrialRequest(self._sampler().propose(number))

    def tell(self, trial: Trial) -> None:
        super().tell(trial)
        self._record(trial)

    def report(self, trial: Trial, step: int, value: float) -> bool:
        if self._finished < self.n_startup or step <= self.warmup:
            return False
        others = self._by_step.get(step)
        if not others or len(others) < self.n_min_trials:
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

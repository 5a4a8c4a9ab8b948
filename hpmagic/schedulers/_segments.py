"""The machinery that hyperband, asha and pbt share: trials that are segments of training of a configuration.

A trial is one *segment*: from the step it restores (0 for a new configuration) up to the budget the scheduler grants
it. A promotion (or a PBT round) is a new trial with the same parameters that continues the configuration's latest
trial (``TrialRequest.resume_from``); with ``--state`` it restores that trial's snapshot, without it the cell
retrains from scratch up to the larger budget.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from hpmagic.constraints import total_violation
from hpmagic.errors import OptionError
from hpmagic.schedulers._base import Scheduler, TrialRequest
from hpmagic.space import Space
from hpmagic.trial import Trial, TrialState

__all__ = ["SegmentScheduler", "Standing"]


class Standing(NamedTuple):
    """How a finished segment ranks for promotion, smallest first (Deb's constrained order, as evolution's
    tournaments use): feasible results by loss, then those that violate a constraint (least total violation first),
    failed segments last. A study without constraints ranks by loss alone."""

    violation: float
    loss: float

    @property
    def failed(self) -> bool:
        return not math.isfinite(self.loss)


#: A segment that failed: behind every result.
FAILED = Standing(math.inf, math.inf)


class SegmentScheduler(Scheduler):
    """Shared life cycle of the schedulers whose trials are segments of training (hyperband, asha, pbt).

    Subclasses say what to run next (``_next_request``), what a finished segment teaches them (``_record``) and
    which request attributes identify a segment in a stored study (``_key``). This class does the bookkeeping:

    - ``ask(number)`` remembers the request under the trial's number and ``tell`` settles it by that number, so
      results may arrive in any order. The sampler is told every finished trial, promotions included (a model
      learns from every budget: BOHB).
    - New configurations come from the sampler (``_new_config``), drawn when their first segment is asked, so a
      model-based sampler proposes from the latest results.
    - ``setup`` with a history *replays* it: it asks the schedule again from the start and, for each request, takes
      the finished trial that answered it (same attributes and budget) and records its result instead of running it;
      a new configuration met during the replay takes the stored trial's parameters instead of asking the sampler.
      Decisions depend only on the seed and on these results, so a resumed study continues where the interrupted
      one stopped, never repeats a finished segment, and points ``resume_from`` at the right trial numbers. The
      replay stops at the first request with no finished trial (the one a crash interrupted, say); that request is
      asked first. The sampler is set up with the trials that began a configuration (so its own sequence continues)
      and told the replayed promotions.

    Limits: the replay follows the order of a sequential run. A study run with several trials at once and stopped
    while some of them had not finished may replay only up to the first missing one; the later finished segments are
    then run again (never skipped, so the results stay correct).
    """

    needs_budget = True

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        self._remember(space, direction, seed, n_trials)
        if self.resource is None:
            raise OptionError(f"the {self.name} scheduler needs a resource range: --budget MIN..MAX (e.g. 1..81)")
        self.min_resource, self.max_resource = int(self.resource[0]), int(self.resource[1])
        finished = [t for t in history if t.state.finished]
        starts = [t for t in finished if t.user_attrs.get("continues") is None]
        warm = [*self.warm, *starts]
        self._sampler().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=warm)
        self._pending: dict[int, TrialRequest] = {}
        self._ready: deque[TrialRequest] = deque()
        self._replaying: list[Trial] | None = None
        self._reset()
        self.n_replayed = self._replay(finished)

    # -- the Scheduler interface ---------------------------------------------------------------------------------------

    def ask(self, number: int) -> TrialRequest:
        request = self._ready.popleft() if self._ready else self._next_request(number)
        self._pending[number] = request
        return request

    def tell(self, trial: Trial) -> None:
        request = self._pending.pop(trial.number, None)
        if request is not None:
            self._record(request, trial, self.standing(trial))
        self._sampler().tell(trial)

    # -- for subclasses ------------------------------------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget every result: called by ``setup`` before the history is replayed."""
        raise NotImplementedError

    def _next_request(self, number: int) -> TrialRequest:
        """The next segment to run, as trial ``number``; it counts as running until ``_record`` gets its result."""
        raise NotImplementedError

    def _record(self, request: TrialRequest, trial: Trial, standing: Standing) -> None:
        """A segment finished, with its ``standing`` (``sign * value`` as loss, after any constraint violation)."""
        raise NotImplementedError

    def _key(self, attrs: dict[str, Any]) -> Hashable | None:
        """What identifies a segment among a stored trial's attributes (None: not one of this scheduler's)."""
        raise NotImplementedError

    def standing(self, trial: Trial) -> Standing:
        """The trial's rank key: its value as a loss to minimise behind its total violation; failed is last."""
        if trial.state is TrialState.FAILED or trial.value is None or not math.isfinite(trial.value):
            return FAILED
        return Standing(total_violation(trial.violations), self.sign * float(trial.value))

    def _new_config(self, config: int, number: int) -> dict[str, Any]:
        """Parameters of new configuration ``config``, first run as trial ``number``: the sampler's proposal, or
        while replaying a stored study, the parameters the stored trials of that configuration used."""
        if self._replaying is not None:
            for trial in self._replaying:
                if trial.user_attrs.get("config") == config and trial.user_attrs.get("continues") is None:
                    return {n: trial.params[n] for n in self.space if n in trial.params} or self._draw(number)
        return self._draw(number)

    def _draw(self, number: int) -> dict[str, Any]:
        return self._sampler().propose(number)

    def new_params(self, index: int) -> dict[str, Any]:
        """The ``index``-th random configuration: ``trial_rng(index)``, as random search's trial ``index`` draws
        (a queued configuration first: PBT's population starts from the enqueued ones)."""
        queued = self._sampler().take_queued()
        return queued if queued is not None else self.space.sample(self._sampler().trial_rng(index))

    # -- replay --------------------------------------------------------------------------------------------------------

    def _replay(self, history: list[Trial]) -> int:
        replayed = 0
        self._replaying = list(history)
        try:
            while history and not self.is_exhausted():
                number = history[0].number
                request = self._next_request(number)
                match = self._find(request, history)
                if match is None:
                    self._ready.append(request)
                    break
                history.remove(match)
                self._record(request, match, self.standing(match))
                if match.user_attrs.get("continues") is not None:
                    self._sampler().tell(match)  # a promotion: the sampler saw only the configurations' starts
                replayed += 1
        finally:
            self._replaying = None
        return replayed

    def _find(self, request: TrialRequest, history: list[Trial]) -> Trial | None:
        wanted = self._key(request.attrs)
        for trial in history:
            if (
                self._key(trial.user_attrs) == wanted
                and trial.user_attrs.get("budget", request.budget) == request.budget
            ):
                return trial
        return None

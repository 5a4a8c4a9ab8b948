"""One progress and ETA model for every view of a running study (text line, HTML line, widget dashboard).

It follows the engine's events, so each view says the same "N/M trials", elapsed time and ETA. The total is the
strategy's known schedule when it has one (``planned_trials``, e.g. Hyperband's brackets), else ``--trials``; the
ETA divides the trials left by the rate trials have finished at, which already counts the trials that run at once;
while nothing has finished yet, or when fewer trials are left than run at once, it falls back on how long a trial
takes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpmagic.events import (
    Event,
    StudyFinished,
    StudyPaused,
    StudyStarted,
    StudyUnpaused,
    TrialFinished,
    TrialStarted,
)
from hpmagic.results import end_word
from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["Progress", "ProgressTracker", "clock", "planned_trials"]


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration."""
    seconds = int(max(seconds, 0) + 0.5)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(frozen=True)
class Progress:
    """Where a study stands: ``done`` of ``total`` trials (or elapsed of ``timeout``), how many run, an ETA."""

    done: int
    total: int | None
    elapsed: float
    timeout: float | None
    eta: float | None
    fraction: float
    running: int
    failed: int
    text: str


def planned_trials(study: Study | None, event: StudyStarted | None = None) -> int | None:
    """The length of the strategy's schedule when it knows one (``planned_trials`` on the event, the study or the
    strategy object), else None."""
    holders = [event, study, getattr(event, "strategy", None), getattr(study, "_strategy", None)]
    for holder in holders:
        if holder is None or isinstance(holder, str):
            continue
        planned = getattr(holder, "planned_trials", None)
        if isinstance(planned, int) and not isinstance(planned, bool) and planned > 0:
            return planned
    return None


class ProgressTracker:
    """Follows a study's events and says how far it is; every reporter owns one."""

    def __init__(self) -> None:
        self.study: Study | None = None
        self.n_trials: int | None = None
        self.timeout: float | None = None
        self.started = time.monotonic()
        self.paused_for = 0.0
        self._paused_at: float | None = None
        self._done_before = 0
        self.done = 0
        self.failed = 0
        self.running: dict[int, Trial] = {}
        self.max_running = 0
        self._durations: list[float] = []
        self._planned: int | None = None
        self.finish_reason: str | None = None
        #: A stored study's wall-clock span (first start to last end), shown instead of time since loading it.
        self.stored_elapsed: float | None = None

    def handle(self, event: Event) -> None:
        """Update the counts from one engine event (O(1))."""
        if isinstance(event, StudyStarted):
            self.study = event.study
            self.n_trials, self.timeout = event.n_trials, event.timeout
            self.started = time.monotonic()
            self.paused_for, self._paused_at = 0.0, None
            self._done_before = self.done = sum(1 for t in event.study.trials if t.state.finished)
            self.failed = sum(1 for t in event.study.trials if t.state is TrialState.FAILED)
            self.running, self.max_running, self._durations = {}, 0, []
            self._planned = planned_trials(event.study, event)
            self.finish_reason = None
            self.stored_elapsed = None
        elif isinstance(event, TrialStarted):
            self.running[event.trial.number] = event.trial
            self.max_running = max(self.max_running, len(self.running))
        elif isinstance(event, TrialFinished):
            self.running.pop(event.trial.number, None)
            if event.trial.state.finished:
                self.done += 1
                if event.trial.duration is not None:
                    self._durations.append(event.trial.duration)
            if event.trial.state is TrialState.FAILED:
                self.failed += 1
        elif isinstance(event, StudyPaused):
            self._paused_at = time.monotonic()
        elif isinstance(event, StudyUnpaused):
            self._end_pause()
        elif isinstance(event, StudyFinished):
            self._end_pause()
            self.running = {}
            self.finish_reason = str(event.reason)

    def load(self, study: Study) -> None:
        """A stored study that is not running: its counts, no total, no ETA."""
        self.study = study
        self.done = self._done_before = sum(1 for t in study.trials if t.state.finished)
        self.failed = sum(1 for t in study.trials if t.state is TrialState.FAILED)
        self.n_trials = None
        self.finish_reason = str(study.last_finish.reason) if study.last_finish is not None else "budget"
        starts = [t.started_at for t in study.trials]
        ends = [t.finished_at for t in study.trials if t.finished_at is not None]
        self.stored_elapsed = max(ends) - min(starts) if starts and ends else 0.0

    def _end_pause(self) -> None:
        if self._paused_at is not None:
            self.paused_for += time.monotonic() - self._paused_at
            self._paused_at = None

    @property
    def total(self) -> int | None:
        """Trials the study will have: the schedule's length when known (and smaller), else ``--trials``."""
        planned = self._planned if self._planned is not None else planned_trials(self.study)
        if planned is not None and self.n_trials is not None:
            return min(planned, self.n_trials)
        return planned if planned is not None else self.n_trials

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the run started, paused time excluded (a stored study: the span of its trials)."""
        if self.stored_elapsed is not None:
            return self.stored_elapsed
        now = time.monotonic() if now is None else now
        paused = self.paused_for + (now - self._paused_at if self._paused_at is not None else 0.0)
        return max(now - self.started - paused, 0.0)

    def eta(self, elapsed: float) -> float | None:
        """Seconds left, or None while unknown."""
        total = self.total
        left_by_count: float | None = None
        if total is not None and self.finish_reason is None:
            left = max(total - self.done, 0)
            ran = self.done - self._done_before
            in_flight = max(len(self.running), self.max_running, 1)  # how many run at once
            mean = sum(self._durations) / len(self._durations) if self._durations else None
            if left == 0:
                left_by_count = 0.0
            elif ran > 0 and elapsed > 0:
                left_by_count = left * elapsed / ran
                if mean is not None and left <= in_flight:  # the last wave takes at least what is left of a trial
                    oldest = max((time.time() - t.started_at for t in self.running.values()), default=0.0)
                    left_by_count = max(left_by_count, mean - oldest)
            elif mean is not None:
                left_by_count = math.ceil(left / in_flight) * mean
        if self.timeout:
            left_by_time = max(self.timeout - elapsed, 0.0)
            return left_by_time if left_by_count is None else min(left_by_count, left_by_time)
        return left_by_count

    def progress(self, now: float | None = None, status: str | None = None) -> Progress:
        """Done of total (or elapsed of the timeout), elapsed time, trials running, and an ETA.

        Args:
            now: the ``time.monotonic()`` to measure at (tests pass one).
            status: the view's own state word ("paused", "stopping"); no ETA is shown while paused.
        """
        elapsed = self.elapsed(now)
        total = self.total
        finished = self.finish_reason is not None
        eta = None if finished else self.eta(elapsed)
        fractions = []
        if total:
            fractions.append(self.done / total)
        if self.timeout:
            fractions.append(min(elapsed / self.timeout, 1.0))
        if finished and self.finish_reason in ("budget", "exhausted"):
            fraction = 1.0
        else:
            fraction = max(fractions) if fractions else 0.0
        text = f"{self.done}/{total} trials" if total else f"{self.done} trials"
        text += f" · {clock(elapsed)}"
        if self.timeout:
            text += f" of {clock(self.timeout)}"
        if len(self.running) > 1:
            text += f" · {len(self.running)} running"
        if eta is not None and status not in ("paused", "stopping"):
            text += f" · ETA {clock(eta)}"
        return Progress(
            self.done,
            total,
            elapsed,
            self.timeout,
            eta,
            min(max(fraction, 0.0), 1.0),
            len(self.running),
            self.failed,
            text,
        )

    def status_text(self, status: str) -> str:
        """The status line: the state word, after the failures count ("5 failed, stopped"), never repeating it."""
        word = end_word(self.finish_reason) if self.finish_reason is not None else status
        if self.finish_reason is not None and status == "stopping":
            word = "stopped"
        if self.failed:
            return f"{self.failed} failed, {word}"
        return word

"""Events the optimize loop emits; reporters (text, HTML, the dashboard) render them.

The engine never draws anything itself: it calls each reporter with these small records, so a new front end plugs in
without touching the loop (as tqdm's notebook bar sits over its text bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hpmagic.types import FinishReason

if TYPE_CHECKING:
    from hpmagic.study import Study
    from hpmagic.trial import Trial

__all__ = [
    "StudyPaused",
    "StudyUnpaused",
    "Event",
    "Reporter",
    "StudyFinished",
    "StudyStarted",
    "TrialFinished",
    "TrialReported",
    "TrialStarted",
]


@dataclass(frozen=True)
class Event:
    """Base of every event; ``study`` is the live Study object."""

    study: Study


@dataclass(frozen=True)
class StudyStarted(Event):
    """The loop is about to ask for the first trial of this call."""

    strategy: str
    n_trials: int | None
    timeout: float | None
    #: Trials in the strategy's known schedule (a whole Hyperband run), when it has one: progress counts it.
    planned_trials: int | None = None


@dataclass(frozen=True)
class TrialStarted(Event):
    trial: Trial


@dataclass(frozen=True)
class TrialReported(Event):
    """The running trial reported an intermediate value (``tune.report``)."""

    trial: Trial
    step: int
    value: float


@dataclass(frozen=True)
class TrialFinished(Event):
    """A trial ended in any state; ``is_best`` when it is the new best trial."""

    trial: Trial
    is_best: bool


@dataclass(frozen=True)
class StudyPaused(Event):
    """The loop is waiting between trials until ``Study.unpause`` (or ``stop``)."""


@dataclass(frozen=True)
class StudyUnpaused(Event):
    """The loop goes on after a pause."""


@dataclass(frozen=True)
class StudyFinished(Event):
    """The loop ended, for ``reason`` (a ``FinishReason``, a str enum: budget, timeout, exhausted, failures,
    interrupted, stopped, error).

    ``message`` explains it in a sentence (for failures it carries the first traceback).
    """

    reason: FinishReason
    message: str


class Reporter(Protocol):
    """Anything callable with an Event."""

    def __call__(self, event: Event) -> None: ...

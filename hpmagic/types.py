"""The engine's small vocabularies, each an enum with one meaning per value.

They are ``str`` enums, so they compare equal to their values ("maximize" == Direction.MAXIMIZE), store as plain
text and print as the words users see.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum

from hpmagic.errors import OptionError

__all__ = ["Direction", "FinishReason", "StudyState"]


class Direction(StrEnum):
    """Which way the objective should go."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @property
    def sign(self) -> float:
        """+1 when minimising, -1 when maximising: ``sign * value`` is always a loss."""
        return -1.0 if self is Direction.MAXIMIZE else 1.0

    @classmethod
    def parse(cls, value: object) -> Direction:
        """The direction named by ``value``, or an OptionError that lists both."""
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return cls(value)
        raise OptionError(f"direction must be 'minimize' or 'maximize', got {value!r}")

    def __str__(self) -> str:
        return self.value


class StudyState(StrEnum):
    """Where a study stands, as stored: running now, or how its last run ended."""

    RUNNING = "running"
    FINISHED = "finished"  # ran to its trials, its time limit, or the strategy's end
    STOPPED = "stopped"  # a stop request (dashboard, extension, ``study.stop()``)
    FAILED = "failed"  # too many failed trials in a row
    INTERRUPTED = "interrupted"  # KeyboardInterrupt, or a kernel that died (found on resume)
    ERROR = "error"  # hpmagic itself failed (a broken store), not the user's code

    def __str__(self) -> str:
        return self.value


class FinishReason(StrEnum):
    """Why one run of the optimize loop ended."""

    BUDGET = "budget"  # the study has its --trials
    EXHAUSTED = "exhausted"  # the strategy has nothing left (a finished grid or schedule)
    TIMEOUT = "timeout"
    STOPPED = "stopped"
    FAILURES = "failures"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def study_state(self) -> StudyState:
        """The state the study is left in after a run that ended for this reason."""
        return _STATE_AFTER[self]

    def __str__(self) -> str:
        return self.value


_STATE_AFTER = {
    FinishReason.BUDGET: StudyState.FINISHED,
    FinishReason.EXHAUSTED: StudyState.FINISHED,
    FinishReason.TIMEOUT: StudyState.FINISHED,
    FinishReason.STOPPED: StudyState.STOPPED,
    FinishReason.FAILURES: StudyState.FAILED,
    FinishReason.INTERRUPTED: StudyState.INTERRUPTED,
    FinishReason.ERROR: StudyState.ERROR,
}

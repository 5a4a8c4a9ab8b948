"""Trial records: one evaluation of the objective, with everything needed to explain it later."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Trial", "TrialState"]


class TrialState(StrEnum):
    """Where a trial's life ended (or that it is still running)."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        """True for the states a strategy learns from and a budget counts."""
        return self in (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)

    def __str__(self) -> str:
        return self.value


@dataclass
class Trial:
    """One run of the objective with one configuration.

    Attributes:
        number: position in the study, from 0, never reused.
        params: the hyperparameter values the trial actually used (conditional ones only when reached).
        state: see ``TrialState``.
        value: the objective's value, a finite float, for complete (and pruned) trials; else None.
        started_at / finished_at: wall-clock times (``time.time()``).
        error: one-line reason a trial failed; ``traceback`` the formatted traceback of the user's code.
        stdout / stderr: what the trial printed, captured instead of shown.
        intermediate: ``(step, value)`` pairs reported during the trial.
        values: every objective's value, in the order of ``Study.objective_names``, for a multi-objective study's
            complete trials (``value`` is then the primary objective's); None for single-objective studies.
        violations: one amount per constraint, in the order of ``Study.constraints``: how far the trial misses it
            (0.0 when satisfied); None when the study has no constraints.
    """

    number: int
    params: dict[str, Any] = field(default_factory=dict)
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    error: str | None = None
    traceback: str | None = None
    stdout: str = ""
    stderr: str = ""
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    trial_id: int | None = None
    values: list[float] | None = None
    violations: list[float] | None = None

    @property
    def feasible(self) -> bool:
        """True unless a constraint is violated (a trial of a study without constraints is always feasible)."""
        return self.violations is None or all(v <= 0.0 for v in self.violations)

    @property
    def duration(self) -> float | None:
        """Seconds the trial ran, or None while it runs."""
        if self.finished_at is None:
            return None
        return max(self.finished_at - self.started_at, 0.0)

    def __repr__(self) -> str:
        value = "" if self.value is None else f", value={self.value:.6g}"
        if self.values is not None:
            value += ", values=[" + ", ".join(f"{v:.6g}" for v in self.values) + "]"
        return f"Trial(number={self.number}, state={self.state.value}{value}, params={self.params!r})"

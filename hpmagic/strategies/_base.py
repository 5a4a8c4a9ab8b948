"""The one small interface every search strategy implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial

__all__ = ["Strategy", "TrialRequest"]


@dataclass(frozen=True)
class TrialRequest:
    """What a strategy wants run next.

    Attributes:
        params: values for every dimension of the static space.
        budget: the resource (steps, epochs) this trial may use; None: the study's maximum.
        resume_from: number of an earlier trial whose saved state this one continues (a promotion, a PBT clone);
            without a snapshot the trial starts from scratch and runs to ``budget``.
        attrs: recorded in the trial's ``user_attrs`` (bracket, rung, population member...).
    """

    params: dict[str, Any]
    budget: int | None = None
    resume_from: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


class Strategy(abc.ABC):
    """Proposes configurations and learns from finished trials.

    Life cycle, driven by ``Study.optimize``:

    1. ``setup(space, direction=..., seed=..., n_trials=..., history=...)`` once per optimize call, before any ask.
       ``space`` is the static space (every marker known before the first trial). ``history`` holds the study's
       trials that already finished (complete, failed or pruned), oldest first: a resumed study warm-starts from
       them and must not propose them again where that matters (grid).
    2. For each trial: ``ask_request()`` (by default ``ask()``, values for every dimension of the static space;
       schedulers also say the trial's budget and which earlier trial it continues). While the trial runs,
       markers created at run time (in loops) call ``sample_dynamic``; ``report`` is called for each intermediate
       value and may return True to stop the trial early (schedulers use it; the default never stops).
    3. ``tell(trial)`` once the trial finished. Failed trials are told too (``trial.value`` is None); a strategy must
       never treat a failed trial's missing value as a number.

    Values handed to ``tell`` are as the user sees them; ``self.sign`` turns them into a loss to minimise.
    Randomness must come from ``self.rng`` or ``self.trial_rng(i)`` so that a seed reproduces the sequence.
    """

    #: Name used by ``--strategy``.
    name: ClassVar[str] = ""
    #: Whether markers created at run time (loops, conditionals) are allowed.
    supports_dynamic: ClassVar[bool] = True
    #: Whether the strategy needs a resource range (``--budget``): schedulers such as hyperband and asha.
    needs_budget: ClassVar[bool] = False
    #: The study's resource range ``(min, max)`` (``--budget``), set by the loop before ``setup``; None without one.
    resource: tuple[int, int] | None = None
    #: Sentences the strategy wants the user to read after the study (what it fixed, what it fell back to).
    notes: list[str]

    space: Space
    direction: str
    seed: int
    n_trials: int | None

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        """Prepare for a run; subclasses extend this and call ``super().setup``."""
        self.space = space
        self.direction = direction
        self.seed = int(seed)
        self.n_trials = n_trials
        self.rng = np.random.default_rng(self.seed)
        if not isinstance(getattr(self, "notes", None), list):
            self.notes = []
        self.n_asked = sum(1 for t in history if t.state.finished)

    @property
    def sign(self) -> float:
        """+1 when minimising, -1 when maximising: ``sign * value`` is always a loss."""
        return -1.0 if self.direction == "maximize" else 1.0

    def trial_rng(self, index: int) -> np.random.Generator:
        """A generator that depends only on the seed and ``index``, so resuming reproduces the sequence."""
        return np.random.default_rng([self.seed, index])

    @abc.abstractmethod
    def ask(self) -> dict[str, Any]:
        """Values for every dimension of the static space, for the next trial."""

    def ask_request(self) -> TrialRequest:
        """The next trial with its budget and what it continues; schedulers override this, others keep ``ask``."""
        return TrialRequest(self.ask())

    def tell(self, trial: Trial) -> None:  # noqa: B027 - optional hook
        """Learn from a finished trial. The default ignores it."""

    def report(self, trial: Trial, step: int, value: float) -> bool:
        """An intermediate value of a running trial; return True to stop it (pruned). Default: never."""
        return False

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """A value for a marker created while ``trial`` runs (not in the static space). Default: seeded random."""
        rng = np.random.default_rng([self.seed, trial.number, _stable_hash(name)])
        return dim.sample(rng)

    def is_exhausted(self) -> bool:
        """True when the strategy has nothing left to propose (a finished grid)."""
        return False


def _stable_hash(text: str) -> int:
    """A hash of a string that is the same in every process (unlike ``hash``)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h

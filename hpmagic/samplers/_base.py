"""The small interface every sampler implements: which configuration a trial runs next."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from hpmagic.objectives import Objectives
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial
from hpmagic.types import Direction

__all__ = ["DynamicPolicy", "Sampler", "SeededDynamic", "stable_hash"]

#: Decides the value of a marker created while a trial runs: ``policy(trial, name, dim) -> value``. Picklable, so a
#: trial on a Dask worker decides exactly as it would in the kernel.
DynamicPolicy = Callable[[Trial, str, Dimension], Any]


class SeededDynamic:
    """Run-time markers drawn at random from a seed: per trial number, or per ``user_attrs[key]`` (a configuration
    that several trials continue keeps its values)."""

    def __init__(self, seed: int, salt: int = 0, key: str | None = None) -> None:
        self.seed, self.salt, self.key = int(seed), int(salt), key

    def __call__(self, trial: Trial, name: str, dim: Dimension) -> Any:
        if self.key is None:
            entropy = [self.seed, trial.number, stable_hash(name)]
        else:
            which = trial.user_attrs.get(self.key, -1 - trial.number)
            entropy = [self.seed, self.salt, int(which) & 0xFFFFFFFF, stable_hash(name)]
        return dim.sample(np.random.default_rng(entropy))


class Sampler(abc.ABC):
    """Proposes configurations and learns from finished trials. It never decides how long a trial runs: a
    scheduler (``hpmagic.schedulers``) does, so any sampler works with any scheduler that can use it.

    Life cycle, driven by a scheduler (the study loop wraps a bare sampler in ``FIFOScheduler``):

    1. ``setup(space, direction=..., seed=..., n_trials=..., history=...)`` once per optimize call, before any ask.
       ``space`` is the static space (every marker known before the first trial). ``history`` holds the study's
       trials that already finished (complete, failed or pruned), oldest first: a resumed study warm-starts from
       them and must not propose them again where that matters (grid).
    2. ``ask(number)`` for each new trial: values for every dimension of the static space. ``number`` is the
       trial's id; it comes back with the finished trial (``trial.number``), so several asks may be outstanding
       and their trials may finish in any order. While the trial runs, markers created at run time (in loops) call
       ``sample_dynamic(trial, ...)``.
    3. ``tell(trial)`` once the trial finished. Failed trials are told too (``trial.value`` is None); a sampler must
       never treat a failed trial's missing value as a number. A scheduler also tells trials the sampler never
       asked for (a promotion of a configuration to a larger budget, ``trial.user_attrs["budget"]``): a sampler
       that models results may learn from them, others ignore them.

    Values handed to ``tell`` are as the user sees them; ``self.sign`` turns them into a loss to minimise.
    Randomness must come from ``self.rng`` or ``self.trial_rng(i)`` so that a seed reproduces the sequence.

    Class attributes tell the rest of the code what it needs to know (the registry, the magic's help, the
    dashboard): they are declarations, read without building an instance.
    """

    #: Name used by ``--strategy``.
    name: ClassVar[str] = ""
    #: Whether markers created at run time (loops, conditionals) are allowed; False: it needs a static space.
    supports_dynamic: ClassVar[bool] = True
    #: Whether the sampler ends the study by itself when it has nothing left (a grid): ``--trials`` may be omitted.
    ends_by_itself: ClassVar[bool] = False
    #: Whether a multi-fidelity scheduler (hyperband, asha) may draw its new configurations from this sampler.
    schedulable: ClassVar[bool] = True
    #: Extra dashboard tabs this sampler offers, by the names ``hpmagic.display`` knows (e.g. partial dependence).
    tabs: ClassVar[tuple[str, ...]] = ()
    #: Sentences the sampler wants the user to read after the study (what it fixed, what it fell back to).
    notes: list[str]
    #: Configurations to run before the sampler's own proposals, complete for the static space (``tune.enqueue``,
    #: ``--enqueue``, ``--start-from-defaults``, retries on ``--resume``): set by the run builder, kept by ``setup``.
    queued: list[dict[str, Any]]
    #: Configurations of trials a crash interrupted, run again first on ``--resume`` (see ``take_queued``).
    retries: list[dict[str, Any]]
    #: A multi-objective study's objectives (set by the run builder; None: one objective). ``trial.value`` is then
    #: the primary objective's, ``trial.values`` holds them all: a sampler that models results may use them.
    objectives: Objectives | None = None

    space: Space
    direction: Direction
    seed: int
    n_trials: int | None
    n_asked: int
    rng: np.random.Generator

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
        self.direction = Direction(direction)
        self.seed = int(seed)
        self.n_trials = n_trials
        self.rng = np.random.default_rng(self.seed)
        if not isinstance(getattr(self, "notes", None), list):
            self.notes = []
        # Trials of another study (``--warm-from``) teach the sampler but are not this study's: its sequence
        # goes on as if they were not there.
        self.n_asked = sum(1 for t in history if t.state.finished and "warm_from" not in t.user_attrs)
        self._prepare(history)

    def _prepare(self, history: Sequence[Trial]) -> None:  # noqa: B027 - optional hook
        """What a sampler builds for a run once ``setup`` has stored the space, direction, seed and budget (as
        ``self.space``...): subclasses override this rather than ``setup``. ``history`` as ``setup`` got it."""

    @property
    def sign(self) -> float:
        """+1 when minimising, -1 when maximising: ``sign * value`` is always a loss."""
        return self.direction.sign

    def trial_rng(self, index: int) -> np.random.Generator:
        """A generator that depends only on the seed and ``index``, so resuming reproduces the sequence."""
        return np.random.default_rng([self.seed, index])

    @abc.abstractmethod
    def ask(self, number: int) -> dict[str, Any]:
        """Values for every dimension of the static space, for the trial with this number."""

    def propose(self, number: int) -> dict[str, Any]:
        """What schedulers call for a new configuration: the next queued one, else the sampler's own ``ask``.

        A queued configuration is told back like any trial, so the sampler learns from it; it was never asked, as
        a scheduler's promotion is not.
        """
        queued = self.take_queued()
        return queued if queued is not None else self.ask(number)

    def take_queued(self) -> dict[str, Any] | None:
        """The next queued configuration, removed from the queue, or None.

        A retry (``retries``: a configuration a crash interrupted) comes first and stands for the ask that drew it,
        so the sampler's own sequence goes on after it: resumed random search runs what an uninterrupted run would.
        """
        retries = getattr(self, "retries", None)
        if retries:
            self.n_asked += 1
            return dict(retries.pop(0))
        queue = getattr(self, "queued", None)
        return dict(queue.pop(0)) if queue else None

    def tell(self, trial: Trial) -> None:  # noqa: B027 - optional hook
        """Learn from a finished trial (its ``number`` is the one asked with). The default ignores it."""

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """A value for a marker created while ``trial`` runs (not in the static space): its policy's."""
        return self.dynamic_policy(trial)(trial, name, dim)

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        """How ``trial`` (just asked) picks values of markers created while it runs. Default: seeded random."""
        return SeededDynamic(self.seed)

    def is_exhausted(self) -> bool:
        """True when the sampler has nothing left to propose (a finished grid)."""
        return False


def stable_hash(text: str) -> int:
    """A hash of a string that is the same in every process (unlike ``hash``)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h

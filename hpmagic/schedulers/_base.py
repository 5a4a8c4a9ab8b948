"""The interface of schedulers: how long each trial runs, which configurations continue, which stop early."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hpmagic.samplers._base import DynamicPolicy, Sampler
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial
from hpmagic.types import Direction

__all__ = ["FIFOScheduler", "Scheduler", "TrialRequest"]


@dataclass(frozen=True)
class TrialRequest:
    """What a scheduler wants run as trial ``number``.

    Attributes:
        params: values for every dimension of the static space.
        budget: the resource (steps, epochs) this trial may use; None: the study's maximum.
        resume_from: number of an earlier trial whose saved state this one continues (a promotion, a PBT clone);
            without a snapshot the trial starts from scratch and runs to ``budget``.
        attrs: recorded in the trial's ``user_attrs`` (bracket, rung, population member...), for the user and for
            replaying the schedule on resume; never used to recognise a told trial (its number does that).
    """

    params: dict[str, Any]
    budget: int | None = None
    resume_from: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


class Scheduler(abc.ABC):
    """Decides budgets, promotions, continuation and early stopping; a ``Sampler`` proposes the configurations.

    The study loop drives exactly one scheduler (a bare sampler is wrapped in ``FIFOScheduler``). Life cycle:

    1. ``attach(sampler)`` (the run builder does it; without one a scheduler samples at random), then
       ``setup(space, direction=..., seed=..., n_trials=..., history=...)`` once per optimize call, with
       ``self.resource`` (``--budget MIN..MAX``) set before it. The scheduler sets its sampler up.
    2. ``ask(number)`` for each new trial: a ``TrialRequest``. New configurations come from
       ``self.sampler.ask(number)``. Several asks may be outstanding; results come back in any order.
    3. ``report(trial, step, value)`` for each intermediate value; True stops the trial (pruned).
    4. ``tell(trial)`` once the trial finished: the scheduler settles the request it made for ``trial.number`` and
       tells the sampler.

    Class attributes are declarations the registry, the magic's help and the dashboard read.
    """

    #: Name used by ``--scheduler`` (and as a ``--strategy`` shorthand where the registry says so).
    name: ClassVar[str] = ""
    #: Whether it needs a resource range (``--budget MIN..MAX``).
    needs_budget: ClassVar[bool] = False
    #: Whether it ends the study by itself (a whole Hyperband schedule, PBT's last round).
    ends_by_itself: ClassVar[bool] = False
    #: Whether markers created at run time are allowed (the sampler must allow them too).
    supports_dynamic: ClassVar[bool] = True
    #: Whether it draws new configurations from a sampler the user picks (False: it brings its own, as PBT does).
    takes_sampler: ClassVar[bool] = True
    #: Extra dashboard tabs this scheduler offers.
    tabs: ClassVar[tuple[str, ...]] = ()

    #: The study's resource range ``(min, max)`` (``--budget``), set by the loop before ``setup``; None without one.
    resource: tuple[int, int] | None = None
    #: Another study's trials the sampler learns from (``--warm-from``), set by the run builder: the sampler gets
    #: them before the study's own history; the scheduler never sees them (they are not its trials).
    warm: Sequence[Trial] = ()
    sampler: Sampler
    space: Space
    direction: Direction
    seed: int
    n_trials: int | None

    def attach(self, sampler: Sampler) -> Scheduler:
        """Draw new configurations from ``sampler``; returns self so calls chain."""
        self.sampler = sampler
        return self

    @property
    def notes(self) -> list[str]:
        """What the user should read after the study: the sampler's notes, then the scheduler's own."""
        return [*self._sampler().notes, *getattr(self, "_notes", [])]

    @property
    def sign(self) -> float:
        return self.direction.sign

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        """Prepare for a run: by default the sampler sees the whole history."""
        self._remember(space, direction, seed, n_trials)
        self._sampler().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=[*self.warm, *history])
        self._prepare(history)

    def _prepare(self, history: Sequence[Trial]) -> None:  # noqa: B027 - optional hook
        """What a scheduler builds for a run once ``setup`` has stored its settings and set its sampler up."""

    def _remember(self, space: Space, direction: str, seed: int, n_trials: int | None) -> None:
        self.space = space
        self.direction = Direction(direction)
        self.seed = int(seed)
        self.n_trials = n_trials
        self._notes: list[str] = []

    def _sampler(self) -> Sampler:
        if getattr(self, "sampler", None) is None:
            from hpmagic.samplers._random import RandomSampler

            self.sampler = RandomSampler()
        return self.sampler

    @abc.abstractmethod
    def ask(self, number: int) -> TrialRequest:
        """What trial ``number`` runs."""

    def report(self, trial: Trial, step: int, value: float) -> bool:
        """An intermediate value of a running trial; return True to stop it (pruned). Default: never."""
        return False

    def tell(self, trial: Trial) -> None:
        """A finished trial: by default only the sampler learns from it."""
        self._sampler().tell(trial)

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """A value for a marker created while ``trial`` runs: the sampler's."""
        return self._sampler().sample_dynamic(trial, name, dim)

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        """The picklable form of ``sample_dynamic`` for ``trial``, for trials that run on other processes."""
        return self._sampler().dynamic_policy(trial)

    def is_exhausted(self) -> bool:
        """True when nothing is left to run: by default, when the sampler has nothing left."""
        return self._sampler().is_exhausted()

    def release(self, *numbers: int) -> None:
        """Say that these trials will never be continued: the loop frees their training-state snapshots."""
        if not hasattr(self, "_released"):
            self._released: list[int] = []
        self._released.extend(numbers)

    def released(self) -> list[int]:
        """The trials released since the last call (the loop asks after each ``tell``)."""
        out, self._released = list(getattr(self, "_released", [])), []
        return out

    @property
    def planned_trials(self) -> int | None:
        """The number of trials of a known schedule (progress and ETA count it), or None."""
        return None


class FIFOScheduler(Scheduler):
    """Runs every configuration the sampler proposes, once, at the full budget, and never stops one early.

    What the loop uses when the user picked only a sampler (``--strategy bayes``).
    """

    name = "fifo"

    def __init__(self, sampler: Sampler | None = None) -> None:
        if sampler is not None:
            self.attach(sampler)

    def ask(self, number: int) -> TrialRequest:
        return TrialRequest(self._sampler().propose(number))

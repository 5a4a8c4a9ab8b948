"""Study records and the optimize loop: ask -> run -> tell -> store -> report, until a stop condition.

One loop serves the magic and the Python API. It drives one scheduler (which draws configurations from its sampler),
knows each trial by its number from ask to tell, never draws anything (reporters do, from events), never imports
IPython or the display, and commits every trial before the next one starts.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from hpmagic._checks import MAX_SECONDS, MAX_SEED, MAX_TRIALS, is_int, is_real
from hpmagic.constraints import (
    Constraint,
    least_violating,
    parse_constraints,
    same_constraints,
    total_violation,
    undefined_name,
    violation_text,
)
from hpmagic.context import TrialContext
from hpmagic.errors import OptionError, StorageError
from hpmagic.events import (
    Event,
    StudyFinished,
    StudyPaused,
    StudyStarted,
    StudyUnpaused,
    TrialFinished,
    TrialReported,
    TrialStarted,
)
from hpmagic.execution._run import finish as _finish
from hpmagic.execution._run import none_objective, run_trial, thread_limit
from hpmagic.execution._run import one_line as _one_line
from hpmagic.known_stores import remember_store
from hpmagic.objectives import Objectives
from hpmagic.pareto import pareto_trials, rank_trials
from hpmagic.results import results_html, results_text, trial_rows
from hpmagic.samplers import Sampler
from hpmagic.schedulers import FIFOScheduler, Scheduler, TrialRequest
from hpmagic.snapshots import SnapshotStore
from hpmagic.space import Space
from hpmagic.storage import Storage, StudyRecord, open_storage
from hpmagic.strategies import search_label, strategy_tabs
from hpmagic.trial import Trial, TrialState
from hpmagic.types import Direction, FinishReason, StudyState

__all__ = ["DIRECTIONS", "Objective", "Study", "as_scheduler", "create_study", "load_study"]

DIRECTIONS = tuple(d.value for d in Direction)


class Objective(Protocol):
    """What the loop runs for each trial: takes the trial's context, returns the objective's raw value.

    May also define ``trial_finished(trial, is_best)``, called after each trial (the cell objective keeps the best
    trial's variables that way).
    """

    def __call__(self, ctx: TrialContext) -> Any: ...


class Study:
    """A named, stored series of trials of one objective.

    Use ``create_study`` / ``load_study`` (or ``hpmagic.optimize``) rather than the constructor.
    """

    def __init__(self, record: StudyRecord, storage: Storage, space: Space, trials: list[Trial]) -> None:
        self._record = record
        self.storage = storage
        self.space = space
        self.trials: list[Trial] = trials
        self.strategy_name = record.strategy
        self.seed = record.seed
        self.last_finish: StudyFinished | None = None
        self._stop_requested = False
        self._stop_now = False
        self._pause_requested = False
        self._running = False
        self._best: Trial | None = None
        self._constraint_checks: list[Constraint] | None = None
        #: The resource range ``(min, max)`` of multi-fidelity runs (``--budget``), or None.
        self.resource: tuple[int, int] | None = None
        #: What the strategy of the last run wants the user to know (e.g. parameters it held fixed).
        self.notes: list[str] = []
        self._strategy: Scheduler | None = None
        #: Training-state snapshots of this study's trials (``--state``), kept while the Study object lives.
        self.snapshots = SnapshotStore()
        #: Trials in the strategy's known schedule (a whole Hyperband run) during a run, else None.
        self.planned_trials: int | None = None
        for t in trials:
            self._update_best(t)

    def close(self) -> None:
        """Release what the study holds outside the store: its training-state snapshots (and their spill folder)."""
        self.snapshots.close()

    def __del__(self) -> None:
        snapshots = getattr(self, "snapshots", None)
        if snapshots is not None:
            with contextlib.suppress(Exception):
                snapshots.close()

    # -- identity --------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def study_id(self) -> int:
        return self._record.id

    @property
    def direction(self) -> Direction:
        """The primary objective's direction (the only one's in a single-objective study)."""
        return Direction(self._record.direction)

    @property
    def objective_names(self) -> list[str]:
        """The objectives' names in order (``["value"]`` for a single-objective study)."""
        return list(self._record.objective_names)

    @property
    def directions(self) -> list[Direction]:
        """Each objective's direction, in the order of ``objective_names``."""
        return [Direction(d) for d in self._record.directions]

    @property
    def primary_index(self) -> int:
        """Position of the primary objective: the one ``Trial.value``, schedulers and ``direction`` speak of."""
        return self._record.primary_index

    @property
    def constraints(self) -> list[str]:
        """The constraint expressions as typed (``[]`` when the study has none)."""
        return list(self._record.constraints)

    @property
    def constraint_checks(self) -> list[Constraint]:
        """The constraints as the trial runner evaluates them: the run builder's (callables included), else the
        study's stored expressions parsed again (a study opened with ``load_study``)."""
        if self._constraint_checks is None:
            try:
                self._constraint_checks = parse_constraints(self.constraints)
            except OptionError:
                raise OptionError(
                    f"study {self.name!r} has constraints {self.constraints!r}, of which a function cannot be stored: "
                    "pass them again (hpmagic.optimize(..., resume=True, constraints=[...]))"
                ) from None
        return self._constraint_checks

    @constraint_checks.setter
    def constraint_checks(self, checks: list[Constraint]) -> None:
        self._constraint_checks = list(checks)

    @property
    def is_multi_objective(self) -> bool:
        return len(self._record.objective_names) > 1

    @property
    def objectives(self) -> Objectives | None:
        """How the trial runner reads a multi-objective study's values (None for a single objective)."""
        if not self.is_multi_objective:
            return None
        return Objectives(tuple(self.objective_names), tuple(self.directions), self.primary_index)

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto set: complete feasible trials no other feasible trial beats on every objective (if no trial is
        feasible, those with the least total violation), by number. One objective: the trials tied for the best."""
        return pareto_trials(self.trials, self.directions)

    @property
    def primary_best(self) -> Trial | None:
        """The feasible complete trial best on the primary objective (the earliest on ties): on the Pareto front.
        In a single-objective study, the best trial."""
        return self._best

    def _several_objectives(self) -> str:
        primary = self.objective_names[self.primary_index]
        return (
            f"study {self.name!r} has {len(self.objective_names)} objectives ({', '.join(self.objective_names)}), so "
            f"no single best trial: use study.best_trials (the Pareto set), or study.primary_best (the best on "
            f"{primary})"
        )

    @property
    def tabs(self) -> tuple[str, ...]:
        """Extra dashboard tabs its strategy declares (``partial_dependence`` for bayes, ``pbt_schedule`` for pbt)."""
        return strategy_tabs(self.strategy_name)

    @property
    def source(self) -> str | None:
        """The cell source the study tunes, when it came from ``%%tune``."""
        return self._record.source

    # -- results ---------------------------------------------------------------------------------------------------

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the best value (the earliest on ties), or None. In a study with constraints,
        the best of the feasible trials: None while no trial satisfies every constraint. A multi-objective study
        has none: it raises ValueError pointing to ``best_trials``."""
        if self.is_multi_objective:
            raise ValueError(self._several_objectives())
        return self._best

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of the best trial; raises ValueError when no trial completed."""
        return dict(self._require_best().params)

    @property
    def best_value(self) -> float:
        """Value of the best trial; raises ValueError when no trial completed."""
        value = self._require_best().value
        assert value is not None
        return value

    def _require_best(self) -> Trial:
        if self.is_multi_objective:
            raise ValueError(self._several_objectives())
        if self._best is None:
            least = least_violating(self.trials)
            if least is not None:
                raise ValueError(
                    f"study {self.name!r} has no trial that satisfies its constraints yet (the least violation: trial "
                    f"{least.number}, {violation_text(self.constraints, least.violations)})"
                )
            raise ValueError(f"study {self.name!r} has no complete trial yet")
        return self._best

    def is_better(self, a: float, b: float) -> bool:
        """True when value ``a`` beats ``b`` in this study's direction."""
        return a > b if self.direction is Direction.MAXIMIZE else a < b

    def _update_best(self, trial: Trial) -> bool:
        if trial.state is not TrialState.COMPLETE or trial.value is None or not trial.feasible:
            return False
        best = self._best
        if best is None or best.value is None or self.is_better(trial.value, best.value):
            self._best = trial
            return True
        return False

    def pareto_ranks(self) -> dict[int, int]:
        """Each complete trial's front by number: 0 for the Pareto set, 1 for the front behind it, ... (infeasible
        trials after every feasible one, by total violation)."""
        return rank_trials(self.trials, self.directions)[1]

    def sorted_trials(self) -> list[Trial]:
        """Best first: complete trials by value, then pruned, failed, interrupted and running ones by number.

        With constraints, the complete trials that violate one come after the feasible ones, least violation first.
        A multi-objective study's complete trials come by Pareto front, then by crowding distance (the lonelier
        first: the front's ends and gaps), then by number.
        """
        if self.is_multi_objective:
            ordered = rank_trials(self.trials, self.directions)[0]
            placed = {t.number for t in ordered}
            rest = [t for t in self.trials if t.number not in placed]
            rank = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAILED: 2, TrialState.INTERRUPTED: 3}
            return ordered + sorted(rest, key=lambda t: (rank.get(t.state, 4), t.number))
        sign = self.direction.sign
        rank = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.FAILED: 2, TrialState.INTERRUPTED: 3}
        return sorted(
            self.trials,
            key=lambda t: (
                rank.get(t.state, 4),
                total_violation(t.violations) if t.state is TrialState.COMPLETE else 0.0,
                sign * t.value if t.state is TrialState.COMPLETE and t.value is not None else 0.0,
                t.number,
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per trial (by number): number, state, value (and its spread with ``--repeats``), duration,
        error, the held-out test value if any, the multi-fidelity columns, then each parameter."""
        return trial_rows(self)

    def to_dataframe(self) -> Any:
        """The trials as a pandas DataFrame (one row per trial); needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Study.to_dataframe needs pandas (pip install pandas); Study.rows() needs nothing"
            ) from None
        return pd.DataFrame(self.rows())

    def to_csv(self, path: str | os.PathLike[str]) -> str:
        """Write the trials to a CSV file (no pandas needed) and return its path."""
        rows = self.rows()
        fields = list(rows[0]) if rows else ["number", "state", "value", "duration", "error"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        return os.fspath(path)

    def _repr_html_(self) -> str:
        return results_html(self)

    def __repr__(self) -> str:
        best = "" if self._best is None else f", best_value={self._best.value:.6g}"
        if self.is_multi_objective:
            best = f", {len(self.best_trials)} on the Pareto front of {', '.join(self.objective_names)}"
        return f"<Study {self.name!r}: {len(self.trials)} trials, {self.direction}{best}>"

    def summary(self) -> str:
        """The results table as text."""
        return results_text(self)

    # -- running ---------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the running loop to end after the current trial (from a callback, a reporter or another thread).

        With trials running on workers, they finish first; a second call cancels them (kept as interrupted).
        """
        if self._stop_requested and self._running:
            self._stop_now = True
        self._stop_requested = True

    def enqueue(self, config: dict[str, Any]) -> None:
        """Run ``config`` as the next new configuration of the running study (``tune.enqueue`` while it runs).

        Raises:
            OptionError: the study is not running, or the configuration is outside its space.
        """
        from hpmagic.queue import check_config

        if not self._running or self._strategy is None:
            raise OptionError(f"study {self.name!r} is not running: pass the configuration to the next run")
        sampler = self._strategy._sampler()
        params = check_config(self.space, config, seed=self.seed or 0, index=len(self.trials))
        if not isinstance(getattr(sampler, "queued", None), list):
            sampler.queued = []
        sampler.queued.append(params)  # in place: the loop may be taking from this list in another thread

    def pause(self) -> None:
        """Ask the running loop to wait after the current trial until ``unpause`` (or ``stop``)."""
        self._pause_requested = True

    def unpause(self) -> None:
        """Let a paused loop go on."""
        self._pause_requested = False

    @property
    def running(self) -> bool:
        """True while ``optimize`` runs (in this thread or another)."""
        return self._running

    def optimize(
        self,
        objective: Objective,
        strategy: Sampler | Scheduler,
        *,
        n_trials: int | None = None,
        timeout: float | None = None,
        max_failures: int | None = 5,
        reporters: Iterable[Callable[[Event], None]] = (),
        threads: int | None = 1,
        catch_interrupt: bool = True,
        budget: tuple[int, int] | None = None,
        repeats: int = 1,
        search_space: Space | None = None,
        executor: Any = None,
        trial_timeout: float | None = None,
    ) -> StudyFinished:
        """Run trials until the budget, the timeout, the strategy's end, a stop request or too many failures.

        Args:
            objective: called once per trial with its context; returns the raw objective value.
            strategy: a fresh sampler (run as it proposes) or scheduler (with its sampler attached); it is set up
                here with the trials already in the study.
            n_trials: total number of finished trials the study should have (a resumed study counts its old ones).
            timeout: seconds for this call; a trial that started in time runs to its end.
            max_failures: stop after this many failed trials in a row (None: never); a first trial whose objective
                is None stops the study at once (a mistake every trial would repeat).
            reporters: callables that receive the loop's events.
            threads: BLAS/OpenMP threads for the objective (None leaves the libraries' own setting).
            catch_interrupt: end cleanly on KeyboardInterrupt (True) or re-raise it after saving (False).
            budget: the resource range ``(min, max)`` that ``tune.steps()`` counts in (epochs, iterations); the
                multi-fidelity schedulers (hyperband, asha, pbt) need it.
            repeats: run each configuration this many times (``tune.seed`` is 0, 1, ...): the trial's value is the
                mean, ``user_attrs["values"]`` and ``["value_std"]`` keep the spread for noise-aware strategies.
            search_space: the space the strategy searches when it differs from the study's (``--refine``).
            trial_timeout: seconds a trial may run before it is interrupted and failed (its output kept). The study's
                ``timeout`` interrupts a running trial too, so a study ends on time even when a trial never returns.
            executor: run trials on Dask workers (``hpmagic.execution.DaskExecutor``), several at once; None runs
                them one after another in this process.

        Returns:
            The ``StudyFinished`` event, whose ``reason`` and ``message`` say why the loop ended.
        """
        check_budget(n_trials, timeout, max_failures, threads)
        check_seconds("trial_timeout", trial_timeout)
        _ = self.constraint_checks  # a stored constraint that cannot be evaluated again is an error before any trial
        self._limits = (timeout, trial_timeout)
        if not is_int(repeats) or not 1 <= repeats <= 10_000:
            raise OptionError(f"repeats must be an integer from 1 to 10000, got {_short(repeats)}")
        search = as_scheduler(strategy)
        self.resource = check_resource(budget) if budget is not None else self.resource
        if search.needs_budget and self.resource is None:
            raise OptionError(f"the {search.name} scheduler needs a resource range: --budget MIN..MAX (e.g. 1..81)")
        search.resource = self.resource
        history = [t for t in self.trials if t.state.finished]
        search.setup(
            search_space if search_space is not None else self.space,
            direction=self.direction,
            seed=self.seed,
            n_trials=n_trials,
            history=history,
        )
        self._stop_requested = False
        self._stop_now = False
        self._running = True
        self.notes = []  # this run's notes: the loop adds its own, _end puts the strategy's first
        self.strategy_name = search_label(search) or self.strategy_name
        self.planned_trials = search.planned_trials
        emit = _Emitter(reporters)
        emit(StudyStarted(self, self.strategy_name, n_trials, timeout, self.planned_trials))
        self.storage.set_study_state(self.study_id, StudyState.RUNNING)
        self._strategy = search

        start = self._started = time.monotonic()
        done = len(history)
        failures_in_row = 0
        first_failure: Trial | None = None
        reason, message = FinishReason.BUDGET, ""
        limiter = thread_limit(threads)
        try:
            with limiter:
                while executor is None:
                    self._poll_control()
                    if n_trials is not None and done >= n_trials:
                        reason, message = FinishReason.BUDGET, f"{done} of {n_trials} trials done"
                        break
                    if timeout is not None and time.monotonic() - start >= timeout:
                        reason, message = FinishReason.TIMEOUT, f"time limit of {_seconds(timeout)} reached"
                        break
                    if self._pause_requested and not self._stop_requested:
                        start += self._wait_while_paused(emit)  # paused time does not count against the timeout
                        self._started = start
                    if self._stop_requested:
                        reason, message = FinishReason.STOPPED, "stopped on request; completed trials are kept"
                        break
                    if search.is_exhausted():
                        reason = FinishReason.EXHAUSTED
                        message = f"the {self.strategy_name} strategy has tried every configuration"
                        break
                    trial = self._run_one(objective, search, emit, repeats)
                    done += trial.state.finished
                    if max_failures is not None and self._repeated_mistake(trial):
                        reason, message = FinishReason.FAILURES, _mistake_message(trial)
                        break
                    if trial.state is TrialState.FAILED:
                        failures_in_row += 1
                        if first_failure is None:
                            first_failure = trial
                        if max_failures is not None and failures_in_row >= max_failures:
                            reason = FinishReason.FAILURES
                            message = (
                                f"stopped after {failures_in_row} failed trials in a row. "
                                f"The first failure (trial {first_failure.number}) was:\n"
                                f"{first_failure.traceback or first_failure.error}"
                            )
                            break
                    else:
                        failures_in_row = 0
                        first_failure = None
                if executor is not None:
                    reason, message = self._optimize_parallel(
                        objective,
                        search,
                        emit,
                        executor,
                        n_trials=n_trials,
                        timeout=timeout,
                        max_failures=max_failures,
                        repeats=repeats,
                        threads=threads,
                        done=done,
                    )
        except KeyboardInterrupt:
            if executor is not None:
                executor.cancel_all()
            for t in self.trials:
                if t.state is TrialState.RUNNING:
                    _finish(t, TrialState.INTERRUPTED, error="interrupted by the user")
                    self.storage.update_trial(self.study_id, t, self.space)
            reason = FinishReason.INTERRUPTED
            message = "interrupted; completed trials are kept, resume with --resume"
            finished = self._end(reason, message, emit)
            if not catch_interrupt:
                raise
            return finished
        except Exception as exc:
            # Not the user's code (that fails only its trial): a broken store or strategy. End visibly, then raise.
            self._running = False
            with contextlib.suppress(Exception):
                self._end(FinishReason.ERROR, f"the study stopped on an error: {_one_line(exc)}", emit)
            raise
        finally:
            if executor is not None:
                with contextlib.suppress(Exception):
                    executor.close()
        return self._end(reason, message, emit)

    def _poll_control(self) -> None:
        """Obey a stop or pause request written to the store (from the JupyterLab extension, another process)."""
        action = self.storage.get_control(self.study_id)
        if action is None:
            return
        if action == "stop":
            self._stop_requested = True
        elif action == "pause":
            self._pause_requested = True
            return  # kept until "resume": the paused loop polls it
        elif action == "resume":
            self._pause_requested = False
        self.storage.set_control(self.study_id, None)

    def _wait_while_paused(self, emit: _Emitter) -> float:
        began = time.monotonic()
        emit(StudyPaused(self))
        polled = began
        while self._pause_requested and not self._stop_requested:
            time.sleep(0.05)
            if time.monotonic() - polled >= 0.25:
                polled = time.monotonic()
                self._poll_control()
        if not self._stop_requested:
            emit(StudyUnpaused(self))
        return time.monotonic() - began

    def _end(self, reason: FinishReason, message: str, emit: _Emitter) -> StudyFinished:
        self._running = False
        # The strategy's notes, then what the loop itself noted (lost workers, variables it could not fetch).
        strategy_notes = list(getattr(self._strategy, "notes", None) or [])
        self.notes = strategy_notes + [n for n in self.notes if n not in strategy_notes]
        least = least_violating(self.trials) if self.constraints else None
        if least is not None:
            outcome = "best_trials holds the least violating" if self.is_multi_objective else "there is no best trial"
            self.notes.append(
                f"no trial met the constraints, so {outcome}; the least violation was trial "
                f"{least.number}'s ({violation_text(self.constraints, least.violations)})"
            )
        self.storage.set_study_state(self.study_id, reason.study_state)
        finished = self.last_finish = StudyFinished(self, reason, message)
        emit(finished)
        return finished

    def _next_number(self) -> int:
        """The next trial number, taken from the store atomically (with a placeholder row), not from memory: two
        processes running the same study (``--resume`` in two notebooks) never collide."""
        return self.storage.reserve_number(self.study_id)

    def _start_trial(self, search: Scheduler, emit: _Emitter) -> tuple[Trial, TrialRequest]:
        """Ask the scheduler for trial ``number``, record it as running (in memory and in the store).

        A sampler that enumerates a finite set (a grid) skips configurations another process sharing the study has
        taken: the check and the write are one transaction, and the sampler learns of other processes' points.
        """
        number = self._next_number()
        unique = _enumerates(search)
        if unique:
            _share_claims(self, search)
        while True:
            request = search.ask(number)
            trial = Trial(number=number, user_attrs=dict(request.attrs))
            budget = request.budget if request.budget is not None else (self.resource[1] if self.resource else None)
            if self.resource is not None:
                trial.user_attrs["budget"] = budget
            if request.resume_from is not None:
                trial.user_attrs["continues"] = request.resume_from
            if self.storage.start_trial(self.study_id, trial, self.space, request.params, unique=unique):
                break
            if search.is_exhausted():
                # Every point left was taken by another process since the loop last looked: run this one again
                # rather than fail, and say so on the trial.
                trial.user_attrs["duplicate"] = True
                self.storage.start_trial(self.study_id, trial, self.space, request.params)
                break
        self.trials.append(trial)
        emit(TrialStarted(self, trial))
        return trial, request

    def _trial_limit(self) -> tuple[float | None, str]:
        """Seconds the next trial may run, and which limit that is: ``--trial-timeout``, or what is left of the
        study's ``--timeout`` (so the study ends on time even if a trial never returns)."""
        timeout, trial_timeout = getattr(self, "_limits", (None, None))
        left = None if timeout is None else max(timeout - (time.monotonic() - self._started), 0.0)
        if left is not None and (trial_timeout is None or left < trial_timeout):
            return left, "the study's --timeout"
        return trial_timeout, "--trial-timeout"

    def _run_one(self, objective: Objective, search: Scheduler, emit: _Emitter, repeats: int = 1) -> Trial:
        trial, request = self._start_trial(search, emit)
        limit, why = self._trial_limit()
        run_trial(
            objective,
            trial,
            self.space,
            request.params,
            search,
            budget=trial.user_attrs.get("budget"),
            snapshots=self.snapshots,
            resume_from=request.resume_from,
            repeats=repeats,
            on_report=lambda step, value: emit(TrialReported(self, trial, step, value)),
            timeout=limit,
            timeout_reason=why,
            constraints=self.constraint_checks,
            objectives=self.objectives,
        )
        self._complete(trial, search, objective, emit)
        return trial

    def _complete(self, trial: Trial, search: Scheduler, objective: Objective, emit: _Emitter) -> bool:
        """A finished trial: store it, tell the scheduler (without the held-out value), update the best, report.

        Returns whether it is the new best trial.
        """
        self.storage.update_trial(self.study_id, trial, self.space)
        search.tell(_without_held_out(trial))
        for number in search.released():
            self.snapshots.drop(number)
        is_best = self._update_best(trial)
        hook = getattr(objective, "trial_finished", None)
        if hook is not None:
            hook(trial, is_best)
        emit(TrialFinished(self, trial, is_best))
        return is_best

    def _repeated_mistake(self, trial: Trial) -> bool:
        """A cell whose objective is None before any trial completed makes a mistake every trial would repeat
        (its last line is ``print(...)``): one trial is enough to say so, not ``max_failures`` full trainings.
        ``max_failures=None`` (never stop on failures) keeps going."""
        mistake = none_objective(trial) or undefined_name(trial)
        return mistake and not any(t.state is TrialState.COMPLETE for t in self.trials)

    def _optimize_parallel(
        self,
        objective: Objective,
        search: Scheduler,
        emit: _Emitter,
        executor: Any,
        *,
        n_trials: int | None,
        timeout: float | None,
        max_failures: int | None,
        repeats: int,
        threads: int | None,
        done: int,
    ) -> tuple[FinishReason, str]:
        """The loop with several trials in flight on an executor's workers; returns why it ended.

        Trials are asked while there is room (``executor.capacity``) and the budget allows; reports from the workers
        reach the scheduler (which may stop a trial) and the reporters; each finished trial is stored and told at
        once. A stop request, the time limit, the strategy's end or too many failures stop the asking, and the loop
        waits for the trials in flight (a second stop request cancels them). A cluster with no worker left pauses
        the study until workers come back.
        """
        from hpmagic.execution._dask import TrialJob, unpicklable

        for name, dim in self.space.items():
            why = unpicklable(dim)  # every trial's job carries the space to its worker
            if why is not None:
                raise OptionError(
                    f"parameter {name!r} = tune.{dim.describe()} cannot be sent to worker processes ({why}): choose "
                    "among picklable values (names the objective maps to objects), or run without "
                    "n_jobs/--jobs/--cluster"
                )
        ship = getattr(objective, "for_workers", None)
        worker_objective, data = ship() if ship is not None else (objective, {})
        executor.start(worker_objective, data, sign=self.direction.sign)
        running: dict[int, Trial] = {}
        closing: tuple[FinishReason, str] | None = None
        failures_in_row, first_failure = 0, None
        start = time.monotonic()
        self._started = start
        checked_workers, lost_workers = 0.0, False
        while True:
            self._poll_control()
            now = time.monotonic()
            if closing is None:
                if self._stop_requested:
                    closing = (FinishReason.STOPPED, "stopped on request; completed trials are kept")
                elif n_trials is not None and done >= n_trials:
                    closing = (FinishReason.BUDGET, f"{done} of {n_trials} trials done")
                elif timeout is not None and now - start >= timeout:
                    closing = (FinishReason.TIMEOUT, f"time limit of {_seconds(timeout)} reached")
                elif not running and search.is_exhausted():
                    closing = (
                        FinishReason.EXHAUSTED,
                        f"the {self.strategy_name} strategy has tried every configuration",
                    )
            if self._stop_now and running:
                for number in executor.cancel_all():
                    trial = running.pop(number)
                    _finish(trial, TrialState.INTERRUPTED, error="cancelled by a second stop request")
                    self.storage.update_trial(self.study_id, trial, self.space)
                    emit(TrialFinished(self, trial, False))
            if closing is not None and not running:
                return closing
            if now - checked_workers >= 1.0:
                checked_workers = now
                for number, address in executor.placements().items():
                    if number in running:  # the dashboard shows where each running trial runs
                        running[number].user_attrs["worker"] = address
                if executor.workers() == 0 and not lost_workers:
                    lost_workers = True
                    self.notes.append("the cluster lost all its workers: the study waited for workers to come back")
                    emit(StudyPaused(self))
                elif lost_workers and executor.workers() > 0:
                    lost_workers = False
                    emit(StudyUnpaused(self))
            if self._pause_requested and not self._stop_requested and not running:
                start += self._wait_while_paused(emit)
                self._started = start
                continue
            may_ask = closing is None and not self._pause_requested and not lost_workers
            while (
                may_ask
                and len(running) < executor.capacity
                and (n_trials is None or done + len(running) < n_trials)
                and not search.is_exhausted()
            ):
                trial, request = self._start_trial(search, emit)
                restored = self.snapshots.raw(request.resume_from) if request.resume_from is not None else None
                limit, why = self._trial_limit()
                executor.submit(
                    TrialJob(
                        number=trial.number,
                        params=request.params,
                        attrs=dict(trial.user_attrs),
                        space=self.space,
                        dynamic=search.dynamic_policy(trial),
                        budget=trial.user_attrs.get("budget"),
                        resume_from=request.resume_from,
                        restored=restored,
                        repeats=repeats,
                        threads=threads,
                        started_at=trial.started_at,
                        timeout=limit,
                        timeout_reason=why,
                        constraints=tuple(self.constraint_checks),
                        objectives=self.objectives,
                    )
                )
                running[trial.number] = trial
            reports, finished = executor.poll(0.05)
            for number, step, value in reports:
                reporting = running.get(number)
                if reporting is None:
                    continue  # a late report of a trial that has already finished
                reporting.intermediate.append((int(step), float(value)))
                emit(TrialReported(self, reporting, int(step), float(value)))
                if search.report(reporting, int(step), float(value)):
                    executor.stop_trial(number)
            for outcome in finished:
                if outcome.number not in running:
                    continue
                trial = running.pop(outcome.number)
                if outcome.trial is None:
                    _finish(trial, TrialState.FAILED, error=outcome.lost or "the trial's worker was lost")
                else:
                    _adopt(trial, outcome.trial)
                if outcome.snapshot is not None:
                    self.snapshots.put_raw(trial.number, *outcome.snapshot)
                is_best = self._complete(trial, search, objective, emit)
                try:
                    variables = executor.keep(trial.number, is_best)
                except Exception as exc:  # noqa: BLE001 - the study is safe; only "use best" loses its variables
                    variables = None
                    self.notes.append(f"could not fetch trial {trial.number}'s variables: {_one_line(exc)}")
                keep = getattr(objective, "keep_variables", None)
                if variables is not None and keep is not None:
                    keep(trial.number, variables)
                done += trial.state.finished
                if closing is None and max_failures is not None and self._repeated_mistake(trial):
                    closing = (FinishReason.FAILURES, _mistake_message(trial))
                    for number in executor.cancel_all():  # every trial in flight makes the same mistake
                        cancelled = running.pop(number)
                        _finish(cancelled, TrialState.INTERRUPTED, error="cancelled: the study stopped on a mistake")
                        self.storage.update_trial(self.study_id, cancelled, self.space)
                        emit(TrialFinished(self, cancelled, False))
                if trial.state is TrialState.FAILED:
                    failures_in_row += 1
                    first_failure = first_failure or trial
                    if closing is None and max_failures is not None and failures_in_row >= max_failures:
                        closing = (
                            FinishReason.FAILURES,
                            f"stopped after {failures_in_row} failed trials in a row. The first failure (trial "
                            f"{first_failure.number}) was:\n{first_failure.traceback or first_failure.error}",
                        )
                else:
                    failures_in_row, first_failure = 0, None


def _mistake_message(trial: Trial) -> str:
    return f"stopped after trial {trial.number}: {trial.error}"


def _adopt(trial: Trial, ran: Trial) -> None:
    """Copy what a trial that ran elsewhere (on a worker) recorded into the driver's record of it."""
    fields = ("params", "state", "value", "error", "traceback", "stdout", "stderr", "intermediate")
    for name in (*fields, "started_at", "finished_at"):
        setattr(trial, name, getattr(ran, name))
    trial.violations = ran.violations
    trial.values = ran.values
    trial.user_attrs.update(ran.user_attrs)


def _enumerates(search: Scheduler) -> bool:
    """Whether the search draws from a finite set (a grid): then no configuration should run twice, even across
    processes sharing the study."""
    sampler = getattr(search, "sampler", None)
    return isinstance(sampler, Sampler) and sampler.ends_by_itself


def _share_claims(study: Study, search: Scheduler) -> None:
    """Let an enumerating sampler see the configurations other processes take in this study, as it goes."""
    sampler = getattr(search, "sampler", None)
    share = getattr(sampler, "share_claims", None)
    if share is None:
        return
    last = [0]

    def claimed() -> list[dict[str, Any]]:
        last[0], params = study.storage.claimed_elsewhere(study.study_id, last[0], study.space)
        return params

    share((id(study.storage), study.study_id), claimed)


def as_scheduler(strategy: Sampler | Scheduler) -> Scheduler:
    """What the loop drives: a scheduler as it is, a bare sampler wrapped to run each proposal once."""
    if isinstance(strategy, Scheduler):
        return strategy
    if isinstance(strategy, Sampler):
        return FIFOScheduler(strategy)
    raise OptionError(f"expected a sampler or a scheduler (hpmagic.strategies), got {type(strategy).__name__}")


# -- creating and loading studies ------------------------------------------------------------------------------------


def _without_held_out(trial: Trial) -> Trial:
    """The trial as strategies see it: without its held-out test value, so no search can select on it."""
    if "test" not in trial.user_attrs:
        return trial
    attrs = {k: v for k, v in trial.user_attrs.items() if k != "test"}
    return dataclasses.replace(trial, user_attrs=attrs)


def create_study(
    *,
    space: Space,
    name: str | None = None,
    storage: str | os.PathLike[str] | Storage | None = None,
    direction: str = "minimize",
    strategy: str = "random",
    seed: int | None = None,
    resume: bool = False,
    source: str | None = None,
    options: dict[str, Any] | None = None,
    objective_names: Sequence[str] | None = None,
    directions: Sequence[str] | None = None,
    primary_index: int = 0,
    constraints: Sequence[str] = (),
) -> Study:
    """A new study, or with ``resume=True`` the latest one of that name (a new one if there is none).

    A new study never overwrites an old one: an existing name gets a suffix, ``name (2)``. A multi-objective study
    gives ``objective_names`` and ``directions`` (one each, in order) and ``primary_index``; ``direction`` is then
    the primary's.
    """
    names = tuple(objective_names) if objective_names is not None else ("value",)
    if directions is not None:
        dirs = tuple(Direction.parse(d) for d in directions)
        if len(dirs) != len(names):
            raise OptionError(f"{len(dirs)} direction(s) given for {len(names)} objective(s) {list(names)!r}")
        if not 0 <= primary_index < len(names):
            raise OptionError(f"primary objective index {primary_index!r} is not one of {list(names)!r}")
        direction = dirs[primary_index]
    direction = Direction.parse(direction)
    dirs = tuple(Direction.parse(d) for d in directions) if directions is not None else (direction,) * len(names)
    check_seed(seed)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise OptionError(f"a study name must be a non-empty string, got {name!r}")
    store = open_storage(storage)
    if store.path != ":memory:":
        remember_store(store.path)  # so the JupyterLab extension lists it, wherever it is
    base = name or "study"

    def create(unique: bool) -> StudyRecord:
        return store.create_study(
            base,
            unique=unique,
            direction=direction,
            strategy=strategy,
            seed=int(seed) if seed is not None else secrets.randbits(31),
            space=space,
            source=source,
            options=options,
            objective_names=names,
            directions=[str(d) for d in dirs],
            primary_index=primary_index,
            constraints=constraints,
        )

    if resume:
        record = store.latest_study(base)
        if record is None:
            try:
                return Study(create(unique=False), store, space, [])
            except StorageError:
                # Another process started it since: continue that one, as --resume in both asked.
                record = store.latest_study(base)
                if record is None:
                    raise
        if record is not None:
            wanted = _objectives_text(names, dirs)
            had = _objectives_text(record.objective_names, record.directions)
            if len(names) > 1 or len(record.objective_names) > 1:
                if had != wanted:
                    raise OptionError(
                        f"study {record.name!r} has objectives {had}; resuming it with {wanted} would mix them: "
                        "drop --resume or use the same objectives and directions"
                    )
            elif record.direction != direction:
                raise OptionError(
                    f"study {record.name!r} was run to {record.direction}; resuming it to {direction} would mix "
                    "the two: drop --resume or use the same direction"
                )
            if not same_constraints(record.constraints, constraints):
                raise OptionError(
                    f"study {record.name!r} has constraints {list(record.constraints)!r}; resuming it with "
                    f"{list(constraints)!r} would mix them: drop --resume or give the same constraints"
                )
            if record.primary_index != primary_index and len(names) > 1:
                raise OptionError(
                    f"study {record.name!r} has primary objective {record.objective_names[record.primary_index]!r}; "
                    f"resuming it with {names[primary_index]!r} would mix them: drop --resume or use the same --primary"
                )
            # Only trials whose process is gone (heartbeat rule): another kernel may be running this study too.
            store.mark_running_interrupted(record.id)
            study = Study(record, store, space, store.load_trials(record.id, space))
            if seed is not None:
                study.seed = int(seed)
            return study
    return Study(create(unique=True), store, space, [])


def _objectives_text(names: Sequence[str], directions: Sequence[str]) -> str:
    return ", ".join(f"{n} ({d})" for n, d in zip(names, directions, strict=True))


def load_study(name: str, storage: str | os.PathLike[str] | Storage, space: Space | None = None) -> Study:
    """Open a stored study by exact name (for browsing; ``space`` decodes stored choice objects).

    A path must be an existing store: a mistyped one is an error, not a new empty store left behind.
    """
    from hpmagic.storage import space_from_json

    if isinstance(storage, str | os.PathLike) and str(storage) != ":memory:":
        if not os.path.isfile(os.path.expanduser(storage)):
            raise OptionError(f"there is no study store at {str(storage)!r}: check the path")
    store = open_storage(storage)
    record = store.get_study(name)
    if record is None:
        known = ", ".join(repr(s["name"]) for s in store.list_studies()[:10]) or "none"
        raise OptionError(f"no study named {name!r} in {store.path!r} (studies there: {known})")
    space = space if space is not None else space_from_json(record.space)
    return Study(record, store, space, store.load_trials(record.id, space))


# -- helpers ---------------------------------------------------------------------------------------------------------


def _seconds(s: float) -> str:
    return f"{s:g}s" if s < 120 else f"{s / 60:g}m"


def check_seed(seed: Any) -> None:
    """An OptionError unless ``seed`` is None or an integer from 0 to 2**63 - 1 (what the store keeps)."""
    if seed is not None and (not is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise OptionError(f"seed must be an integer from 0 to 2**63 - 1, got {_short(seed)}")


def check_seconds(name: str, value: Any) -> None:
    """An OptionError unless ``value`` is None or a number of seconds in (0, ten years]."""
    if value is not None and (not is_real(value) or not 0 < value <= MAX_SECONDS):
        raise OptionError(f"{name} must be a number of seconds above 0 and at most ten years, got {_short(value)}")


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def check_budget(n_trials: Any, timeout: Any, max_failures: Any, threads: Any) -> None:
    def positive_int(value: Any) -> bool:
        return is_int(value) and value > 0

    if n_trials is not None and not (positive_int(n_trials) and n_trials <= MAX_TRIALS):
        raise OptionError(f"n_trials must be an integer from 1 to {MAX_TRIALS:,}, got {_short(n_trials)}")
    check_seconds("timeout", timeout)
    if max_failures is not None and not positive_int(max_failures):
        raise OptionError(f"max_failures must be a positive integer, got {max_failures!r}")
    if threads is not None and not (positive_int(threads) and threads <= 4096):
        raise OptionError(f"threads must be a positive integer (or None for no limit), got {threads!r}")


def check_resource(budget: Any) -> tuple[int, int]:
    """A valid ``(min, max)`` resource range, or an OptionError."""
    try:
        low, high = budget
    except (TypeError, ValueError):
        raise OptionError(f"budget must be a (min, max) pair of steps, got {budget!r}") from None
    if not all(is_int(v) for v in (low, high)) or not 1 <= low <= high:
        raise OptionError(f"budget must be two integers with 1 <= min <= max, got {budget!r}")
    return int(low), int(high)


def check_reporters(reporters: Any) -> list[Callable[[Event], None]]:
    """The reporters as a list: one callable, None, or an iterable of callables; else an OptionError."""
    if reporters is None:
        return []
    if callable(reporters):
        return [reporters]
    try:
        out = list(reporters)
    except TypeError:
        out = [reporters]
    bad = [r for r in out if not callable(r)]
    if bad:
        raise OptionError(f"reporters takes callables of an event (or a list of them), got {_short(bad[0])}")
    return out


class _Emitter:
    """Calls each reporter; a reporter that raises is dropped with a warning rather than ending the study."""

    def __init__(self, reporters: Any) -> None:
        self.reporters: list[Callable[[Event], None]] = check_reporters(reporters)

    def __call__(self, event: Event) -> None:
        for reporter in list(self.reporters):
            try:
                reporter(event)
            except Exception as exc:  # noqa: BLE001 - the display must never cost the study
                self.reporters.remove(reporter)
                import warnings

                warnings.warn(f"hpmagic: a reporter failed and was turned off: {_one_line(exc)}", stacklevel=2)


def known_params(trials: Sequence[Trial]) -> list[str]:
    """Every parameter name used by the trials, in order of first use."""
    names: list[str] = []
    for t in trials:
        names.extend(n for n in t.params if n not in names)
    return names

"""Trials on Dask workers: ``--jobs N`` (a local cluster of worker processes) and ``--cluster ADDRESS``.

The driver (the kernel, or a script) keeps the study: it asks the scheduler, writes the store and reports. Each trial
is one Dask task that runs ``run_trial`` on a worker against the objective, shipped once per study (a cell's code and
the notebook variables it reads; large ones scattered once). While a trial runs, ``tune.report`` sends its values
to the driver through a Dask ``Queue``; the driver's scheduler may stop it, and the worker learns so at its next
report from a Dask ``Variable``. The task's result stays on the worker: the driver fetches the trial record, and the
trial's variables (its fitted model) only for the best trial.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.snapshots import SnapshotStore
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial

__all__ = ["DaskExecutor", "TrialJob", "WorkerLost", "unpicklable"]

#: Objects whose pickle is larger than this are scattered to the workers once per study, not sent per trial.
SCATTER_BYTES = 1 << 20
#: How often a trial whose cluster lost every worker is submitted again before it counts as lost.
MAX_RESENDS = 3


class WorkerLost(RuntimeError):
    """The worker running a trial died (and the retry did too)."""


@dataclass
class TrialJob:
    """Everything a worker needs to run one trial (small: the objective and its data travel once per study)."""

    number: int
    params: dict[str, Any]
    attrs: dict[str, Any]
    space: Space
    dynamic: Callable[[Trial, str, Dimension], Any]
    budget: int | None = None
    resume_from: int | None = None
    restored: tuple[int, bytes] | None = None
    repeats: int = 1
    threads: int | None = 1
    started_at: float = field(default_factory=time.time)
    timeout: float | None = None
    timeout_reason: str = "--trial-timeout"
    constraints: tuple[Any, ...] = ()  # hpmagic.constraints.Constraint: evaluated after the trial, on the worker
    objectives: Any = None  # hpmagic.objectives.Objectives of a multi-objective study: the worker reads every value


@dataclass
class Done:
    """A trial that finished on a worker (or whose worker died)."""

    number: int
    trial: Trial | None
    snapshot: tuple[int, bytes] | None
    lost: str | None = None


class DaskExecutor:
    """Runs trials as tasks on a ``dask.distributed.Client``'s workers.

    Args:
        client: the client of a local or remote cluster.
        max_in_flight: trials at once (default: the cluster's worker threads).
        resources: Dask worker resources every trial claims, e.g. ``{"GPU": 1}``.
    """

    def __init__(
        self,
        client: Any,
        max_in_flight: int | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> None:
        self.client = client
        self.max_in_flight = max_in_flight
        self.resources = dict(resources) if resources else None
        self.sign = 1.0
        self._token = secrets.token_hex(6)
        self._running: dict[Any, int] = {}  # the task of each running trial -> its number
        self._where: dict[int, str] = {}  # finished trial number -> address of the worker that ran it
        self._stopped: set[int] = set()
        self._objective: Any = None
        self._data: dict[str, Any] = {}
        self._shipped: tuple[Any, dict[str, Any]] = (None, {})  # what start() scattered, to scatter again
        self._jobs: dict[int, TrialJob] = {}  # the job of each trial in flight, to submit again
        self._orphans: list[int] = []  # trials whose inputs left with the last workers: submitted again later
        self._resent: dict[int, int] = {}
        self._drained = 0.0

    # -- life cycle ---------------------------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """How many trials run at once."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return max(1, sum(self.client.nthreads().values()))

    def workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def start(self, objective: Any, data: Mapping[str, Any] | None = None, sign: float = 1.0) -> None:
        """Send the objective (and its large data, scattered once) to the workers, and open the message channels.

        ``sign`` turns values into losses: each worker keeps the variables of its own best trial.
        """
        from distributed import Queue, Variable

        self.sign = sign
        self._shipped = (objective, dict(data or {}))
        self._scatter()
        self._queue = Queue(f"hpmagic-reports-{self._token}", client=self.client)
        self._stop = Variable(f"hpmagic-stop-{self._token}", client=self.client)
        self._stop.set([])

    def _scatter(self) -> None:
        """Send the objective and the large data to the workers once for the study.

        Scattered data has no recipe: if the last workers holding it leave, the trials that need it are cancelled by
        Dask; they are submitted again, with the data scattered again, when workers return.
        """
        objective, data = self._shipped
        self._data = {}
        for name, value in data.items():
            big = _pickled_size(value) > SCATTER_BYTES
            self._data[name] = self.client.scatter(value, broadcast=True, hash=False) if big else value
        try:
            [self._objective] = self.client.scatter([objective], broadcast=True, hash=False)
        except Exception:
            why = unpicklable(objective)
            if why is None:
                raise
            raise OptionError(
                f"the objective cannot be sent to worker processes ({why}): create what it holds (a lock, a "
                "connection, an open file) inside it, or run without n_jobs/--jobs/--cluster"
            ) from None

    def submit(self, job: TrialJob) -> None:
        """Start trial ``job.number`` on a worker (one that has the resources, if any are asked)."""
        self._jobs[job.number] = job
        future = self.client.submit(
            _run_on_worker,
            self._objective,
            self._data,
            job,
            self._queue.name,
            self._stop.name,
            self._token,
            self.sign,
            key=f"hpmagic-trial-{self._token}-{job.number}",
            pure=False,
            resources=self.resources,
        )
        self._running[future] = job.number

    @property
    def running(self) -> list[int]:
        """Numbers of the trials in flight (those waiting for workers to come back included)."""
        return sorted([*self._running.values(), *self._orphans])

    def poll(self, timeout: float = 0.05) -> tuple[list[tuple[int, int, float]], list[Done]]:
        """Reports received and trials finished since the last poll (waits up to ``timeout`` for a finish)."""
        done: list[Done] = []
        if self._running:
            # A future's status is kept up to date by the client: checking it costs no round trip.
            deadline = time.monotonic() + timeout
            finished = [f for f in self._running if f.done()]
            while not finished and time.monotonic() < deadline:
                time.sleep(0.002)
                finished = [f for f in self._running if f.done()]
            ok = [f for f in finished if f.status == "finished"]
            results = self.client.gather(ok, errors="skip") if ok else []
            by_future = dict(zip(ok, results, strict=False))
            for future in finished:
                number = self._running.pop(future)
                cancelled = future.status == "cancelled"
                if cancelled and self._resent.get(number, 0) < MAX_RESENDS:
                    # Not cancelled by us (cancel_all forgets its trials first): scattered data left with the last
                    # workers that held it, so the trial could not run. It is submitted again when workers return.
                    self._orphans.append(number)
                    continue
                self._jobs.pop(number, None)
                if future in by_future:
                    record = by_future[future]
                    done.append(Done(number, record["trial"], record["snapshot"]))
                    self._where[number] = record["worker"]
                elif cancelled:
                    done.append(Done(number, None, None, lost="the workers holding the study's data kept leaving"))
                else:
                    done.append(Done(number, None, None, lost=_lost_reason(_exception_of(future))))
        if self._orphans and self.workers() > 0:
            self._resend_orphans()
        reports: list[tuple[int, int, float]] = []
        now = time.monotonic()
        if now - self._drained >= 0.02:
            self._drained = now
            reports = self._drain()
        return reports, done

    def _resend_orphans(self) -> None:
        if any(getattr(f, "status", "finished") != "finished" for f in [self._objective, *self._data.values()]):
            try:
                self._scatter()
            except Exception:  # noqa: BLE001 - the returning workers are not ready yet: tried again at the next poll
                return
        orphans, self._orphans = self._orphans, []
        for number in orphans:
            self._resent[number] = self._resent.get(number, 0) + 1
            self.submit(self._jobs[number])

    def _drain(self) -> list[tuple[int, int, float]]:
        try:
            items = self._queue.get(batch=True)
        except Exception:  # noqa: BLE001 - the queue is gone (cluster closing): nothing to report
            return []
        return [(int(n), int(step), float(value)) for n, step, value in items]

    def placements(self) -> dict[int, str]:
        """Which worker runs each trial in flight now (one question to the scheduler)."""
        prefix = f"hpmagic-trial-{self._token}-"
        out: dict[int, str] = {}
        try:
            processing = self.client.processing()
        except Exception:  # noqa: BLE001 - unknown for now; asked again later
            return out
        for address, keys in processing.items():
            for key in keys:
                if isinstance(key, str) and key.startswith(prefix):
                    out[int(key[len(prefix) :])] = address
        return out

    def stop_trial(self, number: int) -> None:
        """Tell trial ``number`` to stop at its next report (it is then pruned)."""
        self._stopped.add(number)
        self._stop.set(sorted(self._stopped))

    def cancel_all(self) -> list[int]:
        """Cancel every running trial; returns their numbers (the driver marks them interrupted)."""
        numbers = self.running
        if self._running:
            self.client.cancel(list(self._running))
        self._running.clear()
        self._orphans.clear()
        return numbers

    def keep(self, number: int, is_best: bool) -> dict[str, Any] | None:
        """The variables of a trial that is the new best, fetched from the worker that ran it (each worker keeps only
        the variables of its own best trial, so memory stays bounded and only the best one crosses the network)."""
        address = self._where.pop(number, None)
        if not is_best or not address:
            return None
        answer = self.client.run(_take_variables, self._token, number, workers=[address])
        return answer.get(address)

    def close(self) -> None:
        """Release everything this study holds on the cluster (the cluster itself stays for the next study)."""
        self.cancel_all()
        self._where.clear()
        for channel in (getattr(self, "_queue", None), getattr(self, "_stop", None)):
            if channel is not None:
                try:
                    channel.close() if hasattr(channel, "close") else channel.delete()
                except Exception:  # noqa: BLE001 - closing on a cluster that went away
                    pass
        self._objective = None
        self._data = {}
        try:
            self.client.run(_forget_study, self._token)
        except Exception:  # noqa: BLE001 - the cluster went away: nothing left to forget
            pass


# -- on the worker -----------------------------------------------------------------------------------------------------


class _WorkerPolicy:
    """What a trial on a worker asks of the search: run-time marker values (decided by the driver's policy, shipped
    with the job) and whether to stop (reports go to the driver, its decisions come back through a Variable)."""

    def __init__(self, dynamic: Callable[[Trial, str, Dimension], Any], queue_name: str, stop_name: str) -> None:
        self.dynamic = dynamic
        self.queue_name, self.stop_name = queue_name, stop_name
        self._queue: Any = None
        self._stop: Any = None

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        return self.dynamic(trial, name, dim)

    def report(self, trial: Trial, step: int, value: float) -> bool:
        from distributed import Queue, Variable

        if self._queue is None:  # opened on the first report: trials that never report pay nothing
            self._queue, self._stop = Queue(self.queue_name), Variable(self.stop_name)
        self._queue.put((trial.number, step, value))
        try:
            stopped = self._stop.get(timeout=5)
        except Exception:  # noqa: BLE001 - no answer: keep training rather than fail the trial
            return False
        return trial.number in (stopped or ())


#: Per worker process: study token -> (loss, trial number, variables) of the best trial this worker ran.
_BEST_HERE: dict[str, tuple[float, int, dict[str, Any]]] = {}


def _run_on_worker(
    objective: Any,
    data: dict[str, Any],
    job: TrialJob,
    queue_name: str,
    stop_name: str,
    token: str,
    sign: float,
) -> dict[str, Any]:
    """One trial on a worker: returns its record and latest snapshot; keeps its variables if it is this worker's
    best so far (the driver fetches them if it is the study's best)."""
    from distributed import get_worker

    from hpmagic.execution._run import run_trial, thread_limit
    from hpmagic.trial import TrialState

    policy = _WorkerPolicy(job.dynamic, queue_name, stop_name)
    trial = Trial(number=job.number, user_attrs=dict(job.attrs))  # started now: it may have queued for a worker
    snapshots = SnapshotStore()
    if job.restored is not None and job.resume_from is not None:
        snapshots.put_raw(job.resume_from, *job.restored)
    bind = getattr(objective, "bind", None)
    if bind is not None:
        bind(data)
    with thread_limit(job.threads):
        ctx = run_trial(
            objective,
            trial,
            job.space,
            job.params,
            policy,
            budget=job.budget,
            snapshots=snapshots,
            resume_from=job.resume_from,
            repeats=job.repeats,
            timeout=job.timeout,
            timeout_reason=job.timeout_reason,
            constraints=job.constraints,
            objectives=job.objectives,
        )
    try:
        address = get_worker().address
    except ValueError:
        address = ""
    trial.user_attrs["worker"] = address
    # The study's best is chosen among feasible trials only: an infeasible one's variables are never wanted.
    if trial.state is TrialState.COMPLETE and trial.value is not None and trial.feasible:
        loss = sign * trial.value
        best = _BEST_HERE.get(token)
        if best is None or loss < best[0]:
            assigned = getattr(objective, "assigned", None)
            variables = assigned(ctx.namespace) if assigned is not None and ctx.namespace is not None else {}
            _BEST_HERE[token] = (loss, job.number, variables)
    snapshot = snapshots.raw(job.number)
    snapshots.close()
    return {"trial": trial, "snapshot": snapshot, "worker": address}


def _take_variables(token: str, number: int) -> dict[str, Any] | None:
    """On a worker: the variables of trial ``number``, if it is the best trial this worker ran for the study."""
    best = _BEST_HERE.get(token)
    return best[2] if best is not None and best[1] == number else None


def _forget_study(token: str) -> None:
    """On a worker: drop what it kept for a study that ended."""
    _BEST_HERE.pop(token, None)


def _exception_of(future: Any) -> BaseException:
    try:
        error: BaseException = future.exception()
        return error
    except BaseException as exc:  # noqa: BLE001 - a cancelled future raises instead of returning its error
        return exc


def unpicklable(value: Any) -> str | None:
    """Why ``value`` cannot be sent to another process (the pickling error, on one line), or None if it can."""
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the same problem for the user
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'not picklable'}"
    return None


def _pickled_size(value: Any) -> int:
    import cloudpickle

    try:
        return len(cloudpickle.dumps(value))
    except Exception:  # noqa: BLE001 - checked (with a clear error) before the study starts
        return 0


def _lost_reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "the worker running this trial died, and so did the retry on another worker"
    if name == "CancelledError":
        return "cancelled"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"the trial could not run on a worker ({name}: {first})"

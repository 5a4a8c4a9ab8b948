"""Running one trial: the same code in the kernel and on a Dask worker.

``run_trial`` calls the objective with a ``TrialContext`` (markers ask it for values, ``tune.report`` goes through it),
captures what the trial prints, and turns what the objective returned or raised into the trial's state and value.
Nothing here touches the store, the events or the strategy's bookkeeping: the study loop does that with the result,
wherever the trial ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import numbers
import os
import threading
import time
import traceback as tb
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from hpmagic.capture import capture_output
from hpmagic.constraints import MARGINS, Constraint, ConstraintError, function_namespace, violations_of
from hpmagic.context import TrialContext, TrialPruned
from hpmagic.objectives import Objectives
from hpmagic.snapshots import SnapshotStore
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial, TrialState

__all__ = [
    "NONE_OBJECTIVE",
    "Policy",
    "TrialTimeout",
    "clip",
    "finish",
    "mean_and_std",
    "none_objective",
    "objective_value",
    "one_line",
    "run_trial",
    "thread_limit",
    "time_limit",
    "user_traceback",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: How much of each stream a trial printed is kept with it (in memory and in the store): its end.
OUTPUT_KEPT = 1 << 20

#: How long a trial's one-line error may be: an exception's message of megabytes stays whole in its traceback only.
ERROR_KEPT = 500


class TrialTimeout(BaseException):
    """Raised inside a trial's thread when its time is up (``--trial-timeout``, or the study's ``--timeout``).

    A BaseException, so that ``except Exception`` in the user's code does not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[list[bool]]:
    """Interrupt this thread with ``TrialTimeout`` after ``seconds`` (None: never); yields ``[fired]``.

    The exception is delivered at the thread's next Python instruction, so a long call into C (one big fit) ends
    when it returns to Python; a loop of epochs ends within one epoch.
    """
    fired = [False]
    if seconds is None:
        yield fired
        return
    thread_id = threading.get_ident()
    lock = threading.Lock()
    active = [True]

    def fire() -> None:
        with lock:
            if active[0]:
                fired[0] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(TrialTimeout))

    timer = threading.Timer(max(seconds, 0.0), fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        with lock:
            active[0] = False
        timer.cancel()
        if fired[0]:
            # Fired just as the block ended: drop an exception still pending, so it never hits the caller's code.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


class Policy(Protocol):
    """What a running trial asks of the search: values of markers created at run time, and whether to stop."""

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any: ...

    def report(self, trial: Trial, step: int, value: float) -> bool: ...


def run_trial(
    objective: Callable[[TrialContext], Any],
    trial: Trial,
    space: Space,
    proposed: dict[str, Any],
    policy: Policy,
    *,
    budget: int | None = None,
    objectives: Objectives | None = None,
    snapshots: SnapshotStore | None = None,
    resume_from: int | None = None,
    repeats: int = 1,
    on_report: Callable[[int, float], None] | None = None,
    timeout: float | None = None,
    timeout_reason: str = "--trial-timeout",
    output_limit: int = OUTPUT_KEPT,
    constraints: Sequence[Constraint] = (),
) -> TrialContext:
    """Run ``trial`` to its end and fill in its state, value, error, output and intermediate values.

    Exceptions from the user's code (and ``SystemExit``) fail this trial only; ``TrialPruned`` prunes it; a
    ``KeyboardInterrupt`` is re-raised after the output is saved. ``timeout`` (seconds) interrupts a trial that
    runs longer: it fails, with its output so far and ``user_attrs["timed_out"]``, naming ``timeout_reason``.
    Of what the trial prints, the last ``output_limit`` characters per stream are kept (a note says what was cut).
    ``constraints`` are evaluated after each repetition, in the trial's namespace (or, for a plain function, over
    its parameters and result): a complete trial keeps their margins' mean over the repeats and its violations; a
    constraint that cannot be evaluated fails the trial with its reason.
    Returns the context (its ``namespace`` holds the trial's variables, for the cell objective).
    """
    ctx = TrialContext(
        trial,
        space,
        proposed,
        policy,  # type: ignore[arg-type]  # a scheduler, or a worker's proxy of one
        on_report=on_report,
        budget=budget,
        snapshots=snapshots,
        resume_from=resume_from,
    )
    if ctx.start_step:
        trial.user_attrs["start"] = ctx.start_step
    raws: list[Any] = []
    margins: list[list[float]] = []
    error: BaseException | None = None
    with capture_output() as (out, err):
        try:
            with ctx, time_limit(timeout):
                for repeat in range(repeats):
                    ctx.begin_repeat(repeat)
                    raws.append(objective(ctx))
                    if constraints:
                        margins.append(_margins(constraints, ctx, raws[-1]))
        except KeyboardInterrupt:
            trial.stdout, trial.stderr = kept(out.getvalue(), output_limit), kept(err.getvalue(), output_limit)
            if not trial.params:
                trial.params = dict(proposed)  # interrupted before any marker ran: keep what it was to try
            raise
        except BaseException as exc:  # noqa: BLE001 - whatever the user's code raises fails only this trial
            error = exc
    if isinstance(error, TrialTimeout):
        trial.user_attrs["timed_out"] = True
        finish(trial, TrialState.FAILED, error=f"timed out after {timeout:.3g} s ({timeout_reason})")
    elif isinstance(error, ConstraintError):
        cause = error.__cause__
        finish(trial, TrialState.FAILED, error=str(error), traceback=user_traceback(cause) if cause else None)
    elif isinstance(error, TrialPruned):
        last = trial.intermediate[-1][1] if trial.intermediate else None
        finish(trial, TrialState.PRUNED, value=last, error=one_line(error))
    elif error is not None:
        finish(trial, TrialState.FAILED, error=one_line(error), traceback=user_traceback(error))
    else:
        try:
            finish_values(trial, raws, ctx.test_values, objectives)
        except BaseException as exc:  # noqa: BLE001 - a value whose methods raise is the user's problem, not ours
            finish(trial, TrialState.FAILED, error=f"the objective's value could not be read: {one_line(exc)}")
        if margins and trial.state is TrialState.COMPLETE:
            mean = [sum(column) / len(column) for column in zip(*margins, strict=True)]
            trial.user_attrs[MARGINS] = mean
            trial.violations = violations_of(mean)
    trial.stdout, trial.stderr = kept(out.getvalue(), output_limit), kept(err.getvalue(), output_limit)
    error = None  # its traceback holds this frame, which holds it: a cycle that would keep the trial's objects
    return ctx


def _margins(constraints: Sequence[Constraint], ctx: TrialContext, raw: Any) -> list[float]:
    """The constraints' margins after one run of the objective: over the cell's namespace, or a function's
    parameters and result."""
    namespace = ctx.namespace if ctx.namespace is not None else function_namespace(ctx.trial.params, raw)
    return [c.margin(namespace) for c in constraints]


def kept(text: str, limit: int = OUTPUT_KEPT) -> str:
    """The last ``limit`` characters of ``text``, storable, with a first line saying how much was cut."""
    text = storable(text)  # escaping first: it can only lengthen the text
    if len(text) > limit:
        text = (
            f"[hpmagic kept the last {limit:,} characters of this output; {len(text) - limit:,} were cut]\n"
            + (text[-limit:])
        )
    return storable(text)


def storable(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates a trial printed become escapes), so the store can keep it."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def finish_values(trial: Trial, raws: list[Any], tests: list[float], objectives: Objectives | None = None) -> None:
    """The trial's value: the mean over its repeats (with their spread kept), and its held-out test value.

    With several ``objectives`` each one's mean is in ``trial.values`` and ``value`` is the primary's (its spread
    over the repeats is the one kept).
    """
    values = []
    columns: list[list[float]] = []
    for i, raw in enumerate(raws):
        if objectives is not None and objectives.several:
            several, problem = objectives.read(raw)
            value = None if several is None else several[objectives.primary]
            if several is not None:
                columns.append(several)
        else:
            value, problem = objective_value(raw)
        if value is None:
            where = f" (repeat {i}, tune.seed={i})" if len(raws) > 1 else ""
            finish(trial, TrialState.FAILED, error=f"{problem}{where}")
            return
        values.append(value)
    if columns:
        trial.values = [mean_and_std(list(column))[0] for column in zip(*columns, strict=True)]
    mean, std = mean_and_std(values)
    if len(values) > 1:
        trial.user_attrs["values"] = values
        trial.user_attrs["value_std"] = std
    if tests:
        trial.user_attrs["test"] = mean_and_std(tests)[0]
    finish(trial, TrialState.COMPLETE, value=mean)


def objective_value(raw: Any) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite real number, else ``(None, reason)``: the strategy never sees garbage.

    Never raises, whatever ``raw`` is: its methods (``item``, ``__float__``, ``__repr__``) run inside guards.
    """
    try:
        return _objective_value(raw)
    except BaseException as exc:  # noqa: BLE001 - an object whose methods raise is not a number
        return None, f"the objective is not a number ({type(raw).__name__}: {one_line(exc)})"


#: The error of a trial whose objective was None: a mistake every trial would repeat (the study stops on it).
NONE_OBJECTIVE = "the objective is None"


def none_objective(trial: Trial) -> bool:
    """True for a failed trial whose objective was None (a cell ending with ``print(...)``, say)."""
    return trial.state is TrialState.FAILED and (trial.error or "").startswith(NONE_OBJECTIVE)


def _objective_value(raw: Any) -> tuple[float | None, str | None]:
    if raw is None:
        return None, (
            f"{NONE_OBJECTIVE}: a function must return it (without a return statement it gives None), a cell must "
            "end with its expression (print(...) returns None), e.g. model.score(X_val, y_val), or name one with "
            "--objective"
        )
    if _is_masked(raw):
        return None, "the objective is a masked value (numpy.ma.masked), not a number"
    value = raw
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        item = getattr(value, "item", None)
        size = getattr(value, "size", None)
        if item is not None and (size == 1 or getattr(value, "shape", None) == ()):
            try:
                value = item()
            except Exception:  # noqa: BLE001
                pass
    if hasattr(type(value), "__float__") and not isinstance(value, bool | numbers.Complex):
        # A scalar that only converts (a TensorFlow tensor, a Decimal): float() says whether it is one number.
        with contextlib.suppress(Exception):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = safe_repr(raw, 80)
        hint = ""
        if isinstance(raw, tuple | list | dict) and len(raw) > 1:
            hint = (
                f"; for {len(raw)} objectives declare their directions (--directions min,max or --maximize/--minimize "
                "NAME per dict key; directions= in hpmagic.optimize)"
            )
        return None, f"the objective must be a real number, got {type(raw).__name__} {shown}{hint}"
    try:
        value = float(value)
    except OverflowError:
        return None, f"the objective is too large for a float: {safe_repr(raw, 40)}"
    if not math.isfinite(value):
        return None, f"the objective was {value}, not a finite number"
    return value, None


def user_traceback(exc: BaseException) -> str:
    """The traceback with hpmagic's own frames removed, so it points at the user's lines (never raises)."""
    try:
        te = tb.TracebackException.from_exception(exc)
        te.stack = tb.StackSummary.from_list(
            [f for f in te.stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
        )
        return storable("".join(te.format()))
    except BaseException:  # noqa: BLE001 - an exception whose message cannot be formatted
        return one_line(exc)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (just the type when the message itself cannot be turned into text), cut
    to ``ERROR_KEPT`` characters."""
    name = type(exc).__name__
    try:
        text = str(exc).strip().splitlines()
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        return f"{name} (its message could not be shown)"
    line = f"{name}: {text[0]}" if text else name
    return storable(clip(line, ERROR_KEPT))


def safe_repr(value: Any, limit: int) -> str:
    """``repr(value)`` on one line (a DataFrame's or an array's rows joined by spaces) cut to ``limit`` characters,
    or a placeholder when ``__repr__`` raises."""
    try:
        shown = repr(value)
    except BaseException:  # noqa: BLE001 - a __repr__ that raises
        return f"<{type(value).__name__} whose repr failed>"
    shown = storable(" ".join(shown.split()) if "\n" in shown else shown)
    return clip(shown, limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "..." when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_masked(value: Any) -> bool:
    """True for ``numpy.ma.masked`` and fully masked scalars (NumPy imported only if the value comes from it)."""
    if "numpy" not in type(value).__module__:
        return False
    import numpy as np

    return bool(np.ma.is_masked(value))


def finish(
    trial: Trial,
    state: TrialState,
    *,
    value: float | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    """Set a trial's final state (and stamp when it ended)."""
    trial.state = state
    trial.value = value
    trial.error = error
    trial.traceback = traceback
    trial.finished_at = time.time()


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Limit BLAS/OpenMP pools for the whole loop (entered once: it costs milliseconds)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield

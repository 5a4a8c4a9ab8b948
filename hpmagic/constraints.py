"""Constraints on a trial's outcome (``--constraint 'latency <= 10'``, ``optimize(constraints=[...])``).

A constraint is a comparison over names the trial defines, evaluated after the objective, or a callable returning a
margin. Either way it gives a *margin*: how far the trial is on the wrong side of the bound (``latency - 10`` for
``latency <= 10``), negative or zero when it is satisfied. The trial keeps ``max(0, margin)`` per constraint as its
``violations`` (the amount to fix), and its margins in ``user_attrs["constraint_margins"]``: a model of the
constraint learns more from "2 below the bound" than from "satisfied" (the bayes strategy's feasibility model).

``<`` and ``<=`` (``>`` and ``>=``) are the same constraint here: a trial exactly on the bound violates it by 0.
A chained comparison (``1 <= depth * width <= 64``) holds when every link holds; its margin is the largest link's.
"""

from __future__ import annotations

import ast
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpmagic.errors import HpmagicError, OptionError
from hpmagic.trial import Trial, TrialState

__all__ = [
    "MARGINS",
    "UNDEFINED",
    "Constraint",
    "ConstraintError",
    "constraint_labels",
    "function_namespace",
    "least_violating",
    "parse_constraints",
    "same_constraints",
    "total_violation",
    "undefined_name",
    "violation_text",
    "violations_of",
]

#: In a failed trial's error: the constraint names something the trial never defined, a mistake every trial would
#: repeat (the study stops after the first such trial, as for a None objective).
UNDEFINED = "which the trial does not define"

#: The margin's sign per comparison: ``+1`` means ``left - right`` (an upper bound), ``-1`` means ``right - left``.
_SIGNS: dict[type[ast.cmpop], float] = {ast.Lt: 1.0, ast.LtE: 1.0, ast.Gt: -1.0, ast.GtE: -1.0}

#: Where a trial's margins are kept (one per constraint, in order; ``violations`` are ``max(0, margin)``).
MARGINS = "constraint_margins"


class ConstraintError(HpmagicError):
    """A constraint could not be evaluated for one trial: the trial fails with this message."""


class Constraint:
    """One constraint: a comparison typed as text, or a callable returning a margin (``<= 0``: satisfied).

    Picklable (the text is compiled again where it runs, so Dask workers evaluate it as the kernel does).
    """

    def __init__(self, label: str, fn: Callable[[Mapping[str, Any]], Any] | None = None) -> None:
        self.label = label
        self.fn = fn
        self._links: list[tuple[float, int]] = []  # (sign, index of the left operand) per link
        self._operands: list[Any] = []  # compiled operands, left to right
        self._sources: list[str] = []  # and their text, for error messages
        if fn is None:
            self._compile()

    def _compile(self) -> None:
        node = _parse(self.label)
        operands = [node.left, *node.comparators]
        self._operands = [compile(ast.Expression(o), f"<constraint {self.label}>", "eval") for o in operands]
        self._sources = [ast.unparse(o) for o in operands]
        self._links = [(_SIGNS[type(op)], i) for i, op in enumerate(node.ops)]

    @property
    def names(self) -> frozenset[str]:
        """The names a text constraint reads (a callable's are unknown: empty)."""
        if self.fn is not None:
            return frozenset()
        return frozenset(n.id for n in ast.walk(_parse(self.label)) if isinstance(n, ast.Name))

    def __getstate__(self) -> dict[str, Any]:
        return {"label": self.label, "fn": self.fn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["label"], state["fn"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Constraint({self.label!r})"

    def margin(self, namespace: Mapping[str, Any]) -> float:
        """How far the trial whose variables are ``namespace`` is past the bound (``<= 0``: satisfied).

        Raises:
            ConstraintError: a one-line reason naming the constraint (an undefined name, an operand that is not a
                finite number, an exception in the expression or the callable).
        """
        if self.fn is not None:
            try:
                raw = self.fn(namespace)
            except Exception as exc:  # noqa: BLE001 - the user's callable fails this trial only
                raise ConstraintError(f"constraint {self.label}: {_one_line(exc)}") from exc
            return _number(raw, f"constraint {self.label} returned")
        globals_ = namespace if isinstance(namespace, dict) else dict(namespace)
        values = []
        for code, source in zip(self._operands, self._sources, strict=True):
            try:
                raw = eval(code, globals_)  # noqa: S307 - the user's own expression, in the user's own trial
            except NameError as exc:
                name = getattr(exc, "name", None) or str(exc)
                raise ConstraintError(f"constraint {self.label!r} names {name!r}, {UNDEFINED}") from None
            except Exception as exc:  # noqa: BLE001
                raise ConstraintError(f"constraint {self.label!r} could not be evaluated: {_one_line(exc)}") from exc
            values.append(_number(raw, f"constraint {self.label!r}: {source} is"))
        return max(sign * (values[i] - values[i + 1]) for sign, i in self._links)


def parse_constraints(
    items: Sequence[str | Callable[..., Any]] | None, option: str = "constraints"
) -> list[Constraint]:
    """Constraints from what the user gave: comparisons as text, or callables (API only).

    Raises:
        OptionError: before any trial runs, for text that is not a comparison (``<``, ``<=``, ``>``, ``>=``) or not
            valid Python, naming it and what to write instead.
    """
    if items is None:
        return []
    if isinstance(items, str) or callable(items):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, Constraint):
            out.append(item)
        elif isinstance(item, str):
            out.append(Constraint(item.strip()))
        elif callable(item):
            name = getattr(item, "__name__", None) or type(item).__name__
            label = f"{name}()"
            if any(c.label == label for c in out):  # two lambdas: told apart by position
                label = f"{name}#{len(out) + 1}()"
            out.append(Constraint(label, item))
        else:
            raise OptionError(
                f"{option}: each constraint is a comparison such as 'latency <= 10' or a function returning how far "
                f"the trial misses it (<= 0: satisfied), got {type(item).__name__} {item!r:.40}"
            )
    labels = [c.label for c in out]
    for label in labels:
        if labels.count(label) > 1:
            raise OptionError(f"{option}: constraint {label!r} is given twice")
    return out


def constraint_labels(constraints: Sequence[Constraint]) -> list[str]:
    """The constraints as the study stores them (the text as typed, ``name()`` for a callable)."""
    return [c.label for c in constraints]


def same_constraints(stored: Sequence[str], given: Sequence[str]) -> bool:
    """Whether two lists of labels are the same constraints: compared as syntax, so ``x<=0.5`` retyped as
    ``x <= 0.5`` (spacing, redundant parentheses) still resumes its study."""

    def key(label: str) -> str:
        try:
            return ast.unparse(_parse(label))
        except OptionError:  # a callable's ``name()`` label, kept as it is
            return label

    return [key(c) for c in stored] == [key(c) for c in given]


def violations_of(margins: Sequence[float]) -> list[float]:
    """The violation amounts of margins: ``max(0, margin)`` each."""
    return [max(0.0, float(m)) for m in margins]


def total_violation(violations: Sequence[float] | None) -> float:
    """The sum of a trial's violations (0 for a trial of a study without constraints)."""
    return float(sum(violations)) if violations else 0.0


def undefined_name(trial: Trial) -> bool:
    """True for a failed trial whose constraint named something the trial never defined (every trial would)."""
    return trial.state is TrialState.FAILED and UNDEFINED in (trial.error or "")


def least_violating(trials: Sequence[Trial]) -> Trial | None:
    """The complete trial with the least total violation (the earliest on ties), when no complete trial is
    feasible; None when one is, or none completed."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    if not complete or any(t.feasible for t in complete):
        return None
    return min(complete, key=lambda t: (total_violation(t.violations), t.number))


def violation_text(labels: Sequence[str], violations: Sequence[float] | None) -> str:
    """``misses 'latency <= 10' by 2.5`` for each violated constraint (``feasible`` when none is)."""
    missed = [f"misses {label!r} by {v:.4g}" for label, v in zip(labels, violations or (), strict=False) if v > 0]
    return ", ".join(missed) or "feasible"


def function_namespace(params: Mapping[str, Any], result: Any) -> dict[str, Any]:
    """What a constraint sees for a plain function (``hpmagic.optimize``): its parameters, ``value`` (what the
    function returned) and, when it returned a dict, that dict's keys (``{"loss": ..., "latency": ...}``)."""
    ns: dict[str, Any] = dict(params)
    if isinstance(result, Mapping):
        ns.update({k: v for k, v in result.items() if isinstance(k, str)})
    else:
        ns["value"] = result
    return ns


def _parse(text: str) -> ast.Compare:
    example = "e.g. 'latency <= 10' or '0.5 <= ratio < 2'"
    if not text:
        raise OptionError(f"a constraint needs a comparison, {example}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise OptionError(
            f"constraint {text!r} is not valid Python ({exc.msg}); write a comparison, {example}"
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise OptionError(f"constraint {text!r} cannot be read; write a comparison, {example}") from None
    node = tree.body
    if not isinstance(node, ast.Compare):
        raise OptionError(f"constraint {text!r} is not a comparison; write one with <, <=, > or >=, {example}")
    for op in node.ops:
        if type(op) not in _SIGNS:
            symbol = {ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is"}.get(
                type(op), "is not"
            )
            raise OptionError(
                f"constraint {text!r} compares with {symbol}; use <, <=, > or >= (a constraint is a bound, so a trial "
                f"can miss it by an amount), {example}"
            )
    return node


def _number(raw: Any, what: str) -> float:
    """A finite float from a real number (NumPy scalars and one-element arrays too), else ``ConstraintError``."""
    value = raw
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        item = getattr(value, "item", None)
        if item is not None and (getattr(value, "size", None) == 1 or getattr(value, "shape", None) == ()):
            try:
                value = item()
            except Exception:  # noqa: BLE001
                pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = _short_repr(raw)
        raise ConstraintError(f"{what} {type(raw).__name__} {shown}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ConstraintError(f"{what} {number}, not a finite number")
    return number


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        return "<unprintable>"
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(exc: BaseException) -> str:
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # noqa: BLE001
        lines = []
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__

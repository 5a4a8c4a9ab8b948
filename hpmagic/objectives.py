"""Several objectives: what a tuple or dict objective means, its names and directions, and how a trial's raw
result becomes its values.

A cell whose objective is a tuple (or list) of numbers, or a dict of them, is a multi-objective study. Its objectives
are named after the dict's keys, after ``--maximize NAME`` / ``--minimize NAME`` in the order given, or by position
(``objective 0``, ``objective 1``, ...). The shape is read from the expression's syntax before any trial, so a
direction list that does not match is refused at once; a result whose shape differs at run time fails that trial
with a one-line reason and the study goes on.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.types import Direction

__all__ = ["Objectives", "Shape", "expression_shape", "parse_directions", "resolve_objectives"]

#: What the objective's syntax says before any trial: a count (a tuple or list literal), the keys of a dict literal
#: (or of ``dict(a=..., b=...)``), or None (a single value, or nothing known until it runs).
Shape = int | tuple[str, ...] | None

_WORDS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


def expression_shape(node: ast.AST | None) -> Shape:
    """The shape of an objective expression, from its syntax alone."""
    if isinstance(node, ast.Expression):
        node = node.body
    if isinstance(node, ast.Tuple | ast.List) and not any(isinstance(e, ast.Starred) for e in node.elts):
        return len(node.elts) if len(node.elts) > 1 else None
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
        keys = tuple(str(k.value) for k in node.keys if isinstance(k, ast.Constant))
        return keys if len(set(keys)) > 1 else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(k.arg is not None for k in node.keywords)
    ):
        names = tuple(str(k.arg) for k in node.keywords)
        return names if len(names) > 1 else None
    return None


def parse_directions(text: str | None) -> tuple[str, ...]:
    """``("maximize", "minimize")`` from ``--directions max,min``."""
    if text is None:
        return ()
    items = [part.strip().lower() for part in str(text).split(",")]
    if not items or not all(item in _WORDS for item in items):
        raise OptionError(
            f"--directions takes max or min per objective, separated by commas (e.g. max,min); got {text!r}"
        )
    return tuple(_WORDS[item] for item in items)


@dataclass(frozen=True)
class Objectives:
    """A multi-objective study's objectives: names and directions in order, and the primary's position (the
    objective ``Trial.value``, the schedulers and single-value views use)."""

    names: tuple[str, ...]
    directions: tuple[Direction, ...]
    primary: int = 0

    def __post_init__(self) -> None:
        if len(self.names) != len(self.directions):
            raise OptionError(f"{len(self.directions)} direction(s) for {len(self.names)} objective(s)")

    @property
    def several(self) -> bool:
        return len(self.names) > 1

    @property
    def direction(self) -> Direction:
        """The primary objective's direction."""
        return self.directions[self.primary]

    @property
    def described(self) -> str:
        """``accuracy, latency`` for messages."""
        return ", ".join(self.names)

    def read(self, raw: Any) -> tuple[list[float] | None, str | None]:
        """``(values, None)`` from a trial's raw result, else ``(None, one-line reason)``; never raises.

        A dict is read by the objectives' names, a tuple, list or 1-d array by position; every entry must be a
        finite real number (the same rule as a single objective's value).
        """
        from hpmagic.execution._run import objective_value, safe_repr

        n = len(self.names)
        try:
            if isinstance(raw, Mapping):
                keys = [str(k) for k in raw]
                missing = [name for name in self.names if name not in raw]
                extra = [k for k in keys if k not in self.names]
                if missing or extra:
                    parts = ([f"lacks {', '.join(map(repr, missing))}"] if missing else []) + (
                        [f"has unknown {', '.join(map(repr, extra))}"] if extra else []
                    )
                    return None, (
                        f"the objective dict {' and '.join(parts)}; the study's objectives are {self.described}"
                    )
                entries = [(name, raw[name]) for name in self.names]
            elif isinstance(raw, tuple | list) or (getattr(raw, "ndim", None) == 1 and hasattr(raw, "__len__")):
                items = list(raw)
                if len(items) != n:
                    return None, (
                        f"the objective has {len(items)} value(s), the study has {n} objectives ({self.described}): "
                        "every trial must give the same number"
                    )
                entries = list(zip(self.names, items, strict=True))
            else:
                return None, (
                    f"the objective must give {n} values ({self.described}) as a tuple or dict, got "
                    f"{type(raw).__name__} {safe_repr(raw, 60)}"
                )
        except BaseException as exc:  # noqa: BLE001 - a result whose methods raise is the user's problem
            return None, f"the objective's values could not be read: {type(exc).__name__}: {exc!s:.80}"
        values = []
        for name, entry in entries:
            value, problem = objective_value(entry)
            if value is None:
                return None, f"{name}: {problem}"
            values.append(value)
        return values, None


def resolve_objectives(
    shape: Shape,
    *,
    named: Sequence[tuple[str, str]] = (),
    directions: Sequence[str] | Mapping[str, str] | None = None,
    primary: str | int | None = None,
    direction: str = "minimize",
) -> Objectives:
    """The study's objectives from the objective's shape and the options (one named ``value`` when the objective
    is a single number: its direction is then the one given by position, by name, or ``direction``).

    Args:
        shape: see ``expression_shape`` (None for a function, whose result is only known when it runs).
        named: ``(direction, name)`` pairs from ``--maximize NAME`` / ``--minimize NAME``, in the order given.
        directions: one direction per objective by position (``--directions max,min``, ``directions=[...]``), or
            a mapping of names to directions (``directions={"acc": "maximize", ...}``).
        primary: the primary objective's name (or position); default the first.
        direction: the direction of objectives no option names (a bare ``--maximize``, ``direction=``).

    Raises:
        OptionError: one line naming the mismatch (a direction list of the wrong length, a name that is not one of
            the dict's keys, an unknown primary).
    """
    default = Direction.parse(direction)
    if directions is not None and (isinstance(directions, str) or not isinstance(directions, Mapping | Sequence)):
        raise OptionError(
            f"directions takes one direction per objective (a list, or a dict by name), got {directions!r}; "
            "for one objective use direction="
        )
    pairs = list(named)
    if isinstance(directions, Mapping):
        pairs += [(str(d), str(n)) for n, d in directions.items()]
        positional: tuple[Direction, ...] = ()
    else:
        positional = tuple(Direction.parse(_WORDS.get(str(d).lower(), d)) for d in directions or ())
    by_name = {}
    for d, name in pairs:
        if name in by_name:
            raise OptionError(f"objective {name!r} is given a direction twice")
        by_name[name] = Direction.parse(_WORDS.get(str(d).lower(), d))
    if by_name and positional:
        raise OptionError(
            "name objectives with --maximize/--minimize NAME (or a directions dict), or give directions by position, "
            "not both"
        )
    if isinstance(shape, tuple):
        names = shape
        unknown = [n for n in by_name if n not in names]
        if unknown:
            raise OptionError(
                f"{', '.join(map(repr, unknown))} is not a key of the objective dict (its keys: {', '.join(names)})"
            )
    elif isinstance(shape, int):
        if by_name and len(by_name) != shape:
            raise OptionError(
                f"{len(by_name)} objective name(s) given ({', '.join(by_name)}) for a tuple of {shape} objectives"
            )
        names = tuple(by_name) if by_name else tuple(f"objective {i}" for i in range(shape))
    elif by_name:
        names = tuple(by_name)
    else:
        names = tuple(f"objective {i}" for i in range(len(positional)))
    if positional and len(positional) != len(names) and (len(names) > 1 or len(positional) > 1):
        raise OptionError(
            f"{len(positional)} direction(s) given ({', '.join(positional)}) for {max(len(names), 1)} objective(s)"
            + (f" ({', '.join(names)})" if len(names) > 1 else "")
        )
    if len(names) <= 1:
        if primary is not None:
            raise OptionError("--primary / primary= applies to several objectives; the objective here is one value")
        one = positional[0] if positional else next(iter(by_name.values()), default)
        return Objectives(("value",), (one,))
    dirs = positional or tuple(by_name.get(n, default) for n in names)
    return Objectives(names, dirs, _primary_index(primary, names))


def _primary_index(primary: str | int | None, names: tuple[str, ...]) -> int:
    if primary is None:
        return 0
    if isinstance(primary, str) and primary in names:
        return names.index(primary)
    if isinstance(primary, int) and not isinstance(primary, bool) and 0 <= primary < len(names):
        return primary
    raise OptionError(f"the primary objective {primary!r} is not one of the objectives: {', '.join(names)}")

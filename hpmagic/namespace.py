"""Trials see their own values through functions defined in earlier cells.

A trial runs the cell on a copy of the notebook's namespace, but a function defined in an earlier cell (a
``make_model()`` reading ``batch_size``) looks its globals up in the notebook's namespace itself, so it would see the
notebook's value, not the one the trial's cell assigned, and every trial would silently train the same thing. Each
trial therefore runs with copies of those functions whose globals are the trial's namespace. On Dask workers the
functions arrive by value with only part of their globals, so the names they read (transitively) are sent too.
Classes defined in the notebook and their instances, decorated or partial functions, and functions held in a list,
tuple or dict cannot be rebound that way: when one reads a name the cell assigns, the user is warned before the first
trial.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

__all__ = ["REBOUND", "code_names", "not_rebound", "notebook_functions", "rebind", "unseen_readers"]

#: Key of the trial namespace's record of rebound functions (so they are not taken for variables the cell bound).
REBOUND = "__hpmagic_rebound__"


def code_names(code: types.CodeType) -> set[str]:
    """Global names a code object (and the functions, lambdas and comprehensions inside it) may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_names(const)
    return names


def _is_notebook_function(value: Any, user_ns: dict[str, Any]) -> bool:
    return isinstance(value, types.FunctionType) and value.__globals__ is user_ns


def notebook_functions(user_ns: dict[str, Any], names: Iterable[str]) -> tuple[set[str], set[str]]:
    """The notebook's own functions reachable from ``names`` (through the globals they read), and every global name
    read on the way (``names`` included): what a trial needs to see its values through those functions."""
    functions: set[str] = set()
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        value = user_ns.get(name)
        if isinstance(value, types.FunctionType) and value.__globals__ is user_ns:
            functions.add(name)
            pending.extend(code_names(value.__code__))
    return functions, seen


def rebind(ns: dict[str, Any], functions: Iterable[str]) -> None:
    """Replace each named function in ``ns`` by a copy whose globals are ``ns`` (the trial's namespace)."""
    rebound: dict[str, Any] = {}
    for name in functions:
        f = ns.get(name)
        if not isinstance(f, types.FunctionType):
            continue
        copy = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
        copy.__kwdefaults__ = f.__kwdefaults__
        copy.__qualname__, copy.__module__, copy.__doc__ = f.__qualname__, f.__module__, f.__doc__
        copy.__dict__.update(f.__dict__)
        rebound[name] = ns[name] = copy
    ns[REBOUND] = rebound


def not_rebound(ns: dict[str, Any], name: str, value: Any) -> bool:
    """False for a function copy that ``rebind`` put in ``ns`` (not a variable the cell bound)."""
    return ns.get(REBOUND, {}).get(name) is not value


def unseen_readers(user_ns: dict[str, Any], names: Iterable[str], assigned: set[str]) -> list[str]:
    """Warnings for what the trial cannot redirect, reachable from ``names``, that reads a name the cell assigns
    (directly or through the notebook functions it calls): classes defined in the notebook and their instances,
    wrapped notebook functions (decorated, or partials), and notebook functions held in a list, tuple or dict (a
    list of callbacks). They keep the notebook's globals, so they would see the notebook's value in every trial."""
    out = []
    for name in sorted(set(names)):
        try:
            found = _unseen(name, user_ns.get(name), user_ns)
        except Exception:  # an object whose attributes raise: nothing to say about it
            continue
        if found is None:
            continue
        what, functions = found
        read: set[str] = set()
        for func in functions:
            read |= notebook_functions(user_ns, code_names(func.__code__))[1]
        both = sorted(read & assigned)
        if both:
            shown = ", ".join(both)
            out.append(
                f"{what} reads {shown}, which this cell assigns: it sees the notebook's value, not the "
                f"trial's; pass {shown} to it as an argument"
            )
    return out


#: Items of a list, tuple or dict looked at for notebook functions (a list of a million numbers is not scanned).
_MAX_ITEMS = 100


def _unseen(name: str, value: Any, user_ns: dict[str, Any]) -> tuple[str, list[types.FunctionType]] | None:
    """What ``value`` is, and the notebook functions it runs that a trial cannot rebind; None if there are none."""
    if isinstance(value, types.FunctionType):
        return None  # rebound for each trial
    if isinstance(value, type):
        methods = _methods(value, user_ns)
        return (f"class {name}, defined in an earlier cell,", methods) if methods else None
    inner = getattr(value, "__wrapped__", None) or getattr(value, "func", None)
    if isinstance(inner, types.FunctionType) and inner.__globals__ is user_ns:
        # A decorated function (``@torch.no_grad()``) or a functools.partial wraps the notebook's function.
        return f"{name}, a wrapped function of an earlier cell,", [inner]
    if isinstance(value, (list, tuple, dict)):
        items = list(value.values() if isinstance(value, dict) else value)[:_MAX_ITEMS]
        held = [item for item in items if _is_notebook_function(item, user_ns)]
        return (f"{name}, which holds functions of an earlier cell,", held) if held else None
    methods = _methods(type(value), user_ns)
    if methods:
        return f"{name}, an instance of class {type(value).__name__} defined in an earlier cell,", methods
    return None


def _methods(cls: type, user_ns: dict[str, Any]) -> list[types.FunctionType]:
    """The notebook functions among a class's (and its bases') methods, static and class methods included."""
    found = []
    for klass in getattr(cls, "__mro__", ())[:-1]:  # not object
        for attr in vars(klass).values():
            func = getattr(attr, "__func__", attr)
            if _is_notebook_function(func, user_ns):
                found.append(func)
    return found

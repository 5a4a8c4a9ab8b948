"""A notebook cell's source -> an Objective.

The cell is parsed once: its ``tune.*`` markers are found and named, the static part of the search space is
evaluated in the notebook's namespace before the first trial, the last expression becomes the objective, and the
whole cell is compiled once. Each trial then runs the compiled cell against a shallow copy of the namespace, with
the notebook's functions that the cell reaches rebound to that copy (see ``hpmagic.namespace``).
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import re
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from hpmagic.context import TrialContext
from hpmagic.errors import CellError, HpmagicError, OptionError, SpaceError
from hpmagic.marker_names import MarkerSite, find_markers
from hpmagic.namespace import not_rebound, notebook_functions, rebind, unseen_readers
from hpmagic.objectives import Shape, expression_shape
from hpmagic.space import NO_DEFAULT, Categorical, Dimension, Float, Int, Space
from hpmagic.trial import Trial

__all__ = ["CellObjective", "build_objective", "default_study_name"]

_RESULT = "__hpmagic_result__"
_BUILDER = "__hpmagic_dimension__"
_RESTORE = "__hpmagic_restore__"


@dataclass(eq=False)
class CellObjective:
    """Runs a compiled cell as one trial and returns the objective's value.

    Attributes:
        space: the static search space (markers known before the first trial).
        sites: every marker found in the cell.
        dynamic: markers created at run time (in loops, functions, or with names computed at run time).
        best_variables: what the best trial of this run assigned (the trained model, say), to publish afterwards.
    """

    source: str
    code: CodeType
    objective_code: CodeType | None
    space: Space
    sites: list[MarkerSite]
    dynamic: list[MarkerSite]
    user_ns: dict[str, Any]
    filename: str
    state_names: tuple[str, ...] = ()
    test_code: CodeType | None = None
    best_variables: dict[str, Any] | None = None
    best_number: int | None = None
    functions: tuple[str, ...] = ()
    reached: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: What the objective expression's syntax says of its shape: a count (tuple), dict keys, or None (one value).
    shape: Shape = None
    #: Names read after the cell by something other than its code (``--constraint`` expressions): notebook variables
    #: among them travel to Dask workers too.
    extra_names: frozenset[str] = frozenset()
    _last_ns: dict[str, Any] | None = field(default=None, repr=False)
    _best_ns: dict[str, Any] | None = field(default=None, repr=False)

    def __call__(self, ctx: TrialContext) -> Any:
        ns = dict(self.user_ns)
        rebind(ns, self.functions)
        ns[_RESTORE] = ctx.restore
        ctx.namespace, ctx.state_names = ns, self.state_names
        self._last_ns = ns
        try:
            exec(self.code, ns)
            value = eval(self.objective_code, ns) if self.objective_code is not None else ns.pop(_RESULT, None)
            if self.test_code is not None:
                ctx.record_test(eval(self.test_code, ns))
        finally:
            # The namespace held the context's restore method, the context holds the namespace: break the cycle so
            # a trial's variables (models, arrays) are freed as soon as the trial is done with, not at the next GC.
            ns.pop(_RESTORE, None)
        return value

    def trial_finished(self, trial: Trial, is_best: bool) -> None:
        """Keep the variables of the best trial only: the rest may hold large models."""
        if is_best and self._last_ns is not None:
            if self._best_ns is not None:
                self._best_ns.clear()  # the previous best is no longer wanted: free it now (see below)
            self.best_variables = self.assigned(self._last_ns)
            self.best_number = trial.number
            self._best_ns = self._last_ns
        elif self._last_ns is not None:
            # Functions the cell defined keep its namespace as their globals (a cycle): emptying it frees the
            # trial's variables now, not at the next garbage collection.
            self._last_ns.clear()
        self._last_ns = None

    def assigned(self, ns: dict[str, Any]) -> dict[str, Any]:
        """Names the cell bound (new, or rebound to another object) in a trial's namespace."""
        base = self.user_ns
        return {
            k: v
            for k, v in ns.items()
            if not (k.startswith("__") and k.endswith("__"))
            and (k not in base or base[k] is not v)
            and not_rebound(ns, k, v)
        }

    def keep_variables(self, number: int, variables: dict[str, Any]) -> None:
        """The best trial ran on a worker: its variables were fetched from there."""
        self.best_variables, self.best_number = variables, number

    def for_workers(self) -> tuple[WorkerCell, dict[str, Any]]:
        """The cell as Dask workers run it, and the notebook variables it reads (only those).

        Raises:
            OptionError: naming a variable the cell reads that cannot be sent to another process.
        """
        from hpmagic.execution._dask import unpicklable

        own = _free_names(self.source) | _code_names(self.objective_code) | _code_names(self.test_code)
        own |= self.extra_names
        # The names the notebook's functions read go too, so a trial can rebind those functions to its namespace.
        names = own | set(self.reached)
        data: dict[str, Any] = {}
        for name in sorted(names):
            if name not in self.user_ns or name.startswith("__"):
                continue
            value = self.user_ns[name]
            if _is_tune(value):
                continue  # each worker has its own ``tune``
            why = unpicklable(value)
            if why is not None:
                if name not in own:
                    continue  # an attribute's name a function reads (``obj.fit``) that is also a notebook variable
                raise OptionError(
                    f"the cell reads {name!r} ({type(value).__name__}), which cannot be sent to worker processes "
                    f"({why}); create {name} inside the cell, or run without --jobs/--cluster"
                )
            data[name] = value
        cell = WorkerCell(self.source, self.code, self.objective_code, self.test_code, self.filename, self.state_names)
        cell.functions = self.functions
        return cell, data

    def replay(self, params: dict[str, Any], budget: int | None = None) -> dict[str, Any]:
        """Run the cell once with fixed parameters (to rebuild a resumed study's best model); returns its variables.

        ``budget`` is the steps ``tune.steps()`` grants (the best trial's own budget, in a ``--budget`` study).
        """
        strategy = _replaying()
        strategy.setup(self.space, direction="minimize", seed=0)
        trial = Trial(number=-1)
        with TrialContext(trial, self.space, dict(params), strategy, budget=budget) as ctx:
            ns = dict(self.user_ns)
            rebind(ns, self.functions)
            ns[_RESTORE] = ctx.restore
            exec(self.code, ns)
        return self.assigned(ns)


def _replaying() -> Any:
    """The strategy of a replayed trial: its values are all known, so a marker asking for another one is a marker
    the cell gained (or whose values it changed) since the trial ran, and the replay says so."""
    from hpmagic.schedulers import FIFOScheduler

    class Replaying(FIFOScheduler):
        def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
            raise CellError(
                f"the cell changed since that trial ran: it has no value of {name!r} that the cell's "
                f"{dim.describe()} allows; tune.best has its parameters"
            )

    return Replaying()


def default_study_name(cell: str) -> str:
    """A stable name from the cell's content: the same cell resumes the same study."""
    normal = "\n".join(line.rstrip() for line in cell.strip().splitlines())
    return "cell-" + hashlib.sha1(normal.encode()).hexdigest()[:8]


def build_objective(
    source: str,
    user_ns: dict[str, Any],
    objective: str | None = None,
    state: tuple[str, ...] = (),
    test: str | None = None,
    first_line: int = 1,
) -> CellObjective:
    """Parse, check, name and compile a cell (plain Python: IPython syntax already transformed).

    ``first_line`` is the editor's number of the source's first line (2 under a ``%%tune`` line): errors and
    tracebacks then give the lines the user sees.

    Raises:
        CellError: syntax errors (pointing at the user's line), no markers, unnamed markers, no objective.
        SpaceError: bad bounds or choices, duplicate names.
    """
    filename = f"<tune-cell-{hashlib.sha1(source.encode()).hexdigest()[:8]}>"
    source = "\n" * max(first_line - 1, 0) + source
    tree = _parse(source, filename, "the cell")
    sites = find_markers(tree)
    if not sites:
        raise CellError(
            "the cell has no hyperparameter markers: mark at least one value, e.g. lr = tune.loguniform(1e-4, 1e-1)"
        )
    assigned_in_cell = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    _check_keys_unique(sites)
    dims: dict[str, tuple[Dimension, int]] = {}
    dynamic: list[MarkerSite] = []
    for site in sites:
        _check_named(site)
        if not site.is_static:
            dynamic.append(site)
            continue
        dim = _evaluate(site, user_ns, assigned_in_cell)
        if dim is None:  # its bounds use variables the cell itself sets: a define-by-run marker
            dynamic.append(site)
            continue
        assert site.name is not None
        if site.name in dims:
            raise SpaceError(
                f"parameter {site.name!r} is defined twice (lines {dims[site.name][1]} and {site.line}); give each "
                "marker its own name (for alternatives in if/else branches, define the marker once before the if)"
            )
        dims[site.name] = (dim.with_name(site.name), site.line)
    for site in sites:
        if site.name is not None and not site.explicit_name:
            site.call.keywords.append(ast.keyword(arg="name", value=ast.Constant(site.name)))
    objective_code = None
    body = tree.body
    if objective is not None:
        expression = _parse(objective, "<--objective>", "--objective", mode="eval")
        shape = expression_shape(expression)
        objective_code = compile(expression, "<--objective>", "eval")
    elif body and isinstance(body[-1], ast.Expr):
        last = body[-1]
        shape = expression_shape(last.value)
        body[-1] = ast.copy_location(ast.Assign(targets=[ast.Name(_RESULT, ast.Store())], value=last.value), last)
    else:
        raise CellError(
            "the cell must end with an expression whose value is the objective (e.g. model.score(X_val, y_val)), "
            "or name one with --objective EXPR"
        )
    test_code = None
    if test is not None:
        test_code = compile(_parse(test, "<--test>", "--test", mode="eval"), "<--test>", "eval")
    _restore_state(tree, state)
    ast.fix_missing_locations(tree)
    try:
        code = compile(tree, filename, "exec")
    except SyntaxError as exc:  # yield/return/await outside a function, nonlocal at top level, ...
        raise _syntax_error(exc, "the cell", "exec") from None
    except (RecursionError, MemoryError):
        raise CellError("the cell is nested too deeply for Python to compile; flatten it") from None
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    functions, reached = notebook_functions(
        user_ns, _free_names(source) | _code_names(objective_code) | _code_names(test_code)
    )
    return CellObjective(
        source=source,
        code=code,
        objective_code=objective_code,
        space=Space({name: dim for name, (dim, _line) in dims.items()}, conditional=_conditional(sites)),
        sites=sites,
        dynamic=dynamic,
        user_ns=user_ns,
        filename=filename,
        state_names=tuple(state),
        test_code=test_code,
        functions=tuple(sorted(functions)),
        reached=tuple(sorted(reached)),
        warnings=tuple(unseen_readers(user_ns, reached, assigned_in_cell)),
        shape=shape,
    )


def _conditional(sites: list[MarkerSite]) -> set[str]:
    """Parameters whose markers sit in a branch of the cell: some configurations never use them."""
    return {site.name for site in sites if site.conditional and site.name is not None}


def _restore_state(tree: ast.Module, names: tuple[str, ...]) -> None:
    """Rewrite the first top-level ``name = expr`` of each state variable to take a restored snapshot when there is one.

    ``clf = SGDClassifier(...)`` becomes ``clf = __hpmagic_restore__("clf", lambda: SGDClassifier(...))``, so a trial
    that continues another (a promotion, a PBT clone) gets the saved model and the cell needs no extra code.
    """
    pending = set(names)
    for node in _top_level(tree.body):
        if not pending:
            break
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in pending:
                pending.discard(name)
                thunk = ast.Lambda(args=ast.arguments([], [], None, [], [], None, []), body=node.value)
                node.value = ast.Call(ast.Name(_RESTORE, ast.Load()), [ast.Constant(name), thunk], [])
    if pending:
        name = sorted(pending)[0]
        raise CellError(
            f"--state {name}: the cell never assigns {name} at its top level; state variables are the ones the "
            f"cell creates, e.g. {name} = SGDClassifier(...)"
        )


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run once per trial: the cell's own, and those in its if/with/try blocks (not loops or functions)."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If):
            out += _top_level(node.body) + _top_level(node.orelse)
        elif isinstance(node, (ast.With, ast.Try)):
            out += _top_level(node.body)
    return out


def _parse(source: str, filename: str, what: str, mode: str = "exec") -> Any:
    try:
        tree = ast.parse(source, filename, mode=mode)
    except SyntaxError as exc:
        raise _syntax_error(exc, what, mode) from None
    except (RecursionError, MemoryError):
        raise CellError(f"{what} is nested too deeply for Python to parse; flatten it") from None
    line = _too_deep(tree)
    if line is not None:
        where = f", line {line}" if mode == "exec" else ""
        raise CellError(f"{what} is nested more than {_MAX_DEPTH} levels deep{where}; flatten it")
    return tree


#: Deeper syntax trees than this are refused: the compiler and the marker scan recurse over them.
_MAX_DEPTH = 200


def _too_deep(tree: ast.AST) -> int | None:
    """The line of a node nested deeper than ``_MAX_DEPTH``, or None (walked without recursion)."""
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > _MAX_DEPTH:
            return line
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return None


def _syntax_error(exc: SyntaxError, what: str, mode: str) -> CellError:
    """A one-line CellError (plus the offending line and a caret) from a parser or compiler error."""
    where = f", line {exc.lineno}" if exc.lineno and mode == "exec" else ""
    text = (exc.text or "").rstrip("\n")
    pointer = ""
    if text.strip():
        indent = len(text) - len(text.lstrip())
        caret = " " * max((exc.offset or 1) - 1 - indent, 0) + "^"
        pointer = f"\n    {text.strip()}\n    {caret}"
    return CellError(f"syntax error in {what}{where}: {exc.msg}{pointer}")


def _check_keys_unique(sites: list[MarkerSite]) -> None:
    """A marker named by its dict key shares no name with another marker: the key alone names it, so two dicts
    with the same key (or a nested dict's key equal to a variable's name) would be one parameter twice."""
    seen: dict[str, MarkerSite] = {}
    for site in sites:
        if site.name is None or site.dynamic_name:
            continue
        first = seen.setdefault(site.name, site)
        if first is not site and "key" in (first.source, site.source):
            raise CellError(
                f"lines {first.line} and {site.line} both name a marker {site.name!r} (a dict key names its "
                f'marker); give one of them its own name, e.g. tune.{site.kind}(..., name="{site.name}_2")'
            )


def _check_named(site: MarkerSite) -> None:
    for kw in site.call.keywords:
        if kw.arg != "name":
            continue
        try:
            given = ast.literal_eval(kw.value)  # a literal name is checked now; a computed one when it runs
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if given is not None:
            if not isinstance(given, str) or not given.strip():
                shown = repr(given) if isinstance(given, str) else f"a {type(given).__name__}"
                raise SpaceError(f"line {site.line}: a marker's name= must be a non-empty string, got {shown}")
    if site.name is None and not site.dynamic_name:
        raise CellError(
            f"line {site.line}: tune.{site.kind}(...) needs a name: assign it to a variable, pass it as a keyword "
            "argument, make it a dict value under a string key, or give name='...'"
        )
    if site.in_loop and not site.dynamic_name:
        raise CellError(
            f"line {site.line}: marker {site.name!r} is inside a loop, so every iteration would define it again; "
            f'give it a name that changes per iteration, e.g. name=f"{site.name}_{{i}}"'
        )


def _builders() -> dict[str, Any]:
    """Functions with the markers' signatures that build dimensions instead of values."""

    def uniform(low: Any, high: Any, *, default: Any = None, name: Any = None) -> Dimension:
        return Float(low, high, False, default, name)

    def loguniform(low: Any, high: Any, *, default: Any = None, name: Any = None) -> Dimension:
        return Float(low, high, True, default, name)

    def int_(low: Any, high: Any, *, log: bool = False, default: Any = None, name: Any = None) -> Dimension:
        return Int(low, high, bool(log), default, name)

    def choice(choices: Any, *, default: Any = NO_DEFAULT, name: Any = None) -> Dimension:
        return Categorical(choices, default, name)

    return {"uniform": uniform, "loguniform": loguniform, "int": int_, "choice": choice}


def _evaluate(site: MarkerSite, user_ns: dict[str, Any], assigned_in_cell: set[str]) -> Dimension | None:
    """The marker's dimension, its arguments evaluated in the notebook's namespace before any trial runs."""
    call = site.call
    node = ast.Expression(
        ast.Call(
            func=ast.Attribute(value=ast.Name(_BUILDER, ast.Load()), attr=site.kind, ctx=ast.Load()),
            args=call.args,
            keywords=call.keywords
            if site.explicit_name
            else [*call.keywords, ast.keyword("name", ast.Constant(site.name))],
        )
    )
    ast.copy_location(node.body, call)
    ast.fix_missing_locations(node)
    builder = type("Builders", (), {k: staticmethod(v) for k, v in _builders().items()})
    ns = dict(user_ns)
    ns[_BUILDER] = builder
    label = f"line {site.line}: tune.{site.kind} {site.name!r}"
    try:
        dim = eval(compile(node, "<tune-marker>", "eval"), ns)
    except SpaceError as exc:
        raise SpaceError(f"line {site.line}: {exc}") from None
    except NameError as exc:
        if getattr(exc, "name", None) in assigned_in_cell:
            return None
        raise CellError(f"{label}: its arguments cannot be evaluated before the cell runs ({exc})") from None
    except TypeError as exc:
        reason = re.sub(r"^[\w.<>]+[(][)] ", "", str(exc))
        raise CellError(f"{label}: {reason}") from None
    except HpmagicError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the user's bound expressions
        raise CellError(f"{label}: its arguments cannot be evaluated ({type(exc).__name__}: {exc})") from None
    return dim


class WorkerCell:
    """A compiled cell as a Dask worker runs it: against the notebook variables it reads (``bind``), with the
    worker's own ``tune``. Pickled once per study (code objects travel by value with cloudpickle)."""

    def __init__(
        self,
        source: str,
        code: CodeType,
        objective_code: CodeType | None,
        test_code: CodeType | None,
        filename: str,
        state_names: tuple[str, ...],
    ) -> None:
        self.source, self.code, self.objective_code, self.test_code = source, code, objective_code, test_code
        self.filename, self.state_names = filename, state_names
        self.values: dict[str, Any] = {}
        #: The notebook's functions among ``values``: each trial runs with copies whose globals are its namespace.
        self.functions: tuple[str, ...] = ()

    def bind(self, values: dict[str, Any]) -> None:
        """The notebook variables for the next trial (scattered ones arrive already resolved)."""
        self.values = values
        # Tracebacks of trials on the worker point at the cell's lines.
        linecache.cache[self.filename] = (len(self.source), None, self.source.splitlines(True), self.filename)

    def __call__(self, ctx: TrialContext) -> Any:
        from hpmagic.markers import tune

        ns = dict(self.values)
        ns["tune"] = tune
        rebind(ns, self.functions)
        ns[_RESTORE] = ctx.restore
        ctx.namespace, ctx.state_names = ns, self.state_names
        try:
            exec(self.code, ns)
            value = eval(self.objective_code, ns) if self.objective_code is not None else ns.pop(_RESULT, None)
            if self.test_code is not None:
                ctx.record_test(eval(self.test_code, ns))
        finally:
            ns.pop(_RESTORE, None)  # no cycle through the context: the trial's variables go with the trial
        return value

    def assigned(self, ns: dict[str, Any]) -> dict[str, Any]:
        """Names the cell bound in a trial's namespace (what the driver publishes for the best trial)."""
        base = self.values
        return {
            k: v
            for k, v in ns.items()
            if not (k.startswith("__") and k.endswith("__"))
            and k != "tune"
            and (k not in base or base[k] is not v)
            and not_rebound(ns, k, v)
        }


def _free_names(source: str) -> set[str]:
    """Every name the cell reads (in functions and comprehensions too): the notebook variables it may need."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _code_names(code: CodeType | None) -> set[str]:
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _is_tune(value: Any) -> bool:
    from hpmagic.markers import Tune

    return isinstance(value, Tune)

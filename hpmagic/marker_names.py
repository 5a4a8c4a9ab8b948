"""Find ``tune.*`` marker calls in Python source and the names they take.

A marker is named after what it is assigned to (``lr = tune.loguniform(...)``, also through a conditional
expression: ``gamma = tune.choice(...) if kernel == "rbf" else "scale"``, or by position when a tuple is unpacked:
``lr, depth = tune.loguniform(1e-3, 1), tune.int(2, 8)``), the keyword argument it fills
(``Model(alpha=tune.uniform(...))``), the dict key it is the value of (``{"num_leaves": tune.int(4, 128)}``, the
way LightGBM and XGBoost parameters are written) or is assigned to (``params["max_depth"] = tune.int(2, 8)``), or an
explicit ``name=``. The cell scanner uses this to build the
static space and to inject names; markers evaluated outside a study use it to find their own name from the
caller's source.
"""

from __future__ import annotations

import ast
import dataclasses
import linecache
from dataclasses import dataclass
from types import FrameType

__all__ = ["MARKER_KINDS", "MarkerSite", "find_markers", "name_at_frame"]

MARKER_KINDS = ("uniform", "loguniform", "int", "choice")

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class MarkerSite:
    """One marker call in the source.

    Attributes:
        call: the ``ast.Call`` node.
        kind: ``uniform``, ``loguniform``, ``int`` or ``choice``.
        name: the parameter name when it is known from the source, else None.
        explicit_name: True when the name comes from ``name=`` (nothing to inject).
        dynamic_name: True when ``name=`` is an expression evaluated at run time (an f-string in a loop).
        in_loop: inside a loop or comprehension (of the same scope).
        in_function: inside a function, lambda or class body: created only when that code runs.
        source: where the name comes from: ``name=``, ``variable``, ``keyword``, ``key`` (a dict key) or ``""``.
        conditional: in a branch (``if``/``else``, a conditional expression, the right of ``and``/``or``, an
            ``except`` or ``case``): some configurations never reach it, so a grid must not vary it for them.
    """

    call: ast.Call
    kind: str
    name: str | None
    explicit_name: bool
    dynamic_name: bool
    in_loop: bool
    in_function: bool
    source: str = ""
    conditional: bool = False

    @property
    def line(self) -> int:
        return self.call.lineno

    @property
    def is_static(self) -> bool:
        """Known before the first trial: a fixed name, run once per trial at the top level (maybe in an ``if``)."""
        return self.name is not None and not self.dynamic_name and not self.in_loop and not self.in_function


def marker_kind(node: ast.AST) -> str | None:
    """``'uniform'`` etc. if ``node`` is a call of ``tune.<kind>`` (or ``hpmagic.tune.<kind>``), else None."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    func = node.func
    if func.attr not in MARKER_KINDS:
        return None
    owner = func.value
    if isinstance(owner, ast.Name) and owner.id == "tune":
        return func.attr
    if isinstance(owner, ast.Attribute) and owner.attr == "tune" and isinstance(owner.value, ast.Name):
        return func.attr if owner.value.id == "hpmagic" else None
    return None


def find_markers(tree: ast.AST) -> list[MarkerSite]:
    """Every marker call in ``tree``, in source order."""
    sites: list[MarkerSite] = []

    def visit(node: ast.AST, parents: tuple[ast.AST, ...], in_loop: bool, in_function: bool, branch: bool) -> None:
        kind = marker_kind(node)
        if kind is not None:
            assert isinstance(node, ast.Call)
            site = _site(node, kind, parents, in_loop, in_function)
            sites.append(dataclasses.replace(site, conditional=branch) if branch else site)
        child_loop = in_loop or isinstance(node, _LOOPS)
        child_function = in_function or isinstance(node, _SCOPES)
        if isinstance(node, _SCOPES):
            child_loop = False
        for child in ast.iter_child_nodes(node):
            # A loop's iterable is evaluated once; only its body repeats.
            repeats = child_loop and not (isinstance(node, (ast.For, ast.AsyncFor)) and child is node.iter)
            visit(child, (*parents, node), repeats, child_function, branch or _in_branch(node, child))

    visit(tree, (), False, False, False)
    sites.sort(key=lambda s: (s.call.lineno, s.call.col_offset))
    return sites


def _in_branch(node: ast.AST, child: ast.AST) -> bool:
    """Whether ``child`` of ``node`` runs only for some executions of ``node`` (a branch, not the condition)."""
    if isinstance(node, (ast.If, ast.IfExp, ast.While)):
        return child is not node.test
    if isinstance(node, ast.BoolOp):
        return child is not node.values[0]
    if isinstance(node, (ast.Try, ast.TryStar)):
        return child not in node.body and child not in node.finalbody
    if isinstance(node, ast.Match):
        return child is not node.subject
    return isinstance(node, ast.comprehension) and child in node.ifs


def _site(call: ast.Call, kind: str, parents: tuple[ast.AST, ...], in_loop: bool, in_function: bool) -> MarkerSite:
    for kw in call.keywords:
        if kw.arg == "name":
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                return MarkerSite(call, kind, kw.value.value, True, False, in_loop, in_function, "name=")
            return MarkerSite(call, kind, None, True, True, in_loop, in_function, "name=")
    name, source = _implicit_name(call, parents)
    return MarkerSite(call, kind, name, False, False, in_loop, in_function, source)


def _implicit_name(node: ast.AST, parents: tuple[ast.AST, ...]) -> tuple[str | None, str]:
    """The name ``node`` takes from where it stands, and what gives it (``variable``, ``keyword``, ``key``)."""
    parent = parents[-1] if parents else None
    if isinstance(parent, ast.IfExp) and node is not parent.test:
        # ``gamma = tune.choice(...) if kernel == "rbf" else "scale"``: the branch takes the whole expression's name.
        return _implicit_name(parent, parents[:-1])
    if isinstance(parent, ast.Assign) and parent.value is node and len(parent.targets) == 1:
        target = parent.targets[0]
        if isinstance(target, ast.Name):
            return target.id, "variable"
        # ``params["max_depth"] = tune.int(2, 8)``: an item of a parameter dict, named by its key.
        key = target.slice if isinstance(target, ast.Subscript) else None
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.strip():
            return key.value, "key"
        return None, ""
    if isinstance(parent, (ast.Tuple, ast.List)) and len(parents) > 1:
        # ``lr, depth = tune.loguniform(1e-3, 1), tune.int(2, 8)``: each marker takes the name in its position.
        assign = parents[-2]
        if isinstance(assign, ast.Assign) and assign.value is parent and len(assign.targets) == 1:
            targets = assign.targets[0]
            if isinstance(targets, (ast.Tuple, ast.List)) and len(targets.elts) == len(parent.elts):
                target = targets.elts[next(i for i, e in enumerate(parent.elts) if e is node)]
                return (target.id, "variable") if isinstance(target, ast.Name) else (None, "")
        return None, ""
    if isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.value is node:
        return (parent.target.id, "variable") if isinstance(parent.target, ast.Name) else (None, "")
    if isinstance(parent, ast.keyword) and parent.arg is not None:
        return parent.arg, "keyword"
    if isinstance(parent, ast.Dict):
        for key, value in zip(parent.keys, parent.values, strict=True):
            if value is node and isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.strip():
                return key.value, "key"
    return None, ""


# -- naming a marker from the frame that calls it --------------------------------------------------------------------

_TREES: dict[tuple[str, int], ast.AST | None] = {}


def name_at_frame(frame: FrameType, dict_keys: bool = True) -> tuple[bool, str | None]:
    """The marker name at the call being executed in ``frame``: ``(found_marker, name)``.

    ``found_marker`` is False when the source is not available or the call is not a recognisable marker; ``name``
    is None when the marker has no name from its context (a positional argument; a dict value when ``dict_keys`` is
    False: outside a study, ``{"x": tune.uniform(...)}`` declares a search space for ``hpmagic.optimize``).
    """
    code = frame.f_code
    lines = linecache.getlines(code.co_filename, frame.f_globals)
    if not lines:
        return False, None
    source = "".join(lines)
    key = (code.co_filename, hash(source))
    if key not in _TREES:
        try:
            _TREES[key] = ast.parse(source)
        except SyntaxError:
            _TREES[key] = None
    tree = _TREES[key]
    if tree is None:
        return False, None
    try:
        positions = list(code.co_positions())[frame.f_lasti // 2]
    except (IndexError, AttributeError):
        return False, None
    lineno, _end_lineno, col, _end_col = positions
    on_line = [s for s in find_markers(tree) if s.call.lineno == lineno]
    exact = [s for s in on_line if s.call.col_offset == col]
    # Fall back to the line alone when there is one marker on it.
    site = exact[0] if exact else on_line[0] if len(on_line) == 1 else None
    if site is None:
        return False, None
    return True, None if site.source == "key" and not dict_keys else site.name

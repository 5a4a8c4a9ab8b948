"""Markers in dicts (nested too, in calls, assigned to a key) and in conditional expressions take the names ML code
gives them: generated cells."""

from __future__ import annotations

import keyword
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic import tune
from hpmagic.cell import build_objective
from hpmagic.context import TrialContext
from hpmagic.errors import CellError, HpmagicError
from hpmagic.schedulers import FIFOScheduler
from hpmagic.trial import Trial

NAMES = st.from_regex(r"[a-z][a-z_0-9]{0,6}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
MARKERS = st.sampled_from(["tune.int(1, 9)", "tune.uniform(0, 1)", "tune.choice(['a', 'b'])"])


@st.composite
def dict_literal(draw: Any, depth: int = 0) -> tuple[str, list[str]]:
    """A dict literal whose values are markers, constants or (nested) dicts; returns it and its marker keys."""
    keys = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    items, names = [], []
    for key in keys:
        kinds = ["marker", "constant", "conditional", "call"] + (["dict"] if depth < 2 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "marker":
            items.append(f'"{key}": {draw(MARKERS)}')
            names.append(key)
        elif kind == "conditional":  # the key names the marker of a conditional expression too
            items.append(f'"{key}": {draw(MARKERS)} if flag else "off"')
            names.append(key)
        elif kind == "call":  # a call in the dict: its keyword arguments name their markers, not the key
            keywords = draw(st.lists(NAMES, min_size=1, max_size=2, unique=True))
            items.append(f'"{key}": dict(' + ", ".join(f"{k}={draw(MARKERS)}" for k in keywords) + ")")
            names += keywords
        elif kind == "constant":
            items.append(f'"{key}": 3')
        else:
            inner, inner_names = draw(dict_literal(depth + 1))
            items.append(f'"{key}": {inner}')
            names += inner_names
    return "{" + ", ".join(items) + "}", names


@st.composite
def cells(draw: Any) -> tuple[str, list[str]]:
    """Lines of dict literals, calls and conditional markers; the markers' expected names in source order."""
    lines, names = [], []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["dict", "conditional", "call", "item"]))
        if kind == "dict":
            literal, keys = draw(dict_literal())
            lines.append(f"d{i} = {literal}")
            names += keys
        elif kind == "call":  # a call of a dict: ``dict(lr=tune.uniform(...), params={...})``
            literal, keys = draw(dict_literal())
            keyword = draw(NAMES.filter(lambda s: s != "inner"))
            lines.append(f"d{i} = dict({keyword}={draw(MARKERS)}, inner={literal})")
            names += [keyword, *keys]
        elif kind == "item":  # ``params["max_depth"] = tune.int(2, 8)``, as XGBoost's walkthrough builds params
            keys = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
            lines.append(f"d{i} = {{}}")
            lines += [f'd{i}["{key}"] = {draw(MARKERS)}' for key in keys]
            names += keys
        else:
            lines.append(f"v{i} = {draw(MARKERS)} if flag else 'off'")
            names.append(f"v{i}")
    lines.append("0.5")
    return "\n".join(lines) + "\n", names


@settings(max_examples=150, deadline=None)
@given(cells())
def test_generated_cells_name_every_marker_or_refuse_a_repeated_name(case: tuple[str, list[str]]) -> None:
    source, names = case
    ns = {"tune": tune, "flag": True}
    if not names:
        with pytest.raises(CellError, match="no hyperparameter markers"):
            build_objective(source, ns, first_line=2)
        return
    if len(set(names)) < len(names):
        # Refused before any trial, naming the two lines and the name (a dict key's, or a keyword's, twice).
        repeated = {n for i, n in enumerate(names) if n in names[:i]}
        with pytest.raises(HpmagicError) as refused:
            build_objective(source, ns, first_line=2)
        found = re.search(
            r"lines (\d+) and (\d+) both name a marker '(\w+)'|'(\w+)' is defined twice \(lines", str(refused.value)
        )
        assert found and (found.group(3) or found.group(4)) in repeated, str(refused.value)
        return
    objective = build_objective(source, ns, first_line=2)
    assert list(objective.space) == names
    # A trial's dicts hold the values the trial used, under the same keys.
    strategy = FIFOScheduler()
    strategy.setup(objective.space, direction="minimize", seed=0)
    params = {name: _value(dim) for name, dim in objective.space.items()}
    with TrialContext(Trial(number=0), objective.space, dict(params), strategy) as ctx:
        objective(ctx)
    ns_trial = objective._last_ns
    assert ns_trial is not None
    found: dict[str, Any] = {}
    for key, value in ns_trial.items():
        if key.startswith("d"):
            _collect(value, names, found)
        elif key.startswith("v") and key[1:].isdigit():
            found[key] = value
    assert found == params


def _value(dim: Any) -> Any:
    return {"Int": 5, "Float": 0.25}.get(type(dim).__name__, "b")


def _collect(d: Any, names: list[str], found: dict[str, Any]) -> None:
    for key, value in d.items():
        if isinstance(value, dict):
            _collect(value, names, found)
        elif key in names and value != 3:  # 3: a constant under a marker's key elsewhere
            found[key] = value


def test_a_key_that_is_not_a_string_or_is_blank_needs_a_name() -> None:
    for source in ("d = {1: tune.int(1, 3)}\n0\n", 'd = {" ": tune.int(1, 3)}\n0\n', "d = {k: tune.int(1, 3)}\n0\n"):
        with pytest.raises(CellError, match="line 2: tune.int.*needs a name"):
            build_objective(source, {"tune": tune, "k": "x"}, first_line=2)


def test_an_explicit_name_resolves_a_repeated_key() -> None:
    source = 'a = {"lr": tune.uniform(0, 1)}\nb = {"lr": tune.uniform(0, 2, name="lr_b")}\n0\n'
    assert list(build_objective(source, {"tune": tune}).space) == ["lr", "lr_b"]


def test_both_branches_of_a_conditional_are_one_variable_twice() -> None:
    with pytest.raises(Exception, match="defined twice"):
        build_objective("x = tune.int(1, 3) if flag else tune.int(5, 9)\n0\n", {"tune": tune, "flag": True})

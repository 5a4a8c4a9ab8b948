"""Section 1, parser part: parser and compiler errors are one-line CellErrors with the user's line number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic import tune
from hpmagic.cell import build_objective
from hpmagic.errors import CellError

BAD = ["yield 1", "yield from []", "return 3", "await f()", "nonlocal q", "async with a: pass", "break", "continue"]


@settings(max_examples=60)
@given(before=st.integers(0, 6), after=st.integers(0, 3), bad=st.sampled_from(BAD))
def test_compile_errors_name_the_users_line(before: int, after: int, bad: str) -> None:
    lines = ["x = tune.uniform(0, 1)"] + [f"a{i} = {i}" for i in range(before)] + [bad]
    lines += [f"b{i} = {i}" for i in range(after)] + ["x"]
    with pytest.raises(CellError) as info:
        build_objective("\n".join(lines), {"tune": tune})
    first = str(info.value).splitlines()[0]
    assert f"line {before + 2}" in first, str(info.value)


@settings(max_examples=10)
@given(depth=st.integers(201, 5000), kind=st.sampled_from(["(", "[", "-"]))
def test_absurd_nesting_is_a_cell_error(depth: int, kind: str) -> None:
    close = {"(": ")", "[": "]", "-": ""}[kind]
    source = f"x = tune.uniform(0, 1)\ny = {kind * depth}1{close * depth}\nx"
    with pytest.raises(CellError) as info:
        build_objective(source, {"tune": tune})
    assert len(str(info.value).splitlines()) <= 3

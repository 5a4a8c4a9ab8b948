"""A cell magic written inside a %%tune cell (``%%time``, ``%%capture``, ...) in a real IPython shell: IPython runs
one only from a cell's first line, so inside the cell it is a one-line UsageError naming its line, before any trial
(above %%tune it wraps the study)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

BODY = ["x = tune.uniform(0, 1)", "k = tune.int(1, 3)", "%time y = x * k", "s = '''\n%%time inside a string\n'''"]
MAGICS = st.sampled_from(["%%time", "%%capture", "%%capture out", "%%timeit -n1 -r1", "%%writefile f.py", "%%html"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(magic=MAGICS, position=st.integers(0, len(BODY)), blank=st.booleans())
def test_a_cell_magic_inside_the_cell_is_a_usage_error_naming_its_line(ip, magic, position, blank):
    lines = [*BODY[:position], magic, *BODY[position:], "x * k"]
    if blank:
        lines.insert(0, "")
    cell = "\n".join(lines) + "\n"
    line = 2 + cell.splitlines().index(magic)  # the %%tune line is line 1
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("tune", "--strategy random --trials 2 --seed 0 --storage :memory:", cell)
    message = str(info.value)
    assert message.startswith(f"line {line}: {magic.split()[0]} is a cell magic")
    assert "above %%tune" in message and len(message.splitlines()) == 1
    assert ip.user_ns["tune"].study is None or ip.user_ns["tune"].study.source != cell


SYNTAX = st.sampled_from(["!echo hi", "out = !echo hi", "%time y = 1", "x?", "%env HPMAGIC_TEST=1", "files = %sx ls"])
PLAIN = ["x = tune.uniform(0, 1)", "k = tune.int(1, 3)", "s = '''\n!echo inside a string\n'''"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(syntax=SYNTAX, position=st.integers(1, len(PLAIN)))
def test_ipython_syntax_with_worker_processes_is_a_usage_error_naming_its_line(ip, syntax, position):
    """Worker processes have no IPython shell: the line was refused as "the cell reads 'get_ipython' (method),
    which cannot be sent to worker processes ...; create get_ipython inside the cell"."""
    lines = [*PLAIN[:position], syntax, *PLAIN[position:], "x * k"]
    cell = "\n".join(lines) + "\n"
    line = 2 + cell.splitlines().index(syntax)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("tune", "--strategy random --trials 2 --seed 0 --storage :memory: --jobs 2", cell)
    message = str(info.value)
    assert message.startswith(f"line {line}: IPython syntax") and "--jobs" in message
    assert len(message.splitlines()) == 1

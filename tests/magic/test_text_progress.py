"""The progress line of %%tune in a terminal (the text display) in a real IPython shell: rewritten in place with
``\\r``, so it must fit the terminal's width whatever the cell's parameters (many, long names, long values)."""

from __future__ import annotations

import keyword

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.magic.conftest import run


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(40, 200),
    names=st.lists(
        st.from_regex(r"[a-z][a-z0-9_]{0,40}", fullmatch=True).filter(
            lambda s: not keyword.iskeyword(s) and s != "tune"
        ),
        min_size=1,
        max_size=40,
        unique=True,
    ),
    long_value=st.booleans(),
)
def test_the_progress_line_fits_the_terminal(ip, capsys, monkeypatch, width, names, long_value):
    monkeypatch.setenv("COLUMNS", str(width))
    ip.run_line_magic("config", "TuneMagics.display = 'text'")
    markers = [f"{n} = tune.choice(['{'v' * 300 if long_value else 'v'}'])" for n in names]
    cell = "\n".join([*markers, "X = tune.uniform(0, 1)", "X"]) + "\n"
    capsys.readouterr()
    assert run(ip, "--strategy random --trials 2 --seed 0 --storage :memory:", cell).success
    progress = capsys.readouterr().out.split("\n")[0]  # the rows rewritten in place, before the results table
    frames = [frame for frame in progress.split("\r") if frame.strip()]
    assert frames and frames[0].startswith(ip.user_ns["tune"].study.name)
    assert all(len(frame) < width for frame in progress.split("\r"))

"""Resuming a study after editing its cell, in a real IPython shell: the earlier trials stay, and what summarises
the study (the results table, the parameters that mattered) reads them even when their values are no longer in the
edited space (other choices, another kind of marker)."""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import TrialState
from tests.magic.conftest import run

WORDS = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=4, unique=True)
MARKERS = st.one_of(
    WORDS.map(lambda words: f"tune.choice({words!r})"),
    st.just("tune.int(0, 9)"),
    st.just("tune.uniform(0, 9)"),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=MARKERS, after=MARKERS, first=st.integers(5, 8), more=st.integers(1, 4))
def test_a_resumed_study_whose_cell_changed_its_space_is_summarised(ip, capsys, before, after, first, more):
    ip.run_line_magic("config", "TuneMagics.display = 'text'")
    name = f"edited {len(ip.user_ns.get('runs', []))}"
    ip.user_ns.setdefault("runs", []).append(name)
    line = f"--strategy random --seed 0 --name '{name}' --storage :memory:"
    cell = "x = tune.uniform(0, 1)\nk = {}\nx + len(str(k))\n"
    assert run(ip, f"{line} --trials {first}", cell.format(before)).success
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(ip, f"{line} --trials {first + more} --resume", cell.format(after)).success
    assert not [w for w in caught if "reporter failed" in str(w.message)]
    out = capsys.readouterr().out
    study = ip.user_ns["tune"].study
    assert len(study.trials) == first + more  # nothing computed before the edit is lost
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert f"Study {name}" in out and f"{first + more} complete of {first + more} trials" in out
    assert set(hpmagic.importance(study)) <= {"x", "k"}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(added=MARKERS, first=st.integers(1, 4), more=st.integers(1, 3))
def test_a_best_trial_from_before_the_edit_says_why_its_variables_are_not_rebuilt(ip, capsys, added, first, more):
    """The best trial ran before the cell gained a marker: it has no value to replay it with. The notebook is told
    that in a sentence (it read ``ValueError: expected non-negative integer``), and the study keeps every trial."""
    ip.run_line_magic("config", "TuneMagics.display = 'none'")
    name = f"grown {len(ip.user_ns.get('runs', []))}"
    ip.user_ns.setdefault("runs", []).append(name)
    line = f"--strategy random --seed 0 --name '{name}' --storage :memory:"
    assert run(ip, f"{line} --trials {first}", "x = tune.uniform(0, 1)\nx\n").success
    best = ip.user_ns["tune"].study.best_trial
    capsys.readouterr()
    cell = f"x = tune.uniform(0, 1)\nz = {added}\nx + 10 + len(str(z))\n"  # every new trial is worse
    assert run(ip, f"{line} --trials {first + more} --resume", cell).success
    out = capsys.readouterr().out
    study = ip.user_ns["tune"].study
    assert len(study.trials) == first + more and study.best_trial.number == best.number
    assert ip.user_ns["tune"].best == best.params
    assert "could not rebuild the best trial's variables" in out
    assert "the cell changed since that trial ran: it has no value of 'z'" in out

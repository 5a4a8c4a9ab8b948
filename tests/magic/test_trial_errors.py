"""What a failing trial shows under a %%tune cell: one short line per cause, however long or many-lined the
exception's message or the objective's repr, while the study goes on and keeps its complete trials."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpmagic import TrialState
from hpmagic.results import failure_cause
from tests.magic.conftest import run

#: Far above a readable line, far below the megabytes a message can carry.
LONGEST_LINE = 1000


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(LONGEST_LINE, 3_000_000),
    piece=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=5),
)
def test_a_huge_exception_message_is_one_short_line(ip, capsys, size, piece):
    ip.run_line_magic("config", "TuneMagics.display = 'text'")
    ip.user_ns["message"] = (piece * size)[:size]
    cell = "x = tune.uniform(0, 1)\nif x > 0.5:\n    raise ValueError(message)\nx\n"
    capsys.readouterr()
    assert run(ip, "--strategy random --trials 6 --seed 0 --max-failures 6 --storage :memory:", cell).success
    out = capsys.readouterr().out
    study = ip.user_ns["tune"].study
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert failed and len(study.trials) == 6  # the study went on
    assert all(t.value == t.params["x"] for t in study.trials if t.state is TrialState.COMPLETE)
    for trial in failed:
        assert trial.error.startswith("ValueError: ") and len(trial.error) <= LONGEST_LINE
        assert len(failure_cause(trial)) <= LONGEST_LINE
        assert size <= len(trial.traceback)  # the whole message stays in the traceback
    assert "failed: " in out
    assert max(len(line) for line in out.splitlines()) <= LONGEST_LINE


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(2, 30), columns=st.integers(1, 6), kind=st.sampled_from(["DataFrame", "array", "Series"]))
def test_an_objective_with_a_many_lined_repr_fails_with_one_line(ip, capsys, rows, columns, kind):
    ip.run_line_magic("config", "TuneMagics.display = 'text'")
    ip.run_cell("import numpy as np\nimport pandas as pd")
    build = {
        "DataFrame": f"pd.DataFrame(np.full(({rows}, {columns}), x))",
        "array": f"np.full(({rows}, {columns}), x)",
        "Series": f"pd.Series(np.full({rows}, x))",
    }[kind]
    capsys.readouterr()
    assert run(ip, "--strategy random --trials 2 --seed 0 --storage :memory:", f"x = tune.uniform(0, 1)\n{build}\n")
    out = capsys.readouterr().out
    for trial in ip.user_ns["tune"].study.trials:
        assert trial.state is TrialState.FAILED
        assert "must be a real number" in trial.error
        assert "\n" not in trial.error and len(trial.error) <= 200
    failure_lines = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert failure_lines and all("must be a real number" in line for line in failure_lines)

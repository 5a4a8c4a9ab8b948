"""Infeasible trials in the views: the results table (HTML, text, rows), the dashboard's rows and the static copy."""

from __future__ import annotations

import re

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.display.dashboard import static_copy
from hpmagic.display.view_model import DashboardModel, rows_html


def _study():
    # x <= 0 is feasible; the unconstrained minimum (x = 2) is not: infeasible trials score better than the best.
    return hpmagic.optimize(
        lambda p: (p["x"] - 2) ** 2,
        {"x": tune.uniform(-5, 5)},
        strategy="random",
        n_trials=12,
        seed=0,
        constraints=["x <= 0"],
    )


def test_rows_and_dataframe_have_feasible_and_violation_columns():
    study = _study()
    rows = study.rows()
    assert list(rows[0])[:5] == ["number", "state", "value", "feasible", "violation"]
    for row, t in zip(rows, study.trials, strict=True):
        assert row["feasible"] == (t.params["x"] <= 0)
        assert row["violation"] == max(0.0, t.params["x"])
    frame = study.to_dataframe()
    assert frame["feasible"].tolist() == [r["feasible"] for r in rows]
    unconstrained = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", n_trials=2)
    assert "feasible" not in unconstrained.rows()[0]


def test_the_table_lists_feasible_trials_first_and_greys_the_infeasible_ones():
    study = _study()
    feasible = [t for t in study.sorted_trials() if t.state is TrialState.COMPLETE and t.feasible]
    infeasible = [t for t in study.sorted_trials() if t.state is TrialState.COMPLETE and not t.feasible]
    assert feasible and infeasible
    assert study.sorted_trials()[: len(feasible)] == feasible  # a better value that misses the constraint comes later
    assert [t.violations[0] for t in infeasible] == sorted(t.violations[0] for t in infeasible)
    page = study._repr_html_()
    grey = re.findall(r'<tr class="hpmagic-infeasible" style="color:#8c959f"><td>(\d+)</td>', page)
    assert sorted(map(int, grey)) == sorted(t.number for t in infeasible)
    assert "infeasible: misses &#x27;x &lt;= 0&#x27; by" in page
    assert f"best feasible value {study.best_value:.6g} (trial {study.best_trial.number})" in page
    text = study.summary()
    worst = infeasible[-1]
    line = next(line for line in text.splitlines() if line.startswith(f"{worst.number} "))
    assert "complete ✗" in line and f"misses 'x <= 0' by {worst.violations[0]:.4g}" in line
    assert f"{len(infeasible)} infeasible" in text.splitlines()[1]


def test_the_dashboard_rows_and_static_copy_grey_infeasible_trials():
    study = _study()
    model = DashboardModel(top_k=20)
    model.load(study)
    rows = model.rows()
    by_number = {t.number: t for t in study.trials}
    assert [r.feasible for r in rows] == [by_number[r.number].feasible for r in rows]
    assert rows[0].feasible and rows[0].is_best  # sorted by value, the best feasible trial first
    first_infeasible = next(i for i, r in enumerate(rows) if not r.feasible)
    assert all(not r.feasible for r in rows[first_infeasible:])
    assert all(r.note.startswith("infeasible: misses 'x <= 0' by") for r in rows if not r.feasible)
    html = rows_html(rows, ["x"])
    marked = re.findall(
        r'class="hpmagic-row hpmagic-complete hpmagic-infeasible" data-state="complete" '
        r'data-number="(\d+)" style="color:#8c959f"',
        html,
    )
    assert sorted(map(int, marked)) == sorted(r.number for r in rows if not r.feasible)
    copy = static_copy(study)
    assert copy["text/html"].count('class="hpmagic-infeasible"') == len(marked)
    assert "✗" in copy["text/plain"]

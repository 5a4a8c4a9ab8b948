"""Learning curves: every reporting trial's curve, the best one marked."""

from __future__ import annotations

import pytest

from hpmagic.plot import learning_curves, learning_curves_data
from hpmagic.trial import Trial, TrialState


def _trial(number, points, state=TrialState.COMPLETE):
    return Trial(number=number, state=state, value=points[-1][1] if points else None, intermediate=list(points))


def test_curves_data_keeps_each_reporting_trial_and_marks_the_best():
    trials = [
        _trial(0, [(1, 0.5), (2, 0.6), (3, float("nan"))]),
        _trial(1, []),
        _trial(2, [(1, 0.4)], TrialState.PRUNED),
        _trial(3, [(4, 0.7), (5, 0.8)]),  # a continued trial reports from the step it starts at
    ]
    curves = learning_curves_data(trials, best=trials[3])
    assert [c.number for c in curves] == [0, 2, 3]
    assert curves[0].steps == (1, 2) and curves[0].values == (0.5, 0.6)  # the NaN report is left out
    assert curves[1].state == "pruned" and curves[2].is_best and not curves[0].is_best
    assert curves[2].steps == (4, 5)


def test_learning_curves_draws_one_line_per_trial():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    class Study:
        name = "lc"
        direction = "maximize"
        space = None
        trials = [_trial(0, [(1, 0.5), (2, 0.6)]), _trial(1, [(1, 0.7), (2, 0.9)])]
        best_trial = trials[1]

    ax = learning_curves(Study(), ax=Figure().add_subplot(111))
    drawn = [line for line in ax.lines if len(line.get_xdata())]
    assert len(drawn) == 2
    assert list(drawn[-1].get_ydata()) == [0.7, 0.9] and drawn[-1].get_label() == "best (trial 1)"
    empty = learning_curves(type("S", (), {"trials": [], "name": "e"})(), ax=Figure().add_subplot(111))
    assert "no trial reported" in empty.texts[0].get_text()

"""The Pareto front plot: what it draws, read back from the Axes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic.plot import pareto_data, pareto_front
from hpmagic.trial import Trial, TrialState
from hpmagic.types import Direction

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402


@dataclass
class FakeStudy:
    """What the plot reads from a study."""

    objective_names: list[str]
    directions: list[Direction]
    trials: list[Trial] = field(default_factory=list)
    name: str = "mo"


def _study(points, directions=("minimize", "minimize"), names=None, violations=None) -> FakeStudy:
    names = names or [f"f{i}" for i in range(len(directions))]
    trials = [
        Trial(
            number=n,
            state=TrialState.COMPLETE,
            value=p[0],
            values=list(p),
            violations=None if violations is None else [violations[n]],
        )
        for n, p in enumerate(points)
    ]
    return FakeStudy(names, [Direction(d) for d in directions], trials)


def _ax():
    return Figure().add_subplot(111)


def _artist(ax, gid):
    found = [a for a in [*ax.collections, *ax.lines] if a.get_gid() == gid]
    return found[0] if found else None


def _offsets(ax, gid) -> set[tuple[float, float]]:
    artist = _artist(ax, gid)
    return set() if artist is None else {(float(x), float(y)) for x, y in artist.get_offsets()}


def test_front_points_line_and_labels_on_a_min_max_study():
    # accuracy maximised, size minimised: (0.9, 5) and (0.8, 2) trade off; (0.7, 4) is dominated by (0.8, 2).
    study = _study(
        [(0.9, 5.0), (0.7, 4.0), (0.8, 2.0), (0.95, 9.0)], ("maximize", "minimize"), names=["accuracy", "size"]
    )
    ax = pareto_front(study, ax=_ax())
    assert _offsets(ax, "front") == {(0.9, 5.0), (0.8, 2.0), (0.95, 9.0)}
    assert _offsets(ax, "trials") == {(0.7, 4.0)}
    assert ax.get_xlabel() == "accuracy (maximize ↑)" and ax.get_ylabel() == "size (minimize ↓)"
    line = _artist(ax, "front-line")
    # x maximised: between neighbours along x the corner takes the left point's x and the right point's y.
    assert list(line.get_xdata()) == [0.8, 0.8, 0.9, 0.9, 0.95]
    assert list(line.get_ydata()) == [2.0, 5.0, 5.0, 9.0, 9.0]
    assert pareto_data(study).front_numbers == (2, 0, 3)


def test_min_min_staircase_and_infeasible_trials_drawn_apart():
    points = [(1.0, 4.0), (2.0, 1.0), (0.5, 0.5), (3.0, 3.0)]
    # trial 2 would dominate everything but violates its constraint: it is a grey cross, never on the front
    study = _study(points, violations=[0.0, 0.0, 2.5, 0.0])
    ax = pareto_front(study, ax=_ax())
    assert _offsets(ax, "infeasible") == {(0.5, 0.5)}
    assert _offsets(ax, "front") == {(1.0, 4.0), (2.0, 1.0)}
    assert _offsets(ax, "trials") == {(3.0, 3.0)}
    line = _artist(ax, "front-line")
    assert list(line.get_xdata()) == [1.0, 2.0, 2.0] and list(line.get_ydata()) == [4.0, 4.0, 1.0]
    assert "infeasible (1)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_three_objectives_pick_the_pair():
    study = _study([(1.0, 9.0, 3.0), (2.0, 8.0, 1.0), (3.0, 7.0, 2.0)], ("minimize",) * 3, names=["a", "b", "c"])
    ax = pareto_front(study, ("a", "c"), ax=_ax())
    assert ax.get_xlabel().startswith("a ") and ax.get_ylabel().startswith("c ")
    # in (a, c), trial 2 (3, 2) is dominated by trial 1 (2, 1), though it is on the 3-objective front
    assert _offsets(ax, "front") == {(1.0, 3.0), (2.0, 1.0)}
    assert _offsets(ax, "trials") == {(3.0, 2.0)}
    default = pareto_front(study, ax=_ax())
    assert default.get_xlabel().startswith("a ") and default.get_ylabel().startswith("b ")


def test_bad_pairs_and_single_objective_studies_say_what_to_fix():
    study = _study([(1.0, 2.0, 3.0)], ("minimize",) * 3, names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"unknown objective 'd'.*\['a', 'b', 'c'\]"):
        pareto_front(study, ("a", "d"), ax=_ax())
    with pytest.raises(ValueError, match="two different names"):
        pareto_front(study, ("a", "a"), ax=_ax())
    with pytest.raises(ValueError, match="a pair"):
        pareto_front(study, "ab", ax=_ax())
    single = FakeStudy(["value"], [Direction("minimize")], [Trial(0, state=TrialState.COMPLETE, value=1.0)])
    with pytest.raises(ValueError, match="two or more objectives"):
        pareto_front(single, ax=_ax())


def test_no_complete_trial_yet_is_said_on_the_axes():
    study = _study([])
    study.trials = [Trial(0, state=TrialState.FAILED), Trial(1, state=TrialState.RUNNING)]
    ax = pareto_front(study, ax=_ax())
    assert "no complete trial" in ax.texts[0].get_text()


def _dominates(a, b, signs) -> bool:
    a, b = np.asarray(a) * signs, np.asarray(b) * signs
    return bool(np.all(a <= b) and np.any(a < b))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans()), min_size=1, max_size=25),
    st.sampled_from(["minimize", "maximize"]),
    st.sampled_from(["minimize", "maximize"]),
)
def test_front_is_exactly_the_feasible_nondominated_points(rows, dx, dy):
    points = [(float(x), float(y)) for x, y, _ok in rows]
    study = _study(points, (dx, dy), violations=[0.0 if ok else 1.0 for _x, _y, ok in rows])
    ax = pareto_front(study, ax=_ax())
    signs = np.array([Direction(dx).sign, Direction(dy).sign], dtype=float)
    feasible = [p for p, (_x, _y, ok) in zip(points, rows, strict=True) if ok]
    expected = {p for p in feasible if not any(_dominates(q, p, signs) for q in feasible)}
    assert _offsets(ax, "front") == expected
    drawn = _offsets(ax, "front") | _offsets(ax, "trials") | _offsets(ax, "infeasible")
    assert drawn == set(points)
    line = _artist(ax, "front-line")
    if not expected:
        assert line is None
        return
    xs, ys = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert {(x, y) for x, y in zip(xs[::2], ys[::2], strict=True)} == expected  # every other vertex is a point
    assert np.all(np.diff(xs) >= 0)  # the line runs along x
    # every corner is dominated by (or equal to) both its neighbours: the line is the dominated region's edge
    for k in range(1, len(xs), 2):
        corner = (xs[k], ys[k])
        for nb in ((xs[k - 1], ys[k - 1]), (xs[k + 1], ys[k + 1])):
            assert _dominates(nb, corner, signs) or tuple(nb) == corner


def test_a_real_optimize_study_with_a_constraint():
    import hpmagic
    from hpmagic import tune

    study = hpmagic.optimize(
        lambda p: {"acc": p["a"], "size": p["a"] ** 2 + p["b"]},
        {"a": tune.uniform(0, 1), "b": tune.uniform(0, 1)},
        strategy="random",
        n_trials=25,
        seed=1,
        directions={"acc": "maximize", "size": "minimize"},
        constraints=["size <= 1.0"],
    )
    ax = pareto_front(study, ax=_ax())
    by_number = {t.number: t for t in study.trials}
    data = pareto_data(study)
    assert set(data.front_numbers) == {t.number for t in study.best_trials}
    assert _offsets(ax, "front") == {tuple(by_number[n].values) for n in data.front_numbers}
    assert _offsets(ax, "infeasible") == {tuple(t.values) for t in study.trials if not t.feasible}
    assert all(t.values[1] > 1.0 for t in study.trials if not t.feasible) and not all(t.feasible for t in study.trials)
    assert ax.get_xlabel() == "acc (maximize ↑)" and ax.get_ylabel() == "size (minimize ↓)"

"""The dashboard's Pareto tab on real multi-objective studies (widgets without a front end: their state is what a
browser gets; the real click in a browser is tests/browser/test_pareto_browser.py)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from hpmagic.display.dashboard import Dashboard
from hpmagic.display.pareto_tab import ParetoTab, objective_pairs
from hpmagic.space import Float, Space
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState

SPACE = Space({"depth": Float(1, 10), "lr": Float(0, 1)})


class _Shown(Dashboard):
    def show(self) -> None:
        self.shown = True


def _study(points, names=("accuracy", "size"), directions=("maximize", "minimize"), violations=None, constraints=()):
    study = create_study(
        space=SPACE, name="mo", objective_names=list(names), directions=list(directions), constraints=constraints
    )
    study.trials = [
        Trial(
            number=n,
            state=TrialState.COMPLETE,
            params={"depth": float(n + 1), "lr": 0.1 * n},
            value=p[0],
            values=list(p),
            violations=None if violations is None else [violations[n]],
            finished_at=1.0,
            started_at=0.5,
        )
        for n, p in enumerate(points)
    ]
    study.trials.append(Trial(number=len(points), state=TrialState.FAILED, error="boom", finished_at=1.0))
    return study


POINTS = [(0.9, 5.0), (0.7, 4.0), (0.8, 2.0), (0.95, 9.0), (0.6, 7.0)]


def _positions(tab: ParetoTab) -> dict[int, tuple[float, float]]:
    rules = re.findall(r"\.hpmagic-pt-(\d+) \{ left: ([\d.]+)%; top: ([\d.]+)%; \}", tab.style.value)
    return {int(n): (float(left), float(top)) for n, left, top in rules}


def _pixel(png: bytes, left: float, top: float) -> np.ndarray:
    from matplotlib.image import imread

    image = imread(io.BytesIO(png))
    h, w = image.shape[:2]
    return image[min(int(top / 100 * h), h - 1), min(int(left / 100 * w), w - 1), :3]


def test_pareto_tab_comes_first_and_lays_a_button_over_each_drawn_point():
    used = []
    dash = _Shown(on_use_trial=lambda n: used.append(n) or f"published trial {n}").load(_study(POINTS))
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert titles[0] == "Pareto front" and "Convergence" in titles
    tab = dash.pareto
    assert tab is not None and dash.explore.children[0] is tab.widget
    assert set(tab.points) == {0, 1, 2, 3, 4}  # the failed trial has no point
    positions = _positions(tab)
    assert set(positions) == set(tab.points)
    # each button sits on its drawn marker: the front's red, the others' blue, in the PNG the tab shows
    for number, (left, top) in positions.items():
        r, g, b = _pixel(tab.png, left, top)
        if number in (0, 2, 3):  # the front: (0.9, 5), (0.8, 2), (0.95, 9)
            assert r > 0.6 and g < 0.4 and b < 0.4, (number, (r, g, b))
        else:
            assert b > r and b > 0.4, (number, (r, g, b))
    # accuracy on x grows to the right, size on y grows upwards (smaller top)
    assert positions[3][0] > positions[0][0] > positions[2][0]
    assert positions[3][1] < positions[0][1] < positions[2][1]
    assert "Pareto front: 3 trials (0, 2, 3)" in dash.best.value
    assert "accuracy ↑, size ↓" in dash.header.value
    # the table shows every objective under a header naming them; the front's rows are in bold
    table = dash.table.value
    assert "<th class='hpmagic-value'>accuracy ↑ · size ↓</th>" in table
    assert '<td class="hpmagic-value">0.8 · 2</td>' in table
    assert table.count("hpmagic-best-row") == 3
    assert dash.use_best_button.disabled  # nothing to call: this dashboard has no on_use_best
    front_best = _Shown(on_use_best=lambda: "published").load(_study(POINTS))
    assert not front_best.use_best_button.disabled  # the magic publishes the front's best on the primary


def test_clicking_a_point_shows_its_trial_and_use_this_trial_publishes_it():
    used = []
    dash = _Shown(on_use_trial=lambda n: used.append(n) or f"published trial {n}").load(_study(POINTS))
    tab = dash.pareto
    assert tab.use_button.disabled and "click a point" in tab.detail.value
    tab.points[2].click()
    assert tab.selected == 2 and "hpmagic-pareto-selected" in tab.points[2]._dom_classes
    detail = tab.detail.value
    assert "trial 2" in detail and "accuracy ↑</th><td>0.8<" in detail and "size ↓</th><td>2<" in detail
    assert "depth</td><td>3<" in detail
    assert not tab.use_button.disabled and tab.use_button.description == "Use trial 2"
    tab.use_button.click()
    assert used == [2] and "published trial 2" in tab.message.value
    tab.points[4].click()
    assert "hpmagic-pareto-selected" not in tab.points[2]._dom_classes
    tab.use_button.click()
    assert used == [2, 4]


def test_without_a_cell_to_replay_use_this_trial_stays_off_and_errors_are_shown():
    tab = ParetoTab(_study(POINTS))
    tab.points[0].click()
    assert tab.use_button.disabled
    failing = ParetoTab(_study(POINTS), on_use_trial=lambda n: 1 / 0)
    failing.points[1].click()
    failing.use_button.click()
    assert "could not publish trial 1: ZeroDivisionError" in failing.message.value


def test_three_objectives_offer_each_pair_and_redraw():
    points = [(1.0, 9.0, 3.0), (2.0, 8.0, 1.0), (3.0, 7.0, 2.0), (4.0, 1.0, 5.0)]
    study = _study(points, names=("a", "b", "c"), directions=("minimize",) * 3)
    assert objective_pairs(study.objective_names) == [("a", "b"), ("a", "c"), ("b", "c")]
    tab = ParetoTab(study)
    assert list(tab.chooser.options) == ["a vs b", "a vs c", "b vs c"] and tab.chooser.layout.display is None
    tab.points[2].click()
    first, png = _positions(tab), tab.png
    tab.chooser.value = "a vs c"
    second = _positions(tab)
    assert tab.png != png and set(second) == {0, 1, 2, 3}
    by_left = sorted(second, key=lambda n: second[n][0])
    assert by_left == sorted(first, key=lambda n: first[n][0]) == [0, 1, 2, 3]  # the same x objective, a
    assert sorted(second, key=lambda n: second[n][1]) == [3, 0, 2, 1]  # y is now c: 5, 3, 2, 1 from the top
    assert sorted(first, key=lambda n: first[n][1]) == [0, 1, 2, 3]  # it was b: 9, 8, 7, 1
    assert "hpmagic-pareto-selected" in tab.points[2]._dom_classes  # the selection survives the redraw
    two = ParetoTab(_study(POINTS))
    assert two.chooser.layout.display == "none"  # one pair: nothing to choose


def test_infeasible_trials_are_clickable_and_say_what_they_violate():
    study = _study(POINTS, violations=[0.0, 0.0, 2.5, 0.0, 0.0], constraints=["size <= 1.5"])
    tab = ParetoTab(study)
    left, top = _positions(tab)[2]
    r, g, b = _pixel(tab.png, left, top)
    assert abs(r - g) < 0.15 and abs(g - b) < 0.15  # a grey cross, not the front's red
    tab.points[2].click()
    assert "size &lt;= 1.5</th><td>violated by 2.5" in tab.detail.value


def test_static_copy_carries_the_pareto_plot_and_single_objective_studies_have_no_tab():
    dash = _Shown().load(_study(POINTS))
    html = dash._static_bundle()["text/html"]
    assert html.count("data:image/png;base64,") == 2 and 'alt="Pareto front"' in html
    import hpmagic
    from hpmagic import tune

    single = _Shown(min_interval=0, plot_interval=0)
    hpmagic.optimize(lambda p: p["x"] ** 2, {"x": tune.uniform(-1, 1)}, n_trials=3, seed=0, reporters=[single])
    titles = [single.explore.get_title(i) for i in range(len(single.explore.children))]
    assert "Pareto front" not in titles and single.pareto is None
    assert 'alt="Pareto front"' not in single._static_bundle()["text/html"]


def test_a_live_optimize_study_gets_the_tab_and_use_this_trial():
    import hpmagic
    from hpmagic import tune

    used = []
    dash = _Shown(min_interval=0, plot_interval=0, on_use_trial=lambda n: used.append(n) or f"published trial {n}")
    study = hpmagic.optimize(
        lambda p: (p["a"], (1 - p["a"]) ** 2 + p["b"]),
        {"a": tune.uniform(0, 1), "b": tune.uniform(0, 1)},
        strategy="random",
        n_trials=8,
        seed=0,
        directions=["minimize", "minimize"],
        reporters=[dash],
    )
    assert dash.explore.get_title(0) == "Pareto front" and set(dash.pareto.points) == set(range(8))
    front = [t.number for t in study.best_trials]
    assert f"Pareto front: {len(front)} trial" in dash.best.value
    dash.pareto.points[front[-1]].click()
    dash.pareto.use_button.click()
    assert used == [front[-1]]


def test_past_the_limit_the_front_and_the_newest_trials_get_buttons(monkeypatch):
    from hpmagic.display import pareto_tab

    monkeypatch.setattr(pareto_tab, "MAX_POINTS", 4)
    numbers, on_front = list(range(10)), [n in (1, 2) for n in range(10)]
    assert pareto_tab._clickable(numbers, on_front) == [1, 2, 8, 9]
    assert pareto_tab._clickable(numbers, [True] * 10) == [0, 1, 2, 3]
    assert pareto_tab._clickable(numbers[:3], on_front[:3]) == [0, 1, 2]

"""The widget dashboard driven by a real study (widgets without a front end: their state is what a browser gets)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ipywidgets")

import hpmagic
from hpmagic import tune
from hpmagic.display.dashboard import Dashboard
from hpmagic.events import TrialFinished
from hpmagic.space import Float, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import create_study


class _Shown(Dashboard):
    """A dashboard that records instead of displaying (no IPython display here)."""

    def show(self) -> None:
        self.shown = True


def _run(dashboard, fn=lambda p: (p["x"] - 1) ** 2, n=12, strategy="random", space=None, **kw):
    space = space or {"x": tune.uniform(-3, 3), "k": tune.choice(["a", "b"])}
    return hpmagic.optimize(fn, space, strategy=strategy, n_trials=n, seed=0, reporters=[dashboard], **kw)


def test_finished_dashboard_shows_the_whole_study():
    dash = _Shown(top_k=5, min_interval=0, plot_interval=0)
    study = _run(dash)
    assert dash.shown
    assert dash.status.value == "finished"
    assert dash.progress_text.value.startswith("12/12 trials")
    assert dash.bar.value == pytest.approx(1.0) and dash.bar.bar_style == "success"
    assert f"best {study.best_value:.6g}" in dash.best.value
    table = dash.table.value
    assert table.count('<tr class="hpmagic-row ') == len(dash.model.rows()) == 5
    assert table.count('<tr class="hpmagic-placeholder"') == 0
    assert "7 more trials (sorted by value" in table
    assert f'data-number="{study.best_trial.number}"' in table
    assert bytes(dash.plot.value).startswith(b"\x89PNG") and dash.plot.layout.visibility == "visible"
    assert dash.stop_button.disabled and dash.pause_button.disabled
    assert dash.stop_button.button_style == ""  # greyed out, no longer a red button on a finished study
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert titles == ["Convergence", "Parallel coordinates", "Parameter vs objective", "Importance"]
    assert "hpmagic-dashboard" in dash.widget._dom_classes
    bundle = dash._bundle()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == dash.widget.model_id
    assert "text/html" not in bundle  # the static copy is a display of its own, shown when the widget cannot be
    static = dash._static_bundle()
    assert "<table>" in static["text/html"] and "data:image/png;base64," in static["text/html"]
    assert 'class="hpmagic-static"' in static["text/html"] and "12 trials" in static["text/plain"]


def test_table_height_holds_from_the_first_trial():
    """The table always has top_k rows (placeholders first), so the widget does not grow while trials come in."""
    heights = []

    class Recording(_Shown):
        def refresh_table(self):
            super().refresh_table()
            value = self.table.value
            heights.append(value.count('<tr class="hpmagic-row ') + value.count('<tr class="hpmagic-placeholder"'))

    dash = Recording(top_k=6, min_interval=0, plot_interval=0)
    assert dash.plot.layout.visibility == "hidden"  # no broken image before the first value
    assert dash.table.value.count('<tr class="hpmagic-placeholder"') == 6
    _run(dash, n=9)
    assert heights and set(heights) == {6}
    assert dash.table.value.count('<tr class="hpmagic-more"') == 1


def test_learning_curves_tab_for_a_study_that_reports():
    dash = _Shown(min_interval=0, plot_interval=0)

    def fn(p):
        for step in range(1, 4):
            tune.report(p["x"] / step, step=step)
        return p["x"]

    study = _run(dash, fn=fn, n=4)
    assert all(len(t.intermediate) == 3 for t in study.trials)
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert "Learning curves" in titles
    assert bytes(dash.explore.children[titles.index("Learning curves")].value).startswith(b"\x89PNG")


def test_importance_tab_once_there_are_enough_trials_and_parameters():
    """Every finished study with 5 complete trials and two parameters gets it; fewer, or one parameter, do not."""
    dash = _Shown(min_interval=0, plot_interval=0)
    _run(dash, n=12, space={"x": Float(-3.0, 3.0), "y": Float(0.0, 1.0)}, fn=lambda p: 5 * p["x"] + p["y"])
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert bytes(dash.explore.children[titles.index("Importance")].value).startswith(b"\x89PNG")
    for n, space in ((4, {"x": Float(-3.0, 3.0), "y": Float(0.0, 1.0)}), (12, {"x": Float(-3.0, 3.0)})):
        small = _Shown(min_interval=0, plot_interval=0)
        _run(small, n=n, space=space, fn=lambda p: p["x"])
        assert "Importance" not in [small.explore.get_title(i) for i in range(len(small.explore.children))]


def test_bayes_study_gets_a_partial_dependence_tab():
    dash = _Shown(min_interval=0, plot_interval=0)
    _run(
        dash,
        strategy="bayes",
        n=12,
        space={"x": tune.uniform(-3, 3), "y": tune.int(0, 4)},
        fn=lambda p: (p["x"] - 1) ** 2 + p["y"],
    )
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert titles[-1] == "Partial dependence"
    assert bytes(dash.explore.children[-1].value).startswith(b"\x89PNG")


def test_sorting_the_table_by_a_parameter():
    dash = _Shown(top_k=20, min_interval=0, plot_interval=0)
    study = _run(dash, n=8)
    dash.sort.value = "x"
    xs = sorted(t.params["x"] for t in study.trials)
    first = min(study.trials, key=lambda t: t.params["x"]).number
    assert dash.table.value.index(f'data-number="{first}"') < min(
        dash.table.value.index(f'data-number="{t.number}"') for t in study.trials if t.number != first
    )
    dash.reverse.value = True
    last = max(study.trials, key=lambda t: t.params["x"]).number
    assert dash.table.value.index(f'data-number="{last}"') < dash.table.value.index(f'data-number="{first}"')
    assert len(xs) == 8


def test_stop_button_ends_the_study_after_the_running_trial():
    dash = _Shown(min_interval=0, plot_interval=10)
    calls = []

    def fn(p):
        calls.append(p)
        if len(calls) == 3:
            dash.stop_button.click()  # as the browser would, from the button's callback
        return p["x"]

    study = _run(dash, fn=fn, n=50)
    assert len(study.trials) == 3
    assert all(t.state.value == "complete" for t in study.trials)
    assert dash.status.value == "stopped"
    assert study.last_finish.reason == "stopped"


def _paused_after_trial_one(dash, n_trials, later):
    """Run a random study of ``n_trials`` shown by ``dash``: Pause is clicked when trial 1 ends, and ``later(study)``
    runs on another thread 0.3 s after, while the study waits (as the browser's next click would)."""
    study = create_study(space=Space({"x": Float(0, 1)}))

    def reporter(event):
        dash(event)
        if isinstance(event, TrialFinished) and event.trial.number == 1:
            dash.pause_button.click()
            assert dash.pause_button.description == "Resume"
            threading.Timer(0.3, later, args=(study,)).start()

    study.optimize(lambda ctx: ctx.use_all()["x"], get_strategy("random"), n_trials=n_trials, reporters=[reporter])
    return study


def test_pause_button_holds_the_study_until_resume():
    dash = _Shown(min_interval=0, plot_interval=10)
    seen_while_paused = []

    def later(study):
        seen_while_paused.append((len(study.trials), dash.status.value))
        dash.pause_button.click()

    study = _paused_after_trial_one(dash, 4, later)
    assert seen_while_paused == [(2, "paused")]
    assert len(study.trials) == 4
    assert dash.status.value == "finished"


def test_stop_while_paused_ends_the_study_and_greys_out_pause():
    dash = _Shown(min_interval=0, plot_interval=10)
    after_stop = []

    def later(study):
        dash.stop_button.click()
        after_stop.append((dash.pause_button.disabled, dash.status.value))
        dash.pause_button.click()  # greyed out in the browser; a stray click changes nothing

    study = _paused_after_trial_one(dash, 10, later)
    assert after_stop == [(True, "stopping")]
    assert len(study.trials) == 2
    assert study.last_finish.reason == "stopped"
    assert dash.status.value == "stopped"


def test_failed_trials_panel_is_collapsed_and_escaped():
    dash = _Shown(min_interval=0, plot_interval=0)

    def fn(p):
        if p["x"] < 0:
            print("<noisy> log")
            raise ValueError("negative <x>")
        return p["x"]

    _run(dash, fn=fn, n=10)
    panel = dash.failures.value
    assert panel.startswith("<details><summary>") and "open" not in panel
    failed = [t for t in dash.model.study.trials if t.state.value == "failed"]
    assert len(failed) > 1
    assert f"{len(failed)} trials: ValueError: negative &lt;x&gt;" in panel  # identical failures, one group
    assert "&lt;noisy&gt; log" in panel
    assert "<x>" not in panel


def test_use_best_button_publishes_again():
    published = []
    dash = _Shown(min_interval=0, plot_interval=0, on_use_best=lambda: published.append(1) or "published trial 3")
    _run(dash, n=4)
    assert not dash.use_best_button.disabled
    dash.use_best_button.click()
    assert published == [1]
    assert "published trial 3" in dash.message.value


def test_load_shows_a_stored_study(tmp_path):
    path = tmp_path / "s.db"
    _run(_Shown(), n=5, storage=str(path), name="stored")
    study = hpmagic.load_study("stored", str(path))
    dash = _Shown().load(study)
    assert dash.progress_text.value.startswith("5 trials")
    assert dash.status.value == "finished"
    assert dash.table.value.count('<tr class="hpmagic-row ') == 5

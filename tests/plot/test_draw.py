"""The plot functions with real matplotlib (Agg) over real studies: what is drawn, where, and as PNG."""

from __future__ import annotations

import math
import struct
import threading
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import hpmagic
from hpmagic import tune
from hpmagic.context import TrialContext, TrialPruned
from hpmagic.plot import (
    convergence,
    convergence_data,
    parallel_coordinates,
    parallel_data,
    param_scatter,
    partial_dependence,
    render_png,
    scatter_data,
)
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import Study, create_study
from hpmagic.trial import TrialState

# pyplot is only imported by scikit-optimize's plots (never used to make figures): keep it off any display.
matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def objective(p: dict[str, Any]) -> float:
    if p["kind"] == "c" and p["n"] > 6:
        raise ValueError("this corner crashes")
    return (math.log10(p["lr"]) + 2) ** 2 + (p["n"] - 3) ** 2 / 10 + (p["kind"] == "b")


SPACE = {"lr": tune.loguniform(1e-4, 1.0), "n": tune.int(1, 8), "kind": tune.choice(["a", "b", "c"])}


@pytest.fixture(scope="module")
def study() -> Study:
    s = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=40, seed=0, max_failures=None, name="demo")
    assert any(t.state is TrialState.FAILED for t in s.trials)
    return s


@pytest.fixture(scope="module")
def conditional_study() -> Study:
    """A study whose trials use ``C`` only for the svm model and ``depth`` only for the tree, and prune some."""
    space = Space({"model": Categorical(["svm", "tree"]), "C": Float(1e-2, 1e2, log=True), "depth": Int(1, 10)})
    study = create_study(space=space, name="conditional", seed=0)

    def run(ctx: TrialContext) -> float:
        model = ctx.suggest("model", space["model"])
        if model == "svm":
            value = abs(math.log10(ctx.suggest("C", space["C"])))
        else:
            value = abs(ctx.suggest("depth", space["depth"]) - 4) / 3
        if ctx.trial.number % 7 == 6:
            raise TrialPruned("pruned for the test")
        return value

    study.optimize(run, get_strategy("random"), n_trials=24)
    return study


def figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    return fig


def new_axes() -> Axes:
    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])


@pytest.fixture(autouse=True)
def close_pyplot_figures() -> Any:
    """Without ``ax`` the plots make pyplot figures (so notebooks show them): close them after each test."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_with_an_axes_given_no_pyplot_figure_is_made(study: Study) -> None:
    """The dashboard draws off the main thread into its own Figure: pyplot's global registry must stay empty."""
    import matplotlib.pyplot as plt

    plt.close("all")
    for draw in (
        lambda ax: convergence(study, ax=ax),
        lambda ax: parallel_coordinates(study, ax=ax),
        lambda ax: param_scatter(study, "lr", ax=ax),
    ):
        draw(new_axes())
    partial_dependence(study, fig=new_axes().figure)
    assert plt.get_fignums() == []


def test_without_an_axes_the_plot_is_a_pyplot_figure(study: Study) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
    ax = convergence(study)
    assert plt.get_fignums() == [ax.figure.number]


# -- convergence -----------------------------------------------------------------------------------------------------


def test_convergence_draws_points_and_the_best_so_far_line(study: Study) -> None:
    ax = convergence(study)
    data = convergence_data(study.trials, study.direction)
    assert isinstance(ax, Axes)
    assert isinstance(figure_of(ax).canvas, FigureCanvasAgg)
    assert len(ax.collections) == 1
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.column_stack([data.numbers, data.values]))
    assert len(ax.lines) == 1
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), data.best_so_far)
    assert ax.lines[0].get_ydata()[-1] == study.best_value
    assert "demo" in ax.get_title() and "minimize" in ax.get_title()
    assert ax.get_xlabel() == "trial"
    legend = ax.get_legend()
    assert legend is not None and f"{data.n_failed} failed" in legend.get_title().get_text()


def test_convergence_maximize_line_never_goes_down() -> None:
    s = hpmagic.optimize(lambda p: -((p["x"] - 1) ** 2), {"x": tune.uniform(-3, 3)}, "random", 25, 1, "maximize")
    ax = convergence(s)
    assert np.all(np.diff(ax.lines[0].get_ydata()) >= 0)
    assert ax.lines[0].get_ydata()[-1] == s.best_value
    assert "maximize" in ax.get_title()


def test_convergence_draws_into_a_given_axes_and_redraws_after_clear(study: Study) -> None:
    ax = new_axes()
    fig = figure_of(ax)
    assert convergence(study, ax) is ax
    ax.clear()
    assert convergence(study, ax) is ax
    assert len(ax.collections) == 1 and len(ax.lines) == 1
    assert fig.axes == [ax]
    assert render_png(fig).startswith(PNG_SIGNATURE)


def test_convergence_of_a_study_without_complete_trials_says_so() -> None:
    s = create_study(space=Space({"x": Float(0, 1)}), name="empty")
    ax = convergence(s)
    assert not ax.collections and not ax.lines
    assert any("no complete trial" in t.get_text() for t in ax.texts)
    assert render_png(ax).startswith(PNG_SIGNATURE)


def test_convergence_counts_pruned_trials(conditional_study: Study) -> None:
    ax = convergence(conditional_study)
    n_pruned = sum(t.state is TrialState.PRUNED for t in conditional_study.trials)
    assert n_pruned > 0
    assert f"{n_pruned} pruned" in ax.get_legend().get_title().get_text()
    assert len(ax.collections[0].get_offsets()) == len(conditional_study.trials) - n_pruned


def test_convergence_accepts_any_object_with_trials_direction_and_space(study: Study) -> None:
    class Plain:
        trials = study.trials
        direction = "minimize"
        space = study.space

    ax = convergence(Plain())
    assert "study" in ax.get_title()  # no name: a generic one
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), convergence_data(study.trials, "minimize").best_so_far)


def test_convergence_draws_from_several_threads_at_once(study: Study) -> None:
    pngs: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                pngs.append(render_png(convergence(study)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(pngs) == 9 and all(p.startswith(PNG_SIGNATURE) for p in pngs)


# -- parallel coordinates --------------------------------------------------------------------------------------------


def trials_collection(ax: Axes) -> Any:
    (lines,) = [c for c in ax.collections if c.get_gid() == "trials"]
    return lines


def test_parallel_coordinates_one_line_per_complete_trial(study: Study) -> None:
    ax = parallel_coordinates(study)
    data = parallel_data(study.trials, study.space, study.direction)
    paths = trials_collection(ax).get_paths()
    assert len(paths) == len(data.values) == sum(t.state is TrialState.COMPLETE for t in study.trials)
    np.testing.assert_allclose(paths[-1].vertices[:, 1], data.coords[-1])  # the best last, on top
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lr", "n", "kind", "objective"]
    texts = {t.get_text() for t in ax.texts}
    assert {"0.0001", "0.01", "1", "a", "b", "c"} <= texts  # real values, the log middle, the choices
    np.testing.assert_allclose(ax.lines[0].get_ydata(), data.coords[-1])  # the best trial, in red
    assert f"trial {study.best_trial.number}" in ax.get_title()


def test_parallel_coordinates_chosen_params_into_a_given_axes(study: Study) -> None:
    ax = new_axes()
    assert parallel_coordinates(study, params=["kind", "lr"], ax=ax) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["kind", "lr", "objective"]
    with pytest.raises(ValueError, match="unknown parameter 'depth'.*'lr', 'n', 'kind'"):
        parallel_coordinates(study, params=["depth"])


def test_parallel_coordinates_breaks_lines_at_unused_parameters(conditional_study: Study) -> None:
    ax = parallel_coordinates(conditional_study)
    complete = [t for t in conditional_study.trials if t.state is TrialState.COMPLETE]
    paths = trials_collection(ax).get_paths()
    assert len(paths) == len(complete)
    gaps = [np.isnan(p.vertices[:, 1]).sum() for p in paths]
    assert all(g == 1 for g in gaps)  # each trial used C or depth, not both
    (bridges,) = [c for c in ax.collections if c.get_gid() == "gaps"]
    assert len(bridges.get_paths()) == len(complete)  # a dashed line over each gap keeps the objective in view
    assert all(ls[1] is not None for ls in bridges.get_linestyles())
    assert render_png(ax).startswith(PNG_SIGNATURE)


# -- one parameter against the objective -----------------------------------------------------------------------------


def test_param_scatter_log_parameter(study: Study) -> None:
    ax = param_scatter(study, "lr")
    data = scatter_data(study.trials, study.space, "lr", study.direction)
    assert ax.get_xscale() == "log"
    assert len(ax.collections) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([data.x, data.values]))
    np.testing.assert_allclose(ax.collections[1].get_offsets(), [[study.best_params["lr"], study.best_value]])
    assert ax.get_xlabel() == "lr"


def test_param_scatter_categorical_parameter_is_jittered_around_its_levels(study: Study) -> None:
    ax = param_scatter(study, "kind")
    data = scatter_data(study.trials, study.space, "kind", study.direction)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    x = ax.collections[0].get_offsets()[:, 0]
    assert np.all(np.abs(x - data.x) <= 0.15) and not np.array_equal(x, data.x)
    assert ax.get_xscale() == "linear"


def test_param_scatter_int_parameter_into_a_given_axes(study: Study) -> None:
    ax = new_axes()
    assert param_scatter(study, "n", ax=ax) is ax
    assert ax.get_xscale() == "linear"
    assert len(ax.collections[0].get_offsets()) == len(scatter_data(study.trials, study.space, "n", "minimize").x)


def test_param_scatter_conditional_parameter_notes_the_trials_without_it(conditional_study: Study) -> None:
    ax = param_scatter(conditional_study, "depth")
    data = scatter_data(conditional_study.trials, conditional_study.space, "depth", "minimize")
    assert data.n_missing > 0
    assert f"{data.n_missing} without depth" in ax.get_legend().get_title().get_text()


def test_param_scatter_unknown_parameter(study: Study) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'alpha'; the study's parameters are: 'lr', 'n', 'kind'"):
        param_scatter(study, "alpha")


# -- PNG -------------------------------------------------------------------------------------------------------------


def test_render_png_from_axes_or_figure_at_the_asked_dpi(study: Study) -> None:
    ax = convergence(study)
    fig = figure_of(ax)
    fig.set_size_inches(6, 3)
    assert png_size(render_png(ax)) == (480, 240)
    assert png_size(render_png(fig, dpi=40)) == (240, 120)
    assert fig.dpi == 100  # the figure's own dpi is left alone


def test_render_png_with_a_figure_on_another_canvas(study: Study) -> None:
    fig = Figure(figsize=(2, 1))  # no canvas attached by hand: matplotlib gives it a generic one
    convergence(study, fig.add_subplot())
    assert png_size(render_png(fig, dpi=50)) == (100, 50)


def test_render_png_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="Figure or Axes"):
        render_png("not a figure")


# -- partial dependence ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bayes_study() -> Study:
    def fn(p: dict[str, Any]) -> float:
        return (math.log10(p["lr"]) + 2) ** 2 + abs(p["depth"] - 3) / 4 + (p["kind"] == "b") * 0.5

    space = {"lr": tune.loguniform(1e-4, 1.0), "depth": tune.int(1, 6), "kind": tune.choice(["a", "b"])}
    return hpmagic.optimize(fn, space, strategy="bayes", n_trials=12, seed=0, name="pd")


def test_partial_dependence_returns_the_grid_of_axes(bayes_study: Study) -> None:
    axes = partial_dependence(bayes_study, n_points=8, n_samples=30)
    assert axes.shape == (3, 3)
    assert all(isinstance(a, Axes) for a in axes.flat)
    fig = figure_of(axes[0, 0])
    assert all(figure_of(a) is fig for a in axes.flat)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert [axes[i, i].get_xlabel() for i in range(3)] == ["lr", "depth", "kind"]
    assert not axes[0, 1].axison  # above the diagonal: switched off
    # The 1-D dependence of lr is drawn over log10(lr), labelled with real values.
    assert axes[0, 0].lines[0].get_xdata().min() == pytest.approx(-4.0)
    assert "pd" in fig.get_suptitle() and "12 trials" in fig.get_suptitle()
    assert render_png(axes).startswith(PNG_SIGNATURE)


def test_partial_dependence_of_a_maximised_study_is_in_the_objectives_sign(bayes_study: Study) -> None:
    class Flipped:
        trials = [type(t)(number=t.number, params=t.params, state=t.state, value=-t.value) for t in bayes_study.trials]
        direction = "maximize"
        space = bayes_study.space

    low = partial_dependence(bayes_study, n_points=8, n_samples=30)
    high = partial_dependence(Flipped(), n_points=8, n_samples=30)
    y_low = low[1, 1].lines[0].get_ydata()
    y_high = high[1, 1].lines[0].get_ydata()
    assert np.all(y_high < 0) and np.all(y_low > 0)
    np.testing.assert_allclose(y_high, -y_low, rtol=0.2, atol=0.2)  # different random averaging samples


def test_partial_dependence_into_a_given_figure(bayes_study: Study) -> None:
    fig = Figure(figsize=(6, 6))
    axes = partial_dependence(bayes_study, fig=fig, n_points=6, n_samples=20)
    assert figure_of(axes[2, 2]) is fig


def test_partial_dependence_needs_five_complete_trials_and_a_space() -> None:
    few = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", n_trials=4, seed=0)
    with pytest.raises(ValueError, match="at least 5 complete trials"):
        partial_dependence(few)
    empty = hpmagic.optimize(lambda p: 1.0, {}, strategy="random", n_trials=6, seed=0)
    with pytest.raises(ValueError, match="at least one parameter that varies"):
        partial_dependence(empty)


def test_pbt_schedule_plot_draws_one_line_per_member() -> None:
    from hpmagic.plot import pbt_schedule_plot

    def fn(p: dict[str, Any]) -> float:
        value = 0.0
        for step in tune.steps():
            value = -abs(math.log10(p["lr"]) + 2) + step * 0.01
            tune.report(value, step=step)
        return value

    study = hpmagic.optimize(
        fn,
        {"lr": tune.loguniform(1e-4, 1.0)},
        strategy="pbt",
        strategy_options={"population": 4, "interval": 2},
        budget=(1, 8),
        seed=0,
        n_trials=None,
        direction="maximize",
    )
    ax = pbt_schedule_plot(study, "lr", ax=new_axes())
    assert len(ax.lines) == 4
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        pbt_schedule_plot(study, "nope", ax=new_axes())

"""The plots' numbers, without matplotlib: hand-built trials where the expected values are known exactly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import hpmagic
from hpmagic import tune
from hpmagic.plot._data import (
    complete_trials,
    convergence_data,
    known_params,
    model_data,
    parallel_data,
    scatter_data,
)
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.trial import Trial, TrialState

COMPLETE, FAILED, PRUNED = TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED


def trial(number: int, value: float | None, state: TrialState = COMPLETE, **params: Any) -> Trial:
    return Trial(number=number, params=params, state=state, value=value)


def mixed_trials() -> list[Trial]:
    """Complete values 5, 3, 4, 1, 2 at numbers 0, 2, 3, 5, 6, with a failed, a pruned and a running trial."""
    return [
        trial(0, 5.0, x=0.5),
        trial(1, None, FAILED, x=0.1),
        trial(2, 3.0, x=0.3),
        trial(3, 4.0, x=0.4),
        trial(4, 0.5, PRUNED, x=0.2),  # a pruned trial's value is an intermediate one, not the objective's
        trial(5, 1.0, x=0.9),
        trial(6, 2.0, x=0.7),
        trial(7, None, TrialState.RUNNING, x=0.8),
    ]


SPACE = Space(
    {
        "lr": Float(1e-3, 10.0, log=True),
        "w": Float(0.0, 10.0),
        "n": Int(1, 5),
        "kind": Categorical(["a", "b", "c"]),
    }
)


# -- convergence -----------------------------------------------------------------------------------------------------


def test_convergence_minimize_running_min_without_failed_or_pruned() -> None:
    data = convergence_data(mixed_trials(), "minimize")
    assert data.numbers.tolist() == [0, 2, 3, 5, 6]
    assert data.values.tolist() == [5.0, 3.0, 4.0, 1.0, 2.0]
    assert data.best_so_far.tolist() == [5.0, 3.0, 3.0, 1.0, 1.0]
    assert (data.n_failed, data.n_pruned) == (1, 1)


def test_convergence_maximize_running_max() -> None:
    data = convergence_data(mixed_trials(), "maximize")
    assert data.best_so_far.tolist() == [5.0, 5.0, 5.0, 5.0, 5.0]
    data = convergence_data([trial(i, v) for i, v in enumerate([1.0, 3.0, 2.0, 7.0])], "maximize")
    assert data.best_so_far.tolist() == [1.0, 3.0, 3.0, 7.0]


def test_convergence_orders_by_number_and_skips_non_finite_values() -> None:
    trials = [trial(3, 1.0), trial(1, 4.0), trial(2, math.nan), trial(0, None)]
    data = convergence_data(trials, "minimize")
    assert data.numbers.tolist() == [1, 3]
    assert data.best_so_far.tolist() == [4.0, 1.0]


def test_convergence_of_no_trials_is_empty_not_an_error() -> None:
    data = convergence_data([], "minimize")
    assert len(data.numbers) == len(data.values) == len(data.best_so_far) == 0
    assert (data.n_failed, data.n_pruned) == (0, 0)


def test_convergence_rejects_an_unknown_direction() -> None:
    with pytest.raises(ValueError, match="minimize"):
        convergence_data(mixed_trials(), "lower")


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_convergence_matches_a_real_study(direction: str) -> None:
    def fn(p: dict[str, Any]) -> float:
        if p["x"] > 4:
            raise ValueError("too far")
        return (p["x"] - 1) ** 2

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(-5, 5)}, strategy="random", n_trials=40, seed=0, direction=direction, max_failures=None
    )
    data = convergence_data(study.trials, study.direction)
    best = data.best_so_far
    assert np.all(np.diff(best) >= 0) if direction == "maximize" else np.all(np.diff(best) <= 0)
    assert best[-1] == study.best_value
    assert data.n_failed == sum(t.state is FAILED for t in study.trials) > 0
    assert len(data.numbers) + data.n_failed == len(study.trials)


# -- parallel coordinates --------------------------------------------------------------------------------------------


def test_parallel_scales_each_kind_of_axis() -> None:
    trials = [
        trial(0, 1.0, lr=0.1, w=2.5, n=3, kind="b"),  # lr 0.1 is the middle of [1e-3, 10] in log space
        trial(1, 3.0, lr=1e-3, w=10.0, n=1, kind="a"),
        trial(2, 2.0, lr=10.0, w=0.0, n=5, kind="c"),
    ]
    data = parallel_data(trials, SPACE, "minimize")
    assert [a.name for a in data.axes] == ["lr", "w", "n", "kind", "objective"]
    assert [a.kind for a in data.axes] == ["float", "float", "int", "categorical", "objective"]
    assert [a.log for a in data.axes] == [True, False, False, False, False]
    # Rows worst first: values 3, 2, 1.
    assert data.values.tolist() == [3.0, 2.0, 1.0]
    assert data.numbers.tolist() == [1, 2, 0]
    np.testing.assert_allclose(
        data.coords,
        [
            [0.0, 1.0, 0.0, 0.0, 1.0],
            [1.0, 0.0, 1.0, 1.0, 0.5],
            [0.5, 0.25, 0.5, 0.5, 0.0],
        ],
    )


def test_parallel_ticks_show_real_values() -> None:
    data = parallel_data([trial(0, 2.0, lr=0.1, w=1.0, n=2, kind="a"), trial(1, 4.0)], SPACE, "minimize")
    lr, w, n, kind, objective = data.axes
    assert lr.ticks == (0.0, 0.5, 1.0) and lr.labels == ("0.001", "0.1", "10")  # the log middle
    assert w.labels == ("0", "5", "10")
    assert n.ticks == (0.0, 0.5, 1.0) and n.labels == ("1", "3", "5")
    assert kind.ticks == (0.0, 0.5, 1.0) and kind.labels == ("a", "b", "c")
    assert objective.labels == ("2", "3", "4")


def test_parallel_int_axis_without_an_integer_middle_labels_its_ends() -> None:
    data = parallel_data([trial(0, 1.0, n=2)], Space({"n": Int(1, 8)}), "minimize")
    assert data.axes[0].ticks == (0.0, 1.0) and data.axes[0].labels == ("1", "8")


def test_parallel_best_row_is_last_in_either_direction() -> None:
    trials = [trial(0, 1.0, w=1.0), trial(1, 3.0, w=2.0), trial(2, 1.0, w=3.0), trial(3, 2.0, w=4.0)]
    low = parallel_data(trials, SPACE, "minimize", params=["w"])
    assert low.numbers.tolist() == [1, 3, 2, 0]  # the earliest of the tied best (the study's best) on top
    high = parallel_data(trials, SPACE, "maximize", params=["w"])
    assert high.numbers.tolist() == [2, 0, 3, 1]


def test_parallel_conditional_parameter_is_nan_where_unused() -> None:
    trials = [trial(0, 1.0, kind="a", w=5.0), trial(1, 2.0, kind="b")]
    data = parallel_data(trials, SPACE, "minimize", params=["kind", "w"])
    assert data.numbers.tolist() == [1, 0]
    assert math.isnan(data.coords[0, 1]) and data.coords[1, 1] == 0.5
    assert not np.isnan(data.coords[:, [0, 2]]).any()


def test_parallel_params_pick_and_order_axes_and_unknown_ones_are_listed() -> None:
    data = parallel_data(mixed_trials(), Space({"x": Float(0, 1)}), "minimize", params=["x"])
    assert [a.name for a in data.axes] == ["x", "objective"]
    assert data.coords.shape == (5, 2)
    with pytest.raises(ValueError, match=r"unknown parameter 'y'.*'x'"):
        parallel_data(mixed_trials(), Space({"x": Float(0, 1)}), "minimize", params=["y"])


def test_parallel_run_time_parameters_use_the_values_seen() -> None:
    # Markers created while a trial runs (in loops) are not in the static space.
    trials = [
        trial(0, 1.0, units_0=8, act="relu"),
        trial(1, 2.0, units_0=32, act="tanh"),
        trial(2, 3.0, units_0=16, act="relu"),
    ]
    data = parallel_data(trials, Space(), "minimize")
    units, act, _ = data.axes
    assert (units.kind, units.labels) == ("int", ("8", "20", "32"))
    assert (act.kind, act.labels) == ("categorical", ("relu", "tanh"))  # levels in order of first use
    np.testing.assert_allclose(data.coords[:, :2], [[1 / 3, 0.0], [1.0, 1.0], [0.0, 0.0]])


def test_parallel_values_outside_the_space_widen_the_axis() -> None:
    data = parallel_data([trial(0, 1.0, w=20.0), trial(1, 2.0, w=0.0)], SPACE, "minimize", params=["w"])
    assert data.axes[0].labels == ("0", "10", "20")
    assert data.coords[:, 0].tolist() == [0.0, 1.0]


def test_parallel_with_no_complete_trial_has_axes_and_no_rows() -> None:
    data = parallel_data([trial(0, None, FAILED, w=1.0)], SPACE, "minimize", params=["w"])
    assert data.coords.shape == (0, 2)
    assert data.axes[-1].ticks == ()


# -- one parameter against the objective -----------------------------------------------------------------------------


def test_scatter_numeric_parameter() -> None:
    trials = [trial(0, 2.0, lr=0.01), trial(1, 1.0, lr=1.0), trial(2, None, FAILED, lr=5.0), trial(3, 1.0, kind="a")]
    data = scatter_data(trials, SPACE, "lr", "minimize")
    assert (data.kind, data.log) == ("float", True)
    assert data.x.tolist() == [0.01, 1.0]
    assert data.values.tolist() == [2.0, 1.0]
    assert data.numbers.tolist() == [0, 1]
    assert data.best == 1  # the study's best (trial 1; trial 3 ties later and lacks lr)
    assert data.n_missing == 1
    assert data.levels == ()


def test_scatter_categorical_parameter_gives_level_positions() -> None:
    trials = [trial(0, 2.0, kind="c"), trial(1, 1.0, kind="a"), trial(2, 3.0, kind="c")]
    data = scatter_data(trials, SPACE, "kind", "maximize")
    assert data.kind == "categorical"
    assert data.levels == ("a", "b", "c")
    assert data.x.tolist() == [2.0, 0.0, 2.0]
    assert data.best == 2


def test_scatter_best_is_none_when_the_best_trial_lacks_the_parameter() -> None:
    trials = [trial(0, 2.0, w=1.0), trial(1, 1.0, kind="a")]
    assert scatter_data(trials, SPACE, "w", "minimize").best is None


def test_scatter_unknown_parameter_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'depth'.*'lr', 'w', 'n', 'kind', 'extra'"):
        scatter_data([trial(0, 1.0, extra=1)], SPACE, "depth", "minimize")


def test_level_labels_stay_distinct_and_short() -> None:
    class Model:
        pass

    space = Space({"m": Categorical([1, "1", Model, "x" * 40])})
    data = scatter_data([trial(0, 1.0, m="1")], space, "m", "minimize")
    assert data.levels == ("0: 1", "1: 1", "2: Model", "3: " + "x" * 23 + "…")
    assert data.x.tolist() == [1.0]


# -- surrogate model input -------------------------------------------------------------------------------------------


def test_model_data_encodes_for_skopt() -> None:
    space = Space(
        {
            "lr": Float(1e-3, 10.0, log=True),
            "n": Int(1, 5),
            "units": Int(1, 1000, log=True),
            "kind": Categorical(["a", "b"]),
            "one": Categorical(["z"]),
        }
    )
    trials = [trial(i, float(i), lr=10.0 ** (i - 3), n=i + 1, units=10**i, kind="ab"[i % 2], one="z") for i in range(5)]
    trials[4].params["units"] = 1000
    data = model_data(trials, space, "maximize")
    assert data.names == ("lr", "n", "units", "kind")  # a single choice is a constant: not modelled
    assert data.log10 == (True, False, True, False)
    assert data.levels == (None, None, None, ("a", "b"))
    assert data.x[0] == [-3.0, 1, 0.0, "a"] and data.x[4] == [1.0, 5, 3.0, "a"]
    assert data.y == [-0.0, -1.0, -2.0, -3.0, -4.0]  # skopt minimises


def test_model_data_fills_conditional_parameters_and_drops_outsiders() -> None:
    space = Space({"w": Float(0.0, 10.0, default=2.0), "kind": Categorical(["a", "b"])})
    trials = [trial(i, 1.0, w=1.0, kind="b") for i in range(4)]
    trials += [trial(4, 2.0, kind="a"), trial(5, 3.0, w=50.0, kind="a")]
    data = model_data(trials, space, "minimize")
    assert data.numbers == [0, 1, 2, 3, 4]
    assert data.x[-1] == [2.0, "a"]


def test_model_data_refuses_too_few_trials_or_nothing_to_vary() -> None:
    trials = [trial(i, 1.0, w=1.0) for i in range(4)] + [trial(4, None, FAILED, w=1.0)]
    with pytest.raises(ValueError, match="at least 5 complete trials.*has 4"):
        model_data(trials, SPACE, "minimize")
    with pytest.raises(ValueError, match="at least one parameter that varies"):
        model_data(trials, Space(), "minimize")
    with pytest.raises(ValueError, match="at least one parameter that varies"):
        model_data(trials, Space({"k": Categorical(["only"])}), "minimize")


def test_helpers() -> None:
    assert [t.number for t in complete_trials(mixed_trials())] == [0, 2, 3, 5, 6]
    assert known_params([trial(0, 1.0, b=1, a=2), trial(1, 1.0, c=3)], Space({"a": Float(0, 1)})) == ["a", "b", "c"]

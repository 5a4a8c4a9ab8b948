"""``hpmagic.optimize``: the plain Python API over the same engine, with real stores and strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import OptionError, SpaceError, Storage, tune
from hpmagic.display import TextReporter
from hpmagic.events import Event, StudyFinished
from hpmagic.strategies import RandomSampler
from hpmagic.trial import TrialState


def quadratic(p: dict[str, Any]) -> float:
    return (p["x"] - 2) ** 2


def xs(study: hpmagic.Study) -> list[float]:
    return [t.params["x"] for t in study.trials]


def test_optimize_finds_the_minimum() -> None:
    study = hpmagic.optimize(
        lambda p: (p["x"] - 2) ** 2, {"x": tune.uniform(-5, 5)}, strategy="random", n_trials=30, seed=0
    )
    assert isinstance(study, hpmagic.Study)
    assert len(study.trials) == 30
    assert study.best_value < 1
    assert abs(study.best_params["x"] - 2) < 1
    assert all(-5 <= x <= 5 for x in xs(study))


def test_same_seed_same_sequence() -> None:
    space = {"x": tune.uniform(-5, 5), "k": tune.int(1, 9), "c": tune.choice(["a", "b", None])}
    one = hpmagic.optimize(quadratic, space, strategy="random", n_trials=8, seed=7)
    two = hpmagic.optimize(quadratic, space, strategy="random", n_trials=8, seed=7)
    other = hpmagic.optimize(quadratic, space, strategy="random", n_trials=8, seed=8)
    assert [t.params for t in one.trials] == [t.params for t in two.trials]
    assert [t.params for t in one.trials] != [t.params for t in other.trials]


def test_maximize() -> None:
    study = hpmagic.optimize(
        lambda p: -((p["x"] - 1) ** 2), {"x": tune.uniform(-5, 5)}, "random", 30, seed=1, direction="maximize"
    )
    assert study.direction == "maximize"
    assert study.best_value == max(t.value for t in study.trials)  # type: ignore[type-var]
    assert study.best_value > -1


def test_storage_path_persists(tmp_path: Path) -> None:
    path = tmp_path / "api.db"
    study = hpmagic.optimize(
        quadratic, {"x": tune.uniform(-5, 5)}, strategy="random", n_trials=5, seed=0, storage=str(path), name="q"
    )
    assert path.is_file()
    loaded = hpmagic.load_study("q", path)
    assert [t.number for t in loaded.trials] == list(range(5))
    assert [t.value for t in loaded.trials] == [t.value for t in study.trials]
    assert loaded.best_value == study.best_value
    assert loaded.direction == "minimize" and loaded.strategy_name == "random"
    assert Storage(path).get_study("q").state == "finished"  # type: ignore[union-attr]


def test_resume_continues(tmp_path: Path) -> None:
    path = str(tmp_path / "api.db")
    space = {"x": tune.uniform(-5, 5)}
    kw: dict[str, Any] = {"strategy": "random", "seed": 4, "storage": path, "name": "res"}
    first = hpmagic.optimize(quadratic, space, n_trials=5, **kw)
    resumed = hpmagic.optimize(quadratic, space, n_trials=8, resume=True, **kw)
    assert resumed.name == "res"
    assert [t.number for t in resumed.trials] == list(range(8))
    assert xs(resumed)[:5] == xs(first)
    whole = hpmagic.optimize(quadratic, space, strategy="random", seed=4, n_trials=8)
    assert xs(resumed) == xs(whole)
    again = hpmagic.optimize(quadratic, space, n_trials=2, **kw)  # no resume: a new study
    assert again.name == "res (2)" and len(again.trials) == 2


def test_strategy_instance_and_options() -> None:
    study = hpmagic.optimize(quadratic, {"x": tune.uniform(-5, 5)}, strategy=RandomSampler(), n_trials=3, seed=0)
    assert study.strategy_name == "random" and len(study.trials) == 3
    grid = hpmagic.optimize(
        quadratic, {"x": tune.uniform(-5, 5)}, strategy="grid", n_trials=None, strategy_options={"points": 3}
    )
    assert xs(grid) == [-5.0, 0.0, 5.0]
    with pytest.raises(OptionError, match="by name"):
        hpmagic.optimize(
            quadratic, {"x": tune.uniform(-5, 5)}, strategy=RandomSampler(), strategy_options={"points": 3}
        )


def test_define_by_run_markers_inside_fn_are_recorded() -> None:
    def fn(p: dict[str, Any]) -> float:
        k = tune.int(1, 5, name="k")
        layers = tune.choice(["a", "b"])
        assert 1 <= k <= 5 and layers in ("a", "b")
        return p["x"] ** 2 + k

    study = hpmagic.optimize(fn, {"x": tune.uniform(-1, 1)}, strategy="random", n_trials=10, seed=0)
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        assert set(t.params) == {"x", "k", "layers"}
        assert t.value == pytest.approx(t.params["x"] ** 2 + t.params["k"])
    assert len({t.params["k"] for t in study.trials}) > 1  # sampled, not a constant


def test_failing_fn_keeps_going_and_returns_the_study() -> None:
    def sometimes(p: dict[str, Any]) -> float:
        if p["x"] > 0:
            raise ValueError("positive")
        return p["x"]

    study = hpmagic.optimize(sometimes, {"x": tune.uniform(-1, 1)}, strategy="random", n_trials=20, seed=0)
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.FAILED}
    assert study.best_value <= 0


def test_reporters_are_used(tmp_path: Path) -> None:
    import io

    events: list[Event] = []
    stream = io.StringIO()
    hpmagic.optimize(
        quadratic,
        {"x": tune.uniform(-5, 5)},
        strategy="random",
        n_trials=3,
        reporters=[events.append, TextReporter(stream=stream)],
    )
    assert isinstance(events[-1], StudyFinished)
    assert "3 of 3 trials done" in stream.getvalue()


def test_keyboard_interrupt_propagates_after_saving(tmp_path: Path) -> None:
    path = tmp_path / "api.db"

    def fn(p: dict[str, Any]) -> float:
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(p)
        return 1.0

    calls: list[dict[str, Any]] = []
    with pytest.raises(KeyboardInterrupt):
        hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=5, storage=str(path), name="k")
    loaded = hpmagic.load_study("k", path)
    assert [t.state for t in loaded.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.INTERRUPTED]


# -- bad inputs ------------------------------------------------------------------------------------------------------

SPACE = {"x": tune.uniform(-5, 5)}


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((3, SPACE), {}, OptionError, "callable"),
        ((None, SPACE), {}, OptionError, "callable"),
        ((quadratic, [tune.uniform(0, 1)]), {}, SpaceError, "space"),
        ((quadratic, "x"), {}, SpaceError, "space"),
        ((quadratic, None), {}, SpaceError, "space"),
        ((quadratic, {"x": 3}), {}, SpaceError, "marker"),
        ((quadratic, {"x": (0, 1)}), {}, SpaceError, "marker"),
        ((quadratic, {3: tune.uniform(0, 1)}), {}, SpaceError, "name"),
        ((quadratic, SPACE), {"strategy": "nope"}, OptionError, "unknown strategy"),
        ((quadratic, SPACE), {"strategy": 3}, OptionError, "unknown strategy"),
        ((quadratic, SPACE), {"strategy": "random", "n_trials": 0}, OptionError, "n_trials"),
        ((quadratic, SPACE), {"strategy": "random", "n_trials": -1}, OptionError, "n_trials"),
        ((quadratic, SPACE), {"strategy": "random", "n_trials": "3"}, OptionError, "n_trials"),
        ((quadratic, SPACE), {"strategy": "random", "n_trials": 2.5}, OptionError, "n_trials"),
        ((quadratic, SPACE), {"strategy": "random", "timeout": -1}, OptionError, "timeout"),
        ((quadratic, SPACE), {"strategy": "random", "timeout": "10"}, OptionError, "timeout"),
        ((quadratic, SPACE), {"strategy": "random", "direction": "up"}, OptionError, "direction"),
        ((quadratic, SPACE), {"strategy": "random", "seed": -1}, OptionError, "seed"),
        ((quadratic, SPACE), {"strategy": "random", "seed": "1"}, OptionError, "seed"),
        ((quadratic, SPACE), {"strategy": "random", "seed": 1.5}, OptionError, "seed"),
        ((quadratic, SPACE), {"strategy": "random", "max_failures": 0}, OptionError, "max_failures"),
        ((quadratic, SPACE), {"strategy": "random", "threads": 0}, OptionError, "threads"),
        ((quadratic, SPACE), {"strategy": "random", "strategy_options": {"zz": 1}}, OptionError, "zz"),
        ((quadratic, SPACE), {"strategy": "grid", "strategy_options": {"points": 0}}, OptionError, "points"),
    ],
)
def test_bad_inputs_give_clear_errors(args: tuple, kwargs: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words) as info:
        hpmagic.optimize(*args, **kwargs)
    assert not isinstance(info.value, (TypeError, AttributeError))
    assert isinstance(info.value, hpmagic.HpmagicError)


@pytest.mark.parametrize(
    "kwargs", [{"n_trials": 0}, {"timeout": -1}, {"max_failures": 0}, {"threads": 0}], ids=lambda k: next(iter(k))
)
def test_bad_budget_leaves_no_study_in_the_store(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    """A refused call must not leave an empty study stuck in state 'running' (and push 'name (2)' on the next run)."""
    path = str(tmp_path / "api.db")
    with pytest.raises(OptionError):
        hpmagic.optimize(quadratic, SPACE, strategy="random", storage=path, name="bad", **kwargs)
    assert Storage(path).list_studies() == []


@pytest.mark.parametrize("name", [3, ["a"]], ids=["int", "list"])
def test_bad_name_gives_option_error(name: Any) -> None:
    with pytest.raises(OptionError, match="name"):
        hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=1, name=name)


def test_a_plain_function_can_prune_itself_with_the_top_level_trial_pruned() -> None:
    """Plain-Python users stop a trial early by raising ``hpmagic.TrialPruned`` (no import from internals)."""

    def fn(params: dict[str, Any]) -> float:
        if params["x"] > 0.5:
            raise hpmagic.TrialPruned("not promising")
        return params["x"]

    study = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=12, seed=0)
    states = {t.state for t in study.trials}
    assert hpmagic.TrialState.PRUNED in states and hpmagic.TrialState.COMPLETE in states
    assert "TrialPruned" in hpmagic.__all__


def test_closing_a_study_deletes_its_spilled_snapshots(tmp_path) -> None:
    """Training-state snapshots spilled to a temporary folder go when the study is closed (or collected)."""
    import gc
    import os

    def fn(params: dict[str, Any]) -> float:
        for step in tune.steps():
            tune.report(params["x"] / step, step, state={"weights": bytes(4096)})
        return params["x"]

    study = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="hyperband", budget=(1, 9), seed=0)
    study.snapshots.memory_limit = 0  # force the next snapshot to disk
    study.snapshots.save(998, 1, {"weights": bytes(4096)})
    study.snapshots.save(999, 1, {"weights": bytes(4096)})
    spill = study.snapshots._spill_dir
    assert spill and os.path.isdir(spill) and os.listdir(spill)
    study.close()
    assert not os.path.exists(spill)
    # Collected without close: the folder goes too.
    other = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="hyperband", budget=(1, 3), seed=0)
    other.snapshots.memory_limit = 0
    other.snapshots.save(998, 1, {"weights": bytes(4096)})
    other.snapshots.save(999, 1, {"weights": bytes(4096)})
    spill = other.snapshots._spill_dir
    assert spill and os.path.isdir(spill)
    del other
    gc.collect()
    assert not os.path.exists(spill)


wrong_shapes = st.one_of(
    st.text(min_size=1, max_size=12),
    st.integers(),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.tuples(st.text(max_size=3), st.integers())), min_size=1),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    argument=st.sampled_from(["reporters", "strategy_options", "resources", "client", "directions", "enqueue"]),
    value=wrong_shapes,
)
def test_a_container_argument_of_the_wrong_shape_is_a_clear_error_before_any_study(
    tmp_path: Path, argument: str, value: Any
) -> None:
    """``strategy_options="eta=2"``, ``resources="GPU=1"``, ``client="tcp://..."``, ``directions="maximize"``,
    ``reporters=[1]``: each raised a ValueError, TypeError or AttributeError from inside hpmagic (some after the study
    was written); now an HpmagicError that names the argument, and the store holds no study."""
    path = str(tmp_path / f"shape-{argument}.db")
    with pytest.raises(hpmagic.HpmagicError) as info:
        hpmagic.optimize(
            quadratic, SPACE, strategy="random", n_trials=1, storage=path, name="shape", **{argument: value}
        )
    assert "\n" not in str(info.value)
    store = Storage(path)
    try:
        assert store.list_studies() == []
    finally:
        store.close()


def test_one_reporter_one_configuration_or_none_are_taken_as_they_are_meant() -> None:
    """``reporters=TextReporter()`` (one, not a list), ``enqueue={"x": 1.5}`` (one dict, as ``--enqueue`` takes
    it) and ``None`` for either work rather than failing inside the loop."""
    seen: list[Event] = []
    study = hpmagic.optimize(
        quadratic, SPACE, strategy="random", n_trials=2, reporters=seen.append, enqueue={"x": 1.5}, seed=0
    )
    assert study.trials[0].params["x"] == 1.5 and any(isinstance(e, StudyFinished) for e in seen)
    study = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=1, reporters=None, enqueue=None)
    assert len(study.trials) == 1


@settings(max_examples=10, deadline=None)
@given(strategy=st.sampled_from(["random", "grid", "bayes", "evolution", "gradient"]))
def test_a_function_that_returns_nothing_is_told_to_return_its_objective(strategy: str) -> None:
    """A forgotten ``return`` was explained in terms of cells only (the cell's last line, --objective)."""

    def fn(p: dict[str, Any]) -> None:
        (p["x"] - 2) ** 2  # the objective, computed and not returned

    study = hpmagic.optimize(
        fn, SPACE, strategy=strategy, n_trials=3, strategy_options={"points": 3} if strategy == "grid" else None
    )
    [trial] = study.trials  # the study stops: every trial would repeat the mistake
    assert "a function must return it" in (trial.error or "")

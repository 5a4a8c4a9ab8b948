"""Known configurations and warm starts: ``enqueue=`` / ``tune.enqueue``, ``start_from_defaults``, ``warm_from``,
and ``resume`` retrying the trials a crash left interrupted. Real SQLite files, real samplers and schedulers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Float, Int

# Dimensions built directly (not through markers), so naming rules of markers play no part here.
SPACE = {"x": Float(-5.0, 5.0, default=1.0), "k": Categorical(["a", "b"])}


def objective(p: dict) -> float:
    return (p["x"] - 2) ** 2 + (p["k"] == "b")


@pytest.mark.parametrize("strategy", ["random", "bayes", "evolution", "gradient"])
def test_enqueued_configurations_run_first_then_the_strategy_goes_on(strategy: str) -> None:
    configs = [{"x": 2.0, "k": "a"}, {"x": -4.0, "k": "b"}]
    study = hpmagic.optimize(objective, SPACE, strategy=strategy, n_trials=5, seed=0, enqueue=configs)
    assert [t.params for t in study.trials[:2]] == configs
    assert len(study.trials) == 5
    assert study.best_params == {"x": 2.0, "k": "a"}  # the enqueued optimum is kept as the best


def test_bayes_learns_from_enqueued_configurations() -> None:
    """Told ten configurations around the optimum, bayes proposes at the optimum at once; a cold start explores."""
    enqueue = [{"x": x, "k": k} for x in (-4.0, -1.0, 1.5, 2.5, 4.0) for k in "ab"]
    for seed in (0, 1):
        warm = hpmagic.optimize(objective, SPACE, strategy="bayes", n_trials=12, seed=seed, enqueue=enqueue)
        cold = hpmagic.optimize(objective, SPACE, strategy="bayes", n_trials=2, seed=seed)
        assert [t.params for t in warm.trials[:10]] == enqueue
        assert max(abs(t.params["x"] - 2) for t in warm.trials[10:]) < 0.1
        assert min(abs(t.params["x"] - 2) for t in cold.trials) > 0.1


def test_missing_parameters_take_their_default_else_a_seeded_draw() -> None:
    first = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=1, seed=4, enqueue=[{"k": "b"}])
    again = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=1, seed=4, enqueue=[{"x": 0.5}])
    assert first.trials[0].params == {"x": 1.0, "k": "b"}  # x's default
    assert again.trials[0].params["x"] == 0.5 and again.trials[0].params["k"] in ("a", "b")


def test_start_from_defaults_runs_every_default_first() -> None:
    space = {"x": Float(-5.0, 5.0, default=1.5), "n": Int(1, 9, default=3), "k": Categorical(["a", "b"], "b")}
    study = hpmagic.optimize(lambda p: p["x"], space, strategy="bayes", n_trials=3, seed=0, start_from_defaults=True)
    assert study.trials[0].params == {"x": 1.5, "n": 3, "k": "b"}
    with pytest.raises(OptionError, match="default="):
        hpmagic.optimize(lambda p: p["x"], {"x": Float(0.0, 1.0)}, n_trials=2, start_from_defaults=True)


def test_tune_enqueue_feeds_the_next_study_once() -> None:
    tune.enqueue({"x": -1.25, "k": "b"})
    assert tune.pending() == [{"x": -1.25, "k": "b"}]
    study = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=2, seed=0)
    assert study.trials[0].params == {"x": -1.25, "k": "b"}
    assert tune.pending() == []
    later = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=1, seed=0)
    assert later.trials[0].params != {"x": -1.25, "k": "b"}


@given(x=st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=3))
@settings(max_examples=30, deadline=None)
def test_a_configuration_outside_the_space_is_one_line_and_keeps_the_trials(tmp_path_factory, x) -> None:
    store = tmp_path_factory.mktemp("q") / "s.db"
    hpmagic.optimize(objective, SPACE, strategy="random", n_trials=2, seed=0, storage=store, name="s")
    if isinstance(x, int | float) and not isinstance(x, bool) and -5 <= x <= 5:
        return
    with pytest.raises(OptionError) as info:
        hpmagic.optimize(objective, SPACE, n_trials=4, storage=store, name="s", resume=True, enqueue=[{"x": x}])
    assert "\n" not in str(info.value) and "outside" in str(info.value)
    kept = hpmagic.load_study("s", store)
    assert len(kept.trials) == 2 and all(t.state.finished for t in kept.trials)


def test_unknown_names_and_non_dicts_are_refused() -> None:
    with pytest.raises(OptionError, match="'y'.*does not have"):
        hpmagic.optimize(objective, SPACE, n_trials=2, enqueue=[{"y": 1}])
    with pytest.raises(OptionError, match="must be a dict"):
        hpmagic.optimize(objective, SPACE, n_trials=2, enqueue=[[1, 2]])


@pytest.mark.parametrize("strategy", ["hyperband", "asha", "pbt"])
def test_multi_fidelity_runs_an_enqueued_configuration_at_its_starting_budget(strategy: str) -> None:
    def fn(p: dict) -> float:
        value = 0.0
        for step in tune.steps():
            value = (p["x"] - 2) ** 2 + 1 / step
            tune.report(value, step)
        return value

    study = hpmagic.optimize(
        fn, {"x": Float(-5.0, 5.0)}, strategy=strategy, n_trials=6, budget=(1, 9), seed=0, enqueue=[{"x": 3.25}]
    )
    first = study.trials[0]
    assert first.params == {"x": 3.25}
    assert first.user_attrs["budget"] == min(t.user_attrs["budget"] for t in study.trials)


def test_a_running_study_takes_a_configuration_as_its_next_trial() -> None:
    seen: list[float] = []
    holder: dict = {}

    def fn(p: dict) -> float:
        seen.append(p["x"])
        if len(seen) == 2:
            holder["study"].enqueue({"x": 0.125})
        return p["x"] ** 2

    def grab(event) -> None:
        holder.setdefault("study", event.study)

    hpmagic.optimize(fn, {"x": Float(-1.0, 1.0)}, strategy="random", n_trials=4, seed=0, reporters=[grab])
    assert seen[2] == 0.125
    with pytest.raises(OptionError, match="not running"):
        holder["study"].enqueue({"x": 0.5})


def _crash(store: Path, name: str, numbers: list[int]) -> None:
    """What a killed kernel leaves in the store (the loader marks a dead process's running trial like this)."""
    conn = sqlite3.connect(store)
    with conn:
        conn.execute(
            "UPDATE trials SET state = 'interrupted', value = NULL, error = 'the kernel stopped while this trial ran' "
            f"WHERE number IN ({','.join('?' * len(numbers))}) AND study_id = (SELECT id FROM studies WHERE name = ?)",
            (*numbers, name),
        )
    conn.close()


@pytest.mark.parametrize("strategy", ["bayes", "evolution", "random"])
def test_resume_retries_interrupted_trials_once(tmp_path: Path, strategy: str) -> None:
    store = tmp_path / "s.db"
    first = hpmagic.optimize(objective, SPACE, strategy=strategy, n_trials=4, seed=1, storage=store, name="s")
    lost = first.trials[2].params
    _crash(store, "s", [2])
    resumed = hpmagic.optimize(
        objective, SPACE, strategy=strategy, n_trials=6, seed=1, storage=store, name="s", resume=True
    )
    retry = resumed.trials[4]
    assert retry.params == lost and retry.state.finished
    assert [t.state.value for t in resumed.trials].count("interrupted") == 1
    # The retry is interrupted too (a configuration that kills the kernel): it is not tried a third time.
    _crash(store, "s", [4])
    again = hpmagic.optimize(
        objective, SPACE, strategy=strategy, n_trials=7, seed=1, storage=store, name="s", resume=True
    )
    assert all(t.params != lost for t in again.trials[6:])


def test_a_retry_keeps_resumed_random_search_on_its_sequence(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    hpmagic.optimize(objective, SPACE, strategy="random", n_trials=3, seed=2, storage=store, name="s")
    _crash(store, "s", [1])
    resumed = hpmagic.optimize(
        objective, SPACE, strategy="random", n_trials=6, seed=2, storage=store, name="s", resume=True
    )
    reference = hpmagic.optimize(objective, SPACE, strategy="random", n_trials=6, seed=2)
    done = [t.params for t in resumed.trials if t.state.value == "complete"]
    assert sorted(map(repr, done)) == sorted(repr(t.params) for t in reference.trials)


# -- warm starts ----------------------------------------------------------------------------------------------------


def _source(store: Path, name: str = "src", n: int = 12, space: dict | None = None) -> hpmagic.Study:
    return hpmagic.optimize(objective, space or SPACE, strategy="random", n_trials=n, seed=5, storage=store, name=name)


def test_warm_from_teaches_the_sampler_without_counting_or_storing_the_trials(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    _source(store, n=20)
    warm = hpmagic.optimize(
        objective, SPACE, strategy="bayes", n_trials=3, seed=0, storage=store, name="dst", warm_from="src"
    )
    cold = hpmagic.optimize(objective, SPACE, strategy="bayes", n_trials=3, seed=0, storage=store, name="cold")
    assert len(warm.trials) == 3 and [t.number for t in warm.trials] == [0, 1, 2]
    assert len(hpmagic.load_study("dst", store).trials) == 3
    assert all("warm_from" not in t.user_attrs for t in warm.trials)
    # Twenty random trials in, the model proposes near the optimum at once; the cold start still explores.
    assert min(abs(t.params["x"] - 2) for t in warm.trials) < min(abs(t.params["x"] - 2) for t in cold.trials)
    assert min(abs(t.params["x"] - 2) for t in warm.trials) < 0.5


def test_warm_from_keeps_only_trials_inside_the_new_space(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    src = _source(store, n=12)
    narrow = {"x": Float(0.0, 5.0), "k": Categorical(["a", "b", "c"])}
    from hpmagic.warm import warm_trials

    got = warm_trials("src", hpmagic.Space(narrow), store)
    assert len(got) == sum(t.params["x"] >= 0 for t in src.trials) > 0
    assert all(t.number < 0 and t.user_attrs["warm_from"] == "src" for t in got)


def test_warm_from_a_space_that_does_not_overlap_is_an_error(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    _source(store)
    with pytest.raises(OptionError, match="does not overlap.*names must be the same"):
        hpmagic.optimize(lambda p: p["y"], {"y": Float(0.0, 1.0)}, n_trials=2, storage=store, warm_from="src")
    with pytest.raises(OptionError, match="does not overlap.*no value in common"):
        hpmagic.optimize(
            objective, {"x": Float(6.0, 9.0), "k": Categorical(["a"])}, n_trials=2, storage=store, warm_from="src"
        )
    with pytest.raises(OptionError, match="no study named 'nope'"):
        hpmagic.optimize(objective, SPACE, n_trials=2, storage=store, warm_from="nope")
    assert [s["name"] for s in hpmagic.Storage(store).list_studies()] == ["src"]  # nothing written


def test_warm_from_another_store_and_under_a_scheduler(tmp_path: Path) -> None:
    _source(tmp_path / "other.db")

    def fn(p: dict) -> float:
        for step in tune.steps():
            tune.report(objective(p), step)
        return objective(p)

    study = hpmagic.optimize(
        fn,
        SPACE,
        strategy="bayes",
        scheduler="hyperband",
        budget=(1, 9),
        n_trials=4,
        seed=0,
        storage=tmp_path / "s.db",
        warm_from=f"src@{tmp_path / 'other.db'}",
    )
    assert len(study.trials) == 4
    with pytest.raises(OptionError, match="no study store"):
        hpmagic.optimize(objective, SPACE, n_trials=2, warm_from=f"src@{tmp_path / 'missing.db'}")

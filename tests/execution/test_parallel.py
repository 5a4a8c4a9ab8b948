"""Trials on Dask workers: the same studies as in the kernel, several trials at once, reports and stops crossing
processes, the best trial's variables coming back, worker deaths, resources, and bad input."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.events import TrialFinished, TrialReported
from hpmagic.execution import DaskExecutor
from hpmagic.trial import TrialState
from hpmagic.types import FinishReason

distributed = pytest.importorskip("distributed")


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def quadratic(params: dict[str, Any]) -> float:
    busy(0.05)
    return (params["x"] - 1.0) ** 2 + (0.5 if params["kind"] == "b" else 0.0)


SPACE = {"x": tune.uniform(-3, 3), "kind": tune.choice(["a", "b"])}


def slow_quadratic(params: dict[str, Any]) -> float:
    busy(0.3)
    return quadratic(params)


def max_overlap(trials: list[hpmagic.Trial]) -> int:
    """The most trials that were running at the same moment, from their start and end times."""
    events = sorted([(t.started_at, 1) for t in trials] + [(t.finished_at or t.started_at, -1) for t in trials])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


@pytest.mark.parametrize("where", ["kernel", "workers"])
def test_the_same_study_runs_in_the_kernel_and_on_workers(where: str, client: Any) -> None:
    extra = {"client": client} if where == "workers" else {}
    study = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=12, seed=3, **extra)
    again = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=12, seed=3)
    assert len(study.trials) == 12 and all(t.state is TrialState.COMPLETE for t in study.trials)
    # Random search with the same seed proposes the same configurations wherever the trials run.
    assert sorted(t.params["x"] for t in study.trials) == sorted(t.params["x"] for t in again.trials)
    assert study.best_value == pytest.approx(again.best_value)
    workers = {t.user_attrs.get("worker") for t in study.trials}
    if where == "workers":
        assert len(workers) == 2 and all(str(w).startswith("tcp://") for w in workers)
        assert max_overlap(study.trials) == 2  # two trials at once, never more than the workers
    else:
        assert workers == {None}


def test_every_strategy_keeps_several_trials_in_flight(client: Any) -> None:
    for strategy, extra in (
        ("bayes", {"strategy_options": {"n_initial_points": 3, "n_candidates": 200}}),
        ("evolution", {"strategy_options": {"population": 4, "tournament": 2}}),
        ("grid", {"strategy_options": {"points": 3}}),
        ("gradient", {}),
    ):
        n = 6 if strategy == "grid" else 8
        # Trials long enough that the driver's asking (a GP fit for bayes) never leaves a worker idle.
        study = hpmagic.optimize(slow_quadratic, SPACE, strategy=strategy, n_trials=n, seed=0, client=client, **extra)
        assert len(study.trials) == n and all(t.state is TrialState.COMPLETE for t in study.trials), strategy
        assert len({(t.params["x"], t.params["kind"]) for t in study.trials}) == n, strategy  # nothing repeated
        assert max_overlap(study.trials) == 2, strategy


def reporting(params: dict[str, Any]) -> float:
    value = 0.0
    for step in tune.steps():
        busy(0.02)
        value = (params["x"] - 1.0) ** 2 + 1.0 / step
        tune.report(value, step)
    return value


def test_reports_reach_the_driver_and_stops_reach_the_worker(client: Any) -> None:
    events: list[Any] = []
    study = hpmagic.optimize(
        reporting,
        {"x": tune.uniform(-3, 3)},
        strategy="random",
        scheduler="median",
        budget=(1, 40),
        n_trials=14,
        seed=1,
        client=client,
        reporters=[events.append],
        strategy_options={"n_startup": 3},
    )
    reported = {e.trial.number for e in events if isinstance(e, TrialReported)}
    assert len(reported) >= 8  # intermediate values arrived while trials ran
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    assert pruned, "the median scheduler stopped trials on the workers"
    for trial in pruned:
        assert trial.intermediate and trial.value == trial.intermediate[-1][1]
    # A stop takes effect at the trial's next report after the driver's decision reaches the worker, so a trial may
    # report a few steps more on a loaded machine (the decision travels through the driver's poll), but stopped
    # trials do not train to the end: at least one stopped well before its last step.
    assert min(t.intermediate[-1][0] for t in pruned) < 30, [t.intermediate[-1][0] for t in pruned]


def test_hyperband_promotions_continue_from_snapshots_made_on_workers(client: Any) -> None:
    def fn(params: dict[str, Any]) -> float:
        trained = int((tune.restored() or {}).get("weights", 0))
        for step in tune.steps():
            trained += 1
            tune.report(params["x"] + 1.0 / step, step, state={"weights": trained})
        return params["x"] + 1.0 / max(trained, 1)

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="hyperband", budget=(1, 9), seed=0, client=client, n_trials=None
    )
    # Idle workers take the next bracket's first rung instead of waiting: the whole schedule still runs to its end.
    assert study.last_finish is not None and study.last_finish.reason == FinishReason.EXHAUSTED
    assert any(t.user_attrs["budget"] == 9 for t in study.trials)
    continued = [t for t in study.trials if "continues" in t.user_attrs]
    assert continued and all(t.state is TrialState.COMPLETE for t in study.trials)
    # A promoted trial starts after the step its parent reached (its snapshot crossed from worker to worker).
    assert all(t.user_attrs.get("start", 0) > 0 for t in continued)


def test_stop_finishes_running_trials_and_a_second_stop_cancels_them(client: Any) -> None:
    def slow(params: dict[str, Any]) -> float:
        busy(0.4 if params["x"] > -10 else 0)
        return params["x"]

    presses: list[int] = []

    def press(event: Any) -> None:
        if isinstance(event, TrialFinished) and not presses:
            presses.append(event.trial.number)
            event.study.stop()  # first press: running trials finish, no new one starts

    study = hpmagic.optimize(
        slow, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=20, client=client, reporters=[press]
    )
    assert study.last_finish is not None and study.last_finish.reason == FinishReason.STOPPED
    assert len(study.trials) <= 3 and all(t.state is TrialState.COMPLETE for t in study.trials)

    def press_twice(event: Any) -> None:
        if isinstance(event, TrialFinished) and not presses[1:]:
            presses.append(event.trial.number)
            event.study.stop()
            event.study.stop()  # second press: cancel what runs

    def slower(params: dict[str, Any]) -> float:
        busy(0.05 if params["x"] < 0.3 else 3.0)
        return params["x"]

    study = hpmagic.optimize(
        slower,
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=20,
        seed=2,
        client=client,
        reporters=[press_twice],
    )
    states = [t.state for t in study.trials]
    assert TrialState.INTERRUPTED in states or all(s is TrialState.COMPLETE for s in states)
    assert not any(s is TrialState.RUNNING for s in states)


def test_a_worker_killed_mid_trial_is_retried_once_elsewhere(client: Any, tmp_path: Path) -> None:
    marker = str(tmp_path / "killed-once")

    def dies_once(params: dict[str, Any]) -> float:
        if params["x"] > 0.5 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), 9)  # the worker process dies in the middle of this trial
        busy(0.02)
        return params["x"]

    study = hpmagic.optimize(
        dies_once, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=10, seed=0, client=client
    )
    assert os.path.exists(marker), "a worker was killed"
    assert len(study.trials) == 10 and [t.number for t in study.trials] == list(range(10))
    assert all(t.state is TrialState.COMPLETE for t in study.trials)  # retried, none lost, none run twice
    client.wait_for_workers(2, timeout=60)


def test_a_trial_whose_worker_always_dies_fails_with_the_reason(client: Any) -> None:
    def always_dies(params: dict[str, Any]) -> float:
        if params["x"] > 0.7:
            os.kill(os.getpid(), 9)
        return params["x"]

    with distributed.Client(client.scheduler.address, set_as_default=False) as own:
        study = hpmagic.optimize(
            always_dies, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=8, seed=5, client=own, max_failures=None
        )
    lost = [t for t in study.trials if t.params.get("x", 0) > 0.7 or t.state is TrialState.FAILED]
    assert lost and all(t.state is TrialState.FAILED and "worker" in (t.error or "") for t in lost)
    assert sum(t.state is TrialState.COMPLETE for t in study.trials) == 8 - len(lost)
    client.wait_for_workers(2, timeout=60)


def test_resources_limit_how_many_trials_run_at_once() -> None:
    """Workers advertise one GPU each (made up) and two threads: trials claiming a GPU run one per worker at a time.

    Counted per worker (each trial prints where it ran): Dask may place trials unevenly between the two workers, so
    the total overlap depends on its placement, while a worker's own overlap is what its GPU limits.
    """
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0", resources={"GPU": 1}
    )
    try:
        with distributed.Client(cluster, set_as_default=False) as client:

            def fn(params: dict[str, Any]) -> float:
                print(distributed.get_worker().address)
                busy(0.4)
                return params["x"]

            free = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=8, client=client)
            gpu = hpmagic.optimize(
                fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=8, client=client, resources={"GPU": 1}
            )

        def per_worker_overlap(study: hpmagic.Study) -> int:
            by_worker: dict[str, list[hpmagic.Trial]] = {}
            for t in study.trials:
                by_worker.setdefault(t.stdout.strip(), []).append(t)
            return max(max_overlap(trials) for trials in by_worker.values())

        assert all(t.state is TrialState.COMPLETE for t in [*free.trials, *gpu.trials])
        assert per_worker_overlap(free) == 2  # both threads of a worker busy at once
        assert per_worker_overlap(gpu) == 1  # one GPU each: never two of its trials at once
        assert max_overlap(gpu.trials) <= 2
    finally:
        cluster.close()


def test_n_jobs_starts_one_local_cluster_and_reuses_it() -> None:
    from hpmagic.execution import _cluster, close_local_clusters

    try:
        first = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=4, n_jobs=2, seed=0)
        client = _cluster._local["client"]
        second = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=4, n_jobs=2, seed=1)
        assert _cluster._local["client"] is client  # reused, not started again
        assert len(first.trials) == len(second.trials) == 4
    finally:
        close_local_clusters()
    assert "client" not in _cluster._local


def test_unreachable_scheduler_is_a_clear_error_within_seconds() -> None:
    start = time.monotonic()
    with pytest.raises(hpmagic.OptionError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        from hpmagic.execution import connect

        connect("tcp://127.0.0.1:9", timeout=2)
    assert time.monotonic() - start < 30  # a bounded wait, not a hang (the limit itself is the 2 s timeout)


def test_executor_capacity_follows_the_cluster_or_the_limit(client: Any) -> None:
    assert DaskExecutor(client).capacity == 2
    assert DaskExecutor(client, max_in_flight=1).capacity == 1
    study = hpmagic.optimize(quadratic, SPACE, strategy="random", n_trials=6, client=client, n_jobs=1)
    assert max_overlap(study.trials) == 1


def test_keyboard_interrupt_cancels_the_trials_in_flight(client: Any) -> None:
    def slow(params: dict[str, Any]) -> float:
        busy(0.05 if params["x"] < 0.2 else 2.0)
        return params["x"]

    def interrupt(event: Any) -> None:
        if isinstance(event, TrialFinished):
            raise KeyboardInterrupt

    from hpmagic.space import Float, Space
    from hpmagic.strategies import RandomSampler
    from hpmagic.study import create_study

    study = create_study(space=Space({"x": Float(0, 1)}), seed=4)
    finish = study.optimize(
        lambda ctx: slow(ctx.use_all()),
        RandomSampler(),
        n_trials=10,
        reporters=[interrupt],
        executor=DaskExecutor(client),
    )
    assert finish.reason == FinishReason.INTERRUPTED
    assert not any(t.state is TrialState.RUNNING for t in study.trials)


def test_repeats_seeds_held_out_values_and_output_work_on_workers(client: Any) -> None:
    def fn(params: dict[str, Any]) -> float:
        print(f"seed {tune.seed}")
        tune.holdout(params["x"] * 2)
        return params["x"] + tune.seed

    study = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=4, repeats=2, client=client)
    for trial in study.trials:
        assert trial.user_attrs["values"] == pytest.approx([trial.params["x"], trial.params["x"] + 1])
        assert trial.value == pytest.approx(trial.params["x"] + 0.5)
        assert trial.user_attrs["test"] == pytest.approx(trial.params["x"] * 2)
        assert trial.stdout == "seed 0\nseed 1\n"  # captured on the worker, kept with the trial


def test_running_trials_show_their_worker_and_the_table_has_a_worker_column(client: Any) -> None:
    from hpmagic.results import results_text

    def fn(params: dict[str, Any]) -> float:
        for step in tune.steps():
            busy(0.1)
            tune.report(params["x"], step)
        return params["x"]

    seen_running: set[str] = set()

    def watch(event: Any) -> None:
        if isinstance(event, TrialReported) and event.trial.state is TrialState.RUNNING:
            worker = event.trial.user_attrs.get("worker")
            if worker:
                seen_running.add(worker)

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="random", budget=(1, 15), n_trials=4, client=client, reporters=[watch]
    )
    assert seen_running, "a running trial's worker was known while it ran"
    assert seen_running <= {t.user_attrs["worker"] for t in study.trials}
    table = results_text(study)
    assert "worker" in table
    assert any(w.split("://")[-1] in table for w in seen_running)


def test_trial_timeout_interrupts_a_trial_on_a_worker(client: Any) -> None:
    def fn(params: dict[str, Any]) -> float:
        if params["x"] > 0.5:
            while True:
                time.sleep(0.01)
        return params["x"]

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=6, seed=1, client=client, trial_timeout=0.3
    )
    slow = [t for t in study.trials if t.params["x"] > 0.5]
    assert slow and all(t.state is TrialState.FAILED and t.user_attrs.get("timed_out") for t in slow)
    assert all(t.state is TrialState.COMPLETE for t in study.trials if t.params["x"] <= 0.5)


def test_a_cluster_that_loses_all_its_workers_pauses_the_study_until_workers_return() -> None:
    """The study neither spins nor fails trials while no worker is left; it goes on when one joins."""
    import threading

    from hpmagic.events import StudyPaused, StudyUnpaused

    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    )
    seen: list[str] = []

    def note(event: Any) -> None:
        if isinstance(event, StudyPaused | StudyUnpaused):
            seen.append(type(event).__name__)

    def slowish(params: dict[str, Any]) -> float:
        time.sleep(0.2)
        return params["x"]

    try:
        with distributed.Client(cluster, set_as_default=False) as own:
            result: list[hpmagic.Study] = []
            runner = threading.Thread(
                target=lambda: result.append(
                    hpmagic.optimize(
                        slowish, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=6, client=own, reporters=[note]
                    )
                )
            )
            runner.start()
            deadline = time.monotonic() + 60
            while not own.processing() or not any(own.processing().values()):
                assert time.monotonic() < deadline, "no trial started"
                time.sleep(0.05)
            cluster.scale(0)  # every worker leaves while a trial runs
            while "StudyPaused" not in seen:
                assert time.monotonic() < deadline, "the study did not pause when the cluster lost its workers"
                time.sleep(0.1)
            assert runner.is_alive()
            cluster.scale(1)  # a worker joins again: the study goes on
            runner.join(timeout=120)
            assert not runner.is_alive()
        study = result[0]
        assert seen[:2] == ["StudyPaused", "StudyUnpaused"]
        assert any("lost all its workers" in n for n in study.notes)
        assert len(study.trials) == 6 and all(t.state is TrialState.COMPLETE for t in study.trials)
    finally:
        cluster.close()


def _unpicklable(kind: str) -> Any:
    import threading

    if kind == "lock":
        return threading.Lock()
    if kind == "generator":
        return (i for i in range(3))
    return open(os.devnull, "w")  # noqa: SIM115 - a log file a closure writes to


@settings(max_examples=6, deadline=None)
@given(kind=st.sampled_from(["lock", "generator", "file"]), where=st.sampled_from(["closure", "choice"]))
def test_what_cannot_reach_the_workers_is_a_one_line_error_naming_it(kind: str, where: str, client: Any) -> None:
    """An objective holding a lock, a generator or an open file, or a choice that is one, said so in Dask's words
    (``Could not serialize object of type LLGExpr``); now an OptionError says which and what to do."""
    held = _unpicklable(kind)
    try:
        if where == "closure":
            space, fn = SPACE, lambda p: quadratic(p) + (0.0 if held else 1.0)
        else:
            space, fn = {"x": tune.choice([held, 1.0])}, lambda p: 1.0
        with pytest.raises(hpmagic.OptionError, match="cannot be sent to worker processes") as info:
            hpmagic.optimize(fn, space, strategy="random", n_trials=2, client=client)
        assert "\n" not in str(info.value) and "pickle" in str(info.value)
        assert ("parameter 'x'" in str(info.value)) == (where == "choice")
    finally:
        if hasattr(held, "close"):
            held.close()

"""The multi-fidelity benchmark's sampler x scheduler runs work end to end on a tiny budget (structure only)."""

from __future__ import annotations

import warnings

import pytest

from benchmarks import multifidelity as mf

BUDGET = (1, 3)


@pytest.fixture(scope="module")
def runs() -> dict[str, mf.Run]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mf.run_sgd(0, budget=BUDGET, random_configs=4)


def test_every_combination_runs_and_counts_its_epochs(runs: dict[str, mf.Run]) -> None:
    assert list(runs) == [label for label, _sampler, _scheduler in mf.COMBOS]
    for label, run in runs.items():
        assert run.trials > 0, label
        assert run.epochs > 0, label
        assert 0.0 < run.best <= 1.0, label
        assert len(run.trace) == run.trials, label
        assert run.trace[-1] == (run.epochs, run.best), label
        used = [u for u, _best in run.trace]
        assert used == sorted(used), label
    assert runs["random (full budget)"].epochs == 4 * BUDGET[1]
    # Hyperband over 1..3 with eta 3: a bracket of 3 configurations at 1 step, the best continued for 2 more; then
    # 2 configurations at 3 steps. Promotions train only the extra steps (the model is restored from a snapshot).
    assert runs["random + hyperband"].epochs == runs["bayes + hyperband"].epochs == 3 + 2 + 2 * 3


def test_epochs_to_target_flags_runs_that_never_reach_it(runs: dict[str, mf.Run]) -> None:
    run = runs["bayes + hyperband"]
    assert run.epochs_to(2.0) == (run.epochs, False)
    used, reached = run.epochs_to(run.best)
    assert reached and 0 < used <= run.epochs
    assert run.epochs_to(-1.0) == (run.trace[0][0], True)


def test_the_report_prints_per_seed_and_summary_rows(runs: dict[str, mf.Run], capsys: pytest.CaptureFixture) -> None:
    mf.report_combos([runs, runs])
    out = capsys.readouterr().out
    for label in runs:
        assert f"| {label} |" in out
    assert "| 0 |" in out and "| 1 |" in out
    assert "bayes + hyperband needs fewer epochs" in out

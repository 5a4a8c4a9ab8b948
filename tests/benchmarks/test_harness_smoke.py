"""The benchmark harness runs end to end on a tiny budget with hpmagic's own strategies.

Peers (Optuna, scikit-optimize's gp_minimize, Hyperopt) live in .venv-bench, not in hpmagic's environment: this
test never needs them. It always runs hpmagic random and hpmagic bayes, so it never skips.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import run as bench
from benchmarks.optimizers import OPTIMIZERS, availability, grid_points, hpmagic_strategies, run
from benchmarks.problems import PROBLEMS, sample_params

OPTS = ["hpmagic-random", "hpmagic-bayes"]
PROBS = ["branin", "mixed"]
BUDGET = 8


@pytest.fixture(scope="module")
def results() -> list:
    return bench.run_all(PROBS, OPTS, seeds=1, budget=BUDGET)


def test_hpmagic_strategies_are_registered_and_available() -> None:
    for name in OPTS:
        assert name in OPTIMIZERS
        assert availability(name) is None


def test_multi_fidelity_strategies_are_left_out_with_a_reason() -> None:
    from hpmagic.strategies import STRATEGIES

    reasons = hpmagic_strategies()
    assert set(reasons) == set(STRATEGIES)
    for name, why in reasons.items():
        assert (f"hpmagic-{name}" in OPTIMIZERS) == (why is None)
    for name in ("random", "bayes", "grid"):
        assert reasons[name] is None
    for name in {"hyperband", "asha", "pbt"} & set(STRATEGIES):
        assert reasons[name] and "multi-fidelity" in reasons[name]


def test_each_run_makes_the_budgeted_evaluations(results: list) -> None:
    assert len(results) == len(PROBS) * len(OPTS)
    for r in results:
        assert r.error is None, r.error
        assert len(r.evaluations) == BUDGET
        assert all(math.isfinite(v) and t >= 0 for v, t in r.evaluations)
        assert r.wall_time >= r.objective_time
        assert math.isfinite(r.overhead_per_trial) and r.overhead_per_trial >= 0


def test_regrets_ranks_and_report(results: list, tmp_path: Path) -> None:
    pools = {p: bench.random_pool(PROBLEMS[p], 200, cache_dir=tmp_path) for p in PROBS}
    assert list(tmp_path.glob("pool-*.npy")), "pools are cached"
    summaries = bench.summarise(results, pools, BUDGET, OPTS)
    for s in summaries:
        assert s.optimum_known
        for name in OPTS:
            row = s.rows[name]
            assert len(row.regrets) == 1
            assert math.isfinite(row.regrets[0]) and row.regrets[0] >= 0
            assert row.ranks and 1 <= row.rank_mean <= len(OPTS)
        assert sorted(r for name in OPTS for r in s.rows[name].ranks) in ([1.0, 2.0], [1.5, 1.5])
    text = bench.render(
        summaries,
        OPTS,
        {"optuna-gp": "not installed"},
        title="Smoke",
        command="pytest",
        seeds=1,
        elapsed=1.0,
        env=bench.environment(),
        date="today",
    )
    for name in [*OPTS, *PROBS, "optuna-gp"]:
        assert name in text
    assert "| optimizer | mean normalized regret" in text

    out = tmp_path / "RESULTS.md"
    out.write_text("# title\n\nkept\n")
    bench.write_section(out, "bench:smoke", text)
    bench.write_section(out, "bench:smoke", text.replace("Smoke", "Again"))
    written = out.read_text()
    assert "kept" in written and written.count("<!-- BEGIN bench:smoke -->") == 1 and "Again" in written


def test_installed_peers_run_through_the_same_interface() -> None:
    """Peers installed here (in .venv-bench usually none is missing; in hpmagic's .venv usually all are) run too."""
    peers = [o for o in ["numpy-random", "optuna-tpe", "hyperopt-tpe", "skopt-gp"] if availability(o) is None]
    assert "numpy-random" in peers  # numpy is always there
    for name in peers:
        r = run(name, PROBLEMS["mixed"], 11, seed=0, warm=False)  # 11: past the model-based ones' 10 random
        assert r.error is None, f"{name}: {r.error}"
        assert len(r.evaluations) == 11


def test_expected_best_of_random_matches_order_statistics() -> None:
    pool = np.arange(1.0, 11.0)  # 1..10
    assert bench.expected_best_of_random(pool, 1) == pytest.approx(5.5)
    assert bench.expected_best_of_random(pool, 10) == pytest.approx(1.0)
    # Min of 2 draws without replacement from 1..10: sum_i i * (10 - i) / 45 = 165 / 45.
    assert bench.expected_best_of_random(pool, 2) == pytest.approx(165 / 45)
    with pytest.raises(ValueError):
        bench.expected_best_of_random(pool, 11)


def test_average_ranks_share_ties() -> None:
    assert bench.average_ranks([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    assert bench.average_ranks([1.0, 1.0, 0.5]) == [2.5, 2.5, 1.0]


def test_sampler_and_grid_fit_the_space() -> None:
    rng = np.random.default_rng(0)
    space = PROBLEMS["mixed"].space
    for _ in range(50):
        params = sample_params(space, rng)
        assert all(space[k].contains(v) for k, v in params.items())
    assert grid_points(PROBLEMS["branin"].space, 40) == 7  # 7 x 7 = 49 >= 40
    assert grid_points(PROBLEMS["hartmann6"].space, 40) == 5  # hpmagic's default already exceeds the budget


def test_a_bayes_variant_runs_with_its_knobs_set_for_that_run_only() -> None:
    from hpmagic.samplers import _gp

    problem = PROBLEMS["branin"]
    default = run("hpmagic-bayes", problem, BUDGET, seed=0, warm=False)
    before = _gp.INIT_FRACTION
    # A start of the whole budget: every trial comes from the space-filling design instead of 3 of 8.
    variant = run("hpmagic-bayes@INIT_FRACTION=1.0", problem, BUDGET, seed=0, warm=False)
    assert variant.error is None and variant.optimizer == "hpmagic-bayes@INIT_FRACTION=1.0"
    assert _gp.INIT_FRACTION == before
    assert variant.values != default.values
    _gp.INIT_FRACTION = 1.0
    try:  # the same as editing the constant
        assert run("hpmagic-bayes", problem, BUDGET, seed=0, warm=False).values == variant.values
    finally:
        _gp.INIT_FRACTION = before


def test_bad_variants_are_refused_with_the_knobs_to_choose_from(capsys: pytest.CaptureFixture[str]) -> None:
    assert "has: INIT_PER_DIM" in str(availability("hpmagic-bayes@NO_SUCH=1"))
    assert "is not a float" in str(availability('hpmagic-bayes@XI="high"'))
    assert "only hpmagic-bayes" in str(availability("hpmagic-random@XI=0.0"))
    assert bench.main(["--optimizers", "hpmagic-bayes@NO_SUCH=1", "--problems", "branin", "--budgets", "5"]) == 2
    assert "unknown bayes knob in 'NO_SUCH=1'" in capsys.readouterr().err

"""The multi-fidelity regret benchmark on a tiny budget: hpmagic's runs and their epochs, and failures reported.

The Optuna peer lives in .venv-bench and is not run here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks import mf_problems, mf_regret

HPMAGIC_COMBOS = [c for c in mf_regret.COMBOS if not c.startswith("optuna")]


@pytest.mark.parametrize("combo", HPMAGIC_COMBOS)
def test_each_run_stays_within_the_epochs_of_one_hyperband_schedule(combo: str) -> None:
    r = mf_regret.run_one(("branin-mf", combo, 0, 3))
    assert r["error"] is None, r.get("detail")
    cap = mf_regret.schedule_epochs(3)
    used = [u for u, _best in r["trace"]]
    assert used == sorted(used) and 0 < used[-1] <= cap
    bests = [b for _u, b in r["trace"] if b is not None]
    assert bests and bests == sorted(bests, reverse=True)  # the best full-budget value only improves
    assert mf_regret.regret_at(r["trace"], cap, 0.397887) == pytest.approx(bests[-1] - 0.397887)
    if combo.endswith("hyperband"):
        assert used[-1] == cap  # one whole schedule, promotions continue saved state


def test_cheap_fidelities_are_biased_and_the_full_one_is_the_function() -> None:
    for name in mf_problems.PROBLEMS:
        p = mf_problems.get(name)
        x = np.array([(lo + hi) / 2 for _n, lo, hi, _log in p.dims])
        params = {d[0]: v for d, v in zip(p.dims, x, strict=True)}
        assert p.step(None, params, p.max_steps) == pytest.approx(p.f(x, 1.0))
        assert p.step(None, params, 1) != pytest.approx(p.f(x, 1.0))


class _Broken(mf_problems.Synthetic):
    def __init__(self, max_steps: int = 3) -> None:
        super().__init__("broken", (("x", 0.0, 1.0, False),), max_steps, 0.0)

    def f(self, x: np.ndarray, z: float) -> float:
        raise ValueError("cannot evaluate")


def test_a_problem_that_fails_is_an_error_in_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mf_problems.get

    def get(name: str, max_steps: int | None = None) -> Any:
        return _Broken() if name == "broken" else real(name, max_steps)

    monkeypatch.setattr(mf_problems, "get", get)
    results = [mf_regret.run_one(("broken", c, 0, 3)) for c in ("random (full budget)", "random + hyperband")]
    text = mf_regret.report(results, {"broken": 3}, 1, None)
    failed_runs = [r for r in results if r["error"]]
    failed_trials = sum(r["failed"] for r in results)
    assert failed_runs or failed_trials
    assert f"Errors (runs that raised): {len(failed_runs)}" in text
    for r in results:
        assert f"broken, {r['combo']}, seed 0: " in text
        assert r["error"] or "ValueError: cannot evaluate" in text

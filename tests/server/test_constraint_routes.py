"""The server's summaries and study page over a study with constraints: the best is the best feasible trial."""

from __future__ import annotations

from pathlib import Path

import hpmagic
from hpmagic import tune

from .conftest import decode, study_id


async def get_json(jp_fetch, route: str, **params):
    return decode(await jp_fetch("hpmagic", route, params=params))


async def test_best_value_and_best_trial_are_the_best_feasible(jp_fetch, root: Path) -> None:
    path = root / "constrained" / "hpmagic.db"
    path.parent.mkdir()
    study = hpmagic.optimize(
        lambda p: (p["x"] - 2) ** 2,
        {"x": tune.uniform(-5, 5)},
        strategy="random",
        n_trials=15,
        seed=0,
        storage=path,
        name="c",
        constraints=["x <= 0"],
    )
    best = study.best_trial
    assert best is not None and min(t.value for t in study.trials) < best.value  # an infeasible trial scores better
    listed = await get_json(jp_fetch, "studies")
    [summary] = next(s for s in listed["stores"] if s["path"] == "constrained/hpmagic.db")["studies"]
    assert summary["best_value"] == best.value
    page = await get_json(jp_fetch, "study", store="constrained/hpmagic.db", id=study_id(path, "c"))
    assert page["best"]["number"] == best.number and page["best"]["violations"] == [0.0]
    rows = (await get_json(jp_fetch, "trials", store="constrained/hpmagic.db", id=study_id(path, "c")))["rows"]
    by_number = {t.number: t for t in study.trials}
    assert all(r["violations"] == by_number[r["number"]].violations for r in rows)
    assert hpmagic.Storage(path).list_studies()[0]["best_value"] == best.value
    assert hpmagic.Storage(path).best_value_of("x") == (True, best.params["x"])

"""bayes and evolution in a cell with branches never re-run a configuration they already ran.

In ``if kind == "knn": k = tune.int(1, 30) ... else: C = tune.loguniform(...)``, a knn trial never reaches C. A
proposal holds a value for every parameter, so a knn proposal with another C looked new while the cell would run the
same knn again: one bayes study spent 13 of its 20 trials re-running knn configurations, and evolution's mutations of
parameters the parent never reached re-ran 13-17 of 40. The generated cells here have a best branch with only a few
configurations (exhausted quickly) next to branches of floats; each is a real ``%%tune`` cell in a real IPython shell.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.magic.conftest import run


@st.composite
def branched_cells(draw: Any) -> tuple[str, int]:
    """A cell whose ``kind`` choice picks a branch; the best branch has one integer of a few values."""
    n_values = draw(st.integers(2, 5))
    others = draw(st.integers(1, 3))
    kinds = ["best", *[f"other{i}" for i in range(others)]]
    lines = [f"kind = tune.choice({kinds!r})", 'if kind == "best":', f"    k = tune.int(1, {n_values})"]
    lines.append(f"    loss = (k - {draw(st.integers(1, n_values))}) ** 2 * 0.01")
    for i in range(others):
        lines.append(f'elif kind == "other{i}":')
        names = [f"x{i}_{j}" for j in range(draw(st.integers(1, 2)))]
        for name in names:
            low = draw(st.sampled_from(["1e-3", "0.1"]))
            lines.append(f"    {name} = tune.loguniform({low}, 10.0)")
        lines.append(f"    loss = 1.0 + {draw(st.floats(0, 2))!r} + sum(abs(v - 1.0) for v in [{', '.join(names)}])")
    lines.append("loss")
    return "\n".join(lines), draw(st.integers(0, 10_000))


# Each strategy's options, and the trials from which no configuration may repeat (bayes's design may).
STRATEGIES = {
    "bayes": ("--trials 16 --options n_initial_points=4", 4),
    "evolution": ("--trials 30 --population 6", 0),
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=branched_cells())
def test_no_configuration_runs_twice(ip: Any, strategy: str, case: tuple[str, int]) -> None:
    cell, seed = case
    options, start = STRATEGIES[strategy]
    assert run(ip, f"--strategy {strategy} --seed {seed} --storage :memory: {options}", cell).success
    trials = ip.user_ns["tune"].study.trials
    seen: set[tuple[tuple[str, str], ...]] = set()
    repeats = []
    for trial in trials:
        used = tuple(sorted((name, repr(value)) for name, value in trial.params.items()))
        if used in seen and trial.number >= start:
            repeats.append((trial.number, dict(used)))
        seen.add(used)
    assert not repeats, f"configurations run again:\n{cell}\n{repeats}"
    # Nor were repeats traded for random draws: the model proposed every trial after its start.
    assert not [note for note in ip.user_ns["tune"].study.notes if "drawn at random" in note]


def test_a_branch_on_a_number_still_varies_its_parameter(ip: Any) -> None:
    """``if layers > 1`` gives mixed evidence (some trials of the same choices reach ``width``, some do not): the
    model keeps proposing values for it rather than pinning it to its filler."""
    cell = "\n".join(
        [
            "layers = tune.int(1, 3)",
            "loss = layers * 0.1",
            "if layers > 1:",
            "    width = tune.uniform(0.0, 1.0)",
            "    loss += (width - 0.3) ** 2",
            "loss",
        ]
    )
    assert run(ip, "--strategy bayes --trials 16 --seed 3 --storage :memory:", cell).success
    widths = {round(t.params["width"], 6) for t in ip.user_ns["tune"].study.trials if "width" in t.params}
    assert len(widths) >= 5

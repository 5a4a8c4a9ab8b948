"""Section "sizes are validated before anything is allocated": absurd sizes are one-line errors, at once.

Generated values far beyond any real study for every size-like option of ``%%tune`` (and the samplers' own size
options through ``--options``), run through the real magic: each must be a one-line UsageError within a second,
never a MemoryError, a hang, or a reporter failing on ``inf``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from hpmagic.samplers import GridSampler
from hpmagic.space import Float, Int, Space

CELL = "x = tune.uniform(0, 1)\nx"


def huge(option: str) -> st.SearchStrategy[int]:
    low = {"--seed": 2**63, "--budget": 10**9 + 1, "--interval": 10**9 + 1}.get(option, 10**7 + 1)
    return st.one_of(st.integers(low, low * 1000), st.integers(low, 2**300))


def _line(option: str, value: int) -> str:
    return {
        "--grid-points": f"--strategy grid --grid-points {value} --grid-sample --trials 2",
        "--threads": f"--strategy random --trials 1 --threads {value}",
        "--seed": f"--strategy random --trials 1 --seed {value}",
        "--population": f"--strategy evolution --trials 1 --population {value}",
        "--repeats": f"--strategy random --trials 1 --repeats {value}",
        "--budget": f"--strategy hyperband --budget 1..{value}",
        "--interval": f"--strategy pbt --budget 1..10 --interval {value}",
        "--trials": f"--strategy random --trials {value}",
        "--timeout": f"--strategy random --trials 1 --timeout {value}h",
        "n_initial_points": f"--strategy bayes --trials 1 --options n_initial_points={value}",
        "n_candidates": f"--strategy bayes --trials 1 --options n_candidates={value}",
        "population": f"--strategy evolution --trials 1 --options population={value}",
    }[option]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    option=st.sampled_from(
        [
            "--grid-points",
            "--threads",
            "--seed",
            "--population",
            "--repeats",
            "--budget",
            "--interval",
            "--trials",
            "--timeout",
            "n_initial_points",
            "n_candidates",
            "population",
        ]
    ),
    data=st.data(),
)
def test_an_absurd_size_is_a_one_line_error_at_once(ip: Any, option: str, data: st.DataObject) -> None:
    value = data.draw(huge(option))
    line = _line(option, value) + " --storage :memory:"
    began = time.monotonic()
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("tune", line, CELL)
    assert time.monotonic() - began < 2.0
    text = str(info.value)
    assert len(text.splitlines()) == 1 and len(text) < 400, text


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(digits=st.integers(300, 4000))
def test_a_timeout_that_overflows_a_float_is_refused(ip: Any, digits: int) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        ip.run_cell_magic("tune", f"--strategy random --trials 1 --timeout {'9' * digits}s --storage :memory:", CELL)


@settings(max_examples=15, deadline=None)
@given(width=st.integers(10**6, 10**12), n_dims=st.integers(1, 3), sample=st.booleans())
def test_huge_integer_grids_cost_nothing_until_asked(width: int, n_dims: int, sample: bool) -> None:
    """A grid over integers with up to 10**12 values each: refused at once without --grid-sample, sampled at once
    with it (no list of every value is built)."""
    space = Space({f"i{k}": Int(0, width) for k in range(n_dims)} | {"x": Float(0, 1)})
    grid = GridSampler(points=5, sample=sample)
    began = time.monotonic()
    if not sample:
        with pytest.raises(ValueError, match="combinations"):
            grid.setup(space, direction="minimize", seed=0, n_trials=10)
    else:
        grid.setup(space, direction="minimize", seed=0, n_trials=10)
        points = [grid.ask(i) for i in range(10)]
        assert all(space.contains(p) for p in points)
    assert time.monotonic() - began < 1.0


def test_a_huge_integer_grid_through_the_magic(ip: Any) -> None:
    began = time.monotonic()
    with pytest.raises(UsageError, match="combinations"):
        ip.run_cell_magic("tune", "--strategy grid --storage :memory:", "n = tune.int(0, 10**8)\nn")
    ip.run_cell_magic(
        "tune", "--strategy grid --grid-sample --trials 3 --storage :memory:", "n = tune.int(0, 10**8)\nn"
    )
    assert time.monotonic() - began < 5.0

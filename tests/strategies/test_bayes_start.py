"""bayes's space-filling start fits the study's budget and the space's dimension.

A 20- or 30-evaluation study must not spend half its trials on the design; a 12-dimensional one at a large budget
gets a longer design than a 2-dimensional one. The model then refits its hyperparameters at every ask through the
whole of such short studies.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic.space import Float, Space
from hpmagic.strategies import BayesSampler


def _start(d: int, n_trials: int | None) -> int:
    sampler = BayesSampler()
    sampler.setup(Space({f"x{i}": Float(0, 1) for i in range(d)}), direction="minimize", seed=0, n_trials=n_trials)
    return sampler._n_init


@settings(max_examples=60, deadline=None)
@given(d=st.integers(1, 20), n_trials=st.integers(3, 400))
def test_the_start_is_at_most_three_eighths_of_the_budget(d: int, n_trials: int) -> None:
    n = _start(d, n_trials)
    assert 3 <= n <= 20
    assert n <= max(3, 0.375 * n_trials)
    # Budgets large enough get the dimension's full design: 3 points a dimension, at least 5, at most 20.
    if n_trials >= 60:
        assert n == min(max(5, 3 * d), 20)


def test_short_studies_are_mostly_model_driven() -> None:
    assert [_start(5, b) for b in (20, 30, 40, 100)] == [7, 11, 15, 15]
    assert [_start(12, b) for b in (20, 40, 100)] == [7, 15, 20]
    assert _start(2, 20) == 6
    assert _start(5, None) == 15  # no budget: the dimension's design
    # The default refit schedule refits the kernel at every ask up to 40 observations: all of a short study.
    assert BayesSampler().refit_until >= 40

"""A tune.choice among thousands of values (seeds, feature subsets, vocabularies) costs each trial time in
proportion to the number of choices, not to its square: the cell builds its choices again in every trial and the
trial matches them to the study's position by position."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpmagic import TrialState
from tests.magic.conftest import run

#: Choices compared by value, as a user's own class is: new objects in every trial, equal to the study's ones.
OPTION = """
class Option:
    comparisons = 0

    def __init__(self, k):
        self.k = k

    def __eq__(self, other):
        Option.comparisons += 1
        return isinstance(other, Option) and other.k == self.k

    def __hash__(self):
        return hash(self.k)

    def __repr__(self):
        return f"Option({self.k})"
"""


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(60, 400), trials=st.integers(1, 3), strategy=st.sampled_from(["random", "bayes"]))
def test_each_trial_compares_each_choice_a_bounded_number_of_times(ip, n, trials, strategy):
    ip.run_cell(OPTION)
    cell = f"option = tune.choice([Option(k) for k in range({n})])\nfloat(option.k)\n"
    assert run(ip, f"--strategy {strategy} --trials {trials} --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == trials
    assert all(t.state is TrialState.COMPLETE and t.value == t.params["option"].k for t in study.trials)
    # A few passes over the choices per trial (and once before the first), never one pass per choice.
    assert ip.user_ns["Option"].comparisons <= 6 * n * (trials + 1)

"""Random search: the conformance suite, plus the exact resume guarantee."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpmagic.space import Float, Space
from hpmagic.strategies import RandomSampler
from hpmagic.trial import Trial, TrialState
from tests.strategies.conformance import StrategyConformance, configs, drive, failing_loss, mixed_space


class TestRandomConformance(StrategyConformance):
    n_trials = 20
    resume_exact = True

    def make_strategy(self, **kw: Any) -> RandomSampler:
        return RandomSampler(**kw)


def test_trial_i_draws_from_trial_rng_i() -> None:
    space = mixed_space()
    strategy = RandomSampler()
    strategy.setup(space, direction="minimize", seed=11)
    for i in range(5):
        assert strategy.ask(i) == space.sample(np.random.default_rng([11, i]))
    assert strategy.n_asked == 5


def test_resumed_in_several_pieces_equals_one_run() -> None:
    """Stop and resume three times: the asks are those of one uninterrupted run of 30 trials."""
    space = mixed_space()
    whole = drive(RandomSampler(), space, failing_loss, 30, seed=4)
    history: list = []
    for size in (7, 1, 12, 10):
        history += drive(RandomSampler(), space, failing_loss, size, seed=4, history=history)
    assert configs(history) == configs(whole)
    assert [t.number for t in history] == list(range(30))


def test_resume_counts_only_finished_trials() -> None:
    """A trial that was still running when the kernel died did not consume a draw: it is asked again."""
    space = Space({"x": Float(0.0, 1.0)})
    first = drive(RandomSampler(), space, failing_loss, 3, seed=0)
    interrupted = Trial(number=3, params={"x": 0.5}, state=TrialState.INTERRUPTED)
    strategy = RandomSampler()
    strategy.setup(space, direction="minimize", seed=0, history=[*first, interrupted])
    whole = drive(RandomSampler(), space, failing_loss, 4, seed=0)
    assert strategy.ask(4) == whole[3].params

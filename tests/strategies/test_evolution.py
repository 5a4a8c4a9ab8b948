"""Evolution: the conformance suite, and the parts of the algorithm a user relies on.

Children must be legal values of the right types whatever the parents (bounds, integer steps, log scales, choices),
selection must prefer better parents, the regularized population must age, crossover must mix parents, and markers
created at run time must be inherited.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.context import TrialContext
from hpmagic.errors import OptionError
from hpmagic.samplers._evolution import mutate_value
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import EvolutionSampler, FIFOScheduler, RandomSampler, get_strategy
from hpmagic.trial import Trial, TrialState
from tests.strategies.conformance import (
    ODD_CHOICES,
    StrategyConformance,
    assert_valid,
    configs,
    drive,
    failing_loss,
    loss,
    make_trial,
    mixed_space,
    step,
)


class TestEvolutionConformance(StrategyConformance):
    # A small population, so that most of the 30 trials are children, not the random start.
    n_trials = 30
    resume_exact = True
    never_repeats = True

    def make_strategy(self, **kw: Any) -> EvolutionSampler:
        return EvolutionSampler(**{"population": 8, "tournament": 3, **kw})

    def make_exploring_strategy(self) -> EvolutionSampler:
        # The distribution test needs 200 draws from the prior: a population larger than that stays random.
        return EvolutionSampler(population=1000)


class TestElitistEvolutionConformance(TestEvolutionConformance):
    def make_strategy(self, **kw: Any) -> EvolutionSampler:
        return EvolutionSampler(**{"population": 6, "tournament": 2, "regularized": False, "crossover_rate": 1.0, **kw})


def parent_strategy(parent: dict[str, Any], space: Space, **kw: Any) -> EvolutionSampler:
    """A strategy whose population is the single member ``parent`` (so every child is its child)."""
    strategy = EvolutionSampler(population=1, tournament=1, **kw)
    strategy.setup(space, direction="minimize", seed=0, history=[make_trial(0, parent, 1.0)])
    return strategy


def children(strategy: EvolutionSampler, n: int) -> list[dict[str, Any]]:
    """``n`` children of an unchanging population: each is told as failed, and failed trials never join it."""
    out = []
    for i in range(n):
        params = strategy.ask(1000 + i)
        strategy.tell(make_trial(1000 + i, params, None))
        out.append(params)
    return out


# -- options and registry -----------------------------------------------------------------------------------------


def test_registered_with_its_options() -> None:
    strategy = get_strategy("evolution", population=12, tournament=4, mutation_rate=0.5, regularized=False)
    assert isinstance(strategy, EvolutionSampler)
    assert (strategy.population, strategy.tournament, strategy.mutation_rate) == (12, 4, 0.5)
    assert strategy.regularized is False and strategy.supports_dynamic
    with pytest.raises(OptionError, match="has no option 'pop'"):
        get_strategy("evolution", pop=3)


@pytest.mark.parametrize(
    "options",
    [
        {"population": 0},
        {"population": 2.5},
        {"tournament": 0},
        {"population": 3, "tournament": 4},
        {"mutation_rate": 0},
        {"mutation_rate": 1.5},
        {"crossover_rate": -0.1},
        {"regularized": "yes"},
        {"sigma": 0},
    ],
)
def test_bad_options_are_option_errors(options: dict[str, Any]) -> None:
    with pytest.raises(OptionError):
        EvolutionSampler(**options)


# -- the random start ---------------------------------------------------------------------------------------------


def test_first_population_is_random_search() -> None:
    """The first ``population`` asks are the very draws of random search with the same seed."""
    space = mixed_space()
    evolved = drive(EvolutionSampler(population=10), space, loss, 10, seed=3)
    sampled = drive(RandomSampler(), space, loss, 10, seed=3)
    assert configs(evolved) == configs(sampled)


# -- mutation -----------------------------------------------------------------------------------------------------


LOG_SPACE = Space(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "x": Float(-1.0, 1.0),
        "width": Int(1, 1024, log=True),
        "n": Int(0, 3),
        "kind": Categorical(ODD_CHOICES),
        "const": Categorical(["only"]),
    }
)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mutation_rate=st.one_of(st.none(), st.floats(0.05, 1.0)),
    crossover_rate=st.floats(0.0, 1.0),
    sigma=st.floats(0.01, 1.0),
)
def test_children_are_legal_whatever_the_options(
    seed: int, mutation_rate: float | None, crossover_rate: float, sigma: float
) -> None:
    strategy = EvolutionSampler(
        population=4, tournament=2, mutation_rate=mutation_rate, crossover_rate=crossover_rate, sigma=sigma
    )
    for trial in drive(strategy, LOG_SPACE, failing_loss, 30, seed=seed):
        assert_valid(LOG_SPACE, trial.params)


def test_mutation_is_relative_on_a_log_scale() -> None:
    """A mutated log-scaled value moves by factors, not by absolute amounts.

    On [1e-5, 1] a step of 0.15 of the range in linear units would take 1e-4 to about 0.15 (three decades); in the
    log domain its typical size is 0.15 * 5 decades = 0.75 decade, a factor of about 5.
    """
    parent = {"lr": 1e-4, "x": 0.0, "width": 4, "n": 1, "kind": "a", "const": "only"}
    kids = children(parent_strategy(parent, LOG_SPACE, mutation_rate=1.0, crossover_rate=0.0), 200)
    decades = np.array([abs(math.log10(k["lr"] / 1e-4)) for k in kids])
    assert 0.2 < np.median(decades) < 1.0, np.median(decades)
    assert np.mean([k["lr"] < 1e-3 for k in kids]) > 0.8  # linear steps would leave almost none below 1e-3
    widths = np.array([k["width"] for k in kids])
    assert np.median(np.abs(np.log2(widths / 4))) < 2.5  # a few doublings, not hundreds of units
    for kid in kids:
        assert_valid(LOG_SPACE, kid)


def test_every_mutation_changes_its_gene() -> None:
    """An integer whose Gaussian step stays in its slice moves to a neighbour; a choice changes to another one."""
    rng = np.random.default_rng(0)
    assert all(mutate_value(Int(0, 3), 3, rng, 0.01) == 2 for _ in range(50))  # 3 is the upper bound: the one below
    kinds = [mutate_value(Categorical(ODD_CHOICES), (1, 2), rng, 0.01) for _ in range(50)]
    assert {ODD_CHOICES.index(k) for k in kinds} == {0, 1, 3}


def test_children_past_a_used_up_neighbourhood_are_new_configurations() -> None:
    """The parent's only children (n moves to 2, the choice to one of three others) are tried first; then, rather
    than run one of them again, a child is a new random configuration."""
    space = Space({"n": Int(0, 3), "kind": Categorical(ODD_CHOICES)})
    parent = {"n": 3, "kind": (1, 2)}
    kids = children(parent_strategy(parent, space, mutation_rate=1.0, crossover_rate=0.0, sigma=0.01), 8)
    assert all(k["n"] == 2 for k in kids[:3]) and {ODD_CHOICES.index(k["kind"]) for k in kids[:3]} == {0, 1, 3}
    keys = [(k["n"], ODD_CHOICES.index(k["kind"])) for k in [parent, *kids]]
    assert len(set(keys)) == len(keys)


def test_one_gene_mutates_by_default() -> None:
    """The default rate (one over the number of genes, at least one) keeps most of the parent."""
    parent = {"lr": 1e-4, "x": 0.5, "width": 4, "n": 1, "kind": "a", "const": "only"}
    kids = children(parent_strategy(parent, LOG_SPACE, crossover_rate=0.0), 100)
    changed = [sum(k[n] != parent[n] for n in parent) for k in kids]
    assert min(changed) >= 1
    assert np.mean(changed) < 2.5


# -- selection, aging, crossover ----------------------------------------------------------------------------------


def test_population_improves_over_generations() -> None:
    """Tournaments pick better parents: on a 1-d problem the population's mean loss falls well below the start's."""
    space = Space({"x": Float(-5.0, 5.0)})

    def parabola(p: dict[str, Any]) -> float:
        return (p["x"] - 1.0) ** 2

    # A small mutation step: with the default (0.15 of the range, 1.5 here) the children's own spread, not the
    # parents' quality, would set the population's mean.
    for seed in range(5):
        strategy = EvolutionSampler(population=10, tournament=3, sigma=0.05)
        trials = drive(strategy, space, parabola, 120, seed=seed)
        start = np.mean([t.value for t in trials[:10]])
        end = np.mean([m.loss for m in strategy.members])
        assert end < start / 5, (seed, start, end)


def test_a_full_tournament_always_picks_the_best() -> None:
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    history = [make_trial(i, {"x": i / 10, "y": 1 - i / 10}, float(v)) for i, v in enumerate([5, 3, 9, 1, 7])]
    strategy = EvolutionSampler(population=5, tournament=5, crossover_rate=0.0, mutation_rate=1e-9)
    strategy.setup(space, direction="minimize", seed=0, history=history)
    for kid in children(strategy, 20):
        assert kid["x"] == 0.3 or kid["y"] == 0.7  # one gene mutated, the other is the best member's


def test_maximizing_selects_the_largest_values() -> None:
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    history = [make_trial(i, {"x": i / 10, "y": 1 - i / 10}, float(v)) for i, v in enumerate([5, 3, 9, 1, 7])]
    strategy = EvolutionSampler(population=5, tournament=5, crossover_rate=0.0, mutation_rate=1e-9)
    strategy.setup(space, direction="maximize", seed=0, history=history)
    for kid in children(strategy, 20):
        assert kid["x"] == 0.2 or kid["y"] == 0.8


def test_regularized_population_ages_out_the_oldest() -> None:
    """Real et al.'s aging: the oldest member dies, even if it is the best; elitist evolution keeps the best."""
    space = Space({"x": Float(0.0, 1.0)})
    history = [make_trial(i, {"x": i / 10}, float(v)) for i, v in enumerate([0.0, 5.0, 3.0, 4.0])]
    aging = EvolutionSampler(population=3, tournament=1)
    aging.setup(space, direction="minimize", seed=0, history=history)
    assert [m.params["x"] for m in aging.members] == [0.1, 0.2, 0.3]  # trial 0, the best, died of age
    elitist = EvolutionSampler(population=3, tournament=1, regularized=False)
    elitist.setup(space, direction="minimize", seed=0, history=history)
    assert [m.params["x"] for m in elitist.members] == [0.0, 0.2, 0.3]  # the worst (5.0) left

    aging.tell(make_trial(4, {"x": 0.9}, 9.0))  # a told trial joins, and the oldest member leaves
    assert [m.params["x"] for m in aging.members] == [0.2, 0.3, 0.9]


def test_failed_trials_never_join_the_population() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    strategy = EvolutionSampler(population=3, tournament=1)
    strategy.setup(space, direction="minimize", seed=0)
    step(strategy, lambda p: None if p["x"] > 0.5 else p["x"], 30)
    assert strategy.members
    assert all(m.params["x"] <= 0.5 for m in strategy.members)


def test_crossover_mixes_the_parents_genes() -> None:
    """Uniform crossover: a child's untouched genes come from either parent, and both parents contribute."""
    space = Space({"a": Float(0.0, 1.0), "b": Float(0.0, 1.0), "c": Float(0.0, 1.0), "d": Float(0.0, 1.0)})
    low, high = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    strategy = EvolutionSampler(population=2, tournament=1, crossover_rate=1.0, mutation_rate=1e-9)
    strategy.setup(space, direction="minimize", seed=0, history=[make_trial(0, low, 1.0), make_trial(1, high, 2.0)])
    mixed = 0
    for kid in children(strategy, 40):
        kept = [v for v in kid.values() if v in (0.0, 1.0)]
        assert len(kept) == 3  # one gene mutated (to a value strictly inside), three inherited
        mixed += 0.0 in kept and 1.0 in kept
    assert mixed > 10  # about three quarters of the children have genes of both parents


# -- markers created at run time ----------------------------------------------------------------------------------


def run_network_cell(strategy: EvolutionSampler, number: int) -> Trial:
    """What a cell with ``n_layers = tune.int(1, 3)`` and a ``units_{i}`` marker per layer does in one trial."""
    space = strategy.space
    trial = Trial(number=number)
    with TrialContext(trial, space, strategy.ask(number), FIFOScheduler(strategy)) as ctx:
        n_layers = ctx.suggest("n_layers", space["n_layers"])
        for i in range(n_layers):
            ctx.suggest(f"units_{i}", Int(8, 128, log=True, name=f"units_{i}"))
    trial.state = TrialState.FAILED  # told as failed, so the parent stays the only member
    strategy.tell(trial)
    return trial


def test_run_time_markers_are_inherited() -> None:
    space = Space({"n_layers": Int(1, 3), "alpha": Float(1e-5, 1e-1, log=True)})
    parent = {"n_layers": 2, "alpha": 1e-3, "units_0": 16, "units_1": 64}
    # A tiny rate: exactly one gene mutates, and it is one of the static ones, so run-time genes pass unchanged.
    strategy = parent_strategy(parent, space, mutation_rate=1e-9, crossover_rate=0.0)
    seen_third = False
    for number in range(1, 41):
        params = run_network_cell(strategy, number).params
        assert params["units_0"] == 16
        if params["n_layers"] >= 2:
            assert params["units_1"] == 64
        if params["n_layers"] == 3:
            seen_third = True
            assert 8 <= params["units_2"] <= 128  # a layer the parent lacked: drawn afresh
    assert seen_third


def test_run_time_markers_mutate_within_their_bounds() -> None:
    space = Space({"n_layers": Int(1, 3)})
    parent = {"n_layers": 2, "units_0": 16, "units_1": 64}
    strategy = parent_strategy(parent, space, mutation_rate=1.0, crossover_rate=0.0)
    values = []
    for number in range(1, 41):
        params = run_network_cell(strategy, number).params
        for i in range(params["n_layers"]):
            assert 8 <= params[f"units_{i}"] <= 128 and type(params[f"units_{i}"]) is int
        values.append(params["units_0"])
    assert all(v != 16 for v in values)  # mutated, by factors: near 16 on the log scale
    assert np.median(np.abs(np.log2(np.array(values) / 16))) < 2


def test_run_time_markers_through_optimize() -> None:
    """The Python API: markers made inside ``fn`` are inherited, and the search improves on its random start."""

    def network(p: dict[str, Any]) -> float:
        units = [tune.int(8, 128, log=True, name=f"units_{i}") for i in range(p["n_layers"])]
        return abs(p["n_layers"] - 2) + sum(abs(math.log2(u / 32)) for u in units)

    study = hpmagic.optimize(
        network,
        {"n_layers": tune.int(1, 3)},
        strategy="evolution",
        strategy_options={"population": 8, "tournament": 3},
        n_trials=60,
        seed=0,
    )
    assert len(study.trials) == 60
    start = min(t.value for t in study.trials[:8])
    assert study.best_value < start
    assert study.best_params["n_layers"] == 2
    for trial in study.trials:
        assert {f"units_{i}" for i in range(trial.params["n_layers"])} <= set(trial.params)


# -- resuming -----------------------------------------------------------------------------------------------------


def test_resume_rebuilds_the_population() -> None:
    space = mixed_space()
    whole = EvolutionSampler(population=6, tournament=2)
    trials = drive(whole, space, failing_loss, 20, seed=1)
    resumed = EvolutionSampler(population=6, tournament=2)
    resumed.setup(space, direction="minimize", seed=1, history=trials)
    assert [m.params for m in resumed.members] == [m.params for m in whole.members]
    assert resumed.ask(20) == whole.ask(20)


def test_beats_random_search_on_a_mixed_space() -> None:
    """Not a proof, a sanity check: over ten seeds evolution's median best is well below random search's."""
    space = mixed_space()
    evolved, sampled = [], []
    for seed in range(10):
        evolved.append(
            min(t.value for t in drive(EvolutionSampler(population=10, tournament=3), space, loss, 80, seed=seed))
        )
        sampled.append(min(t.value for t in drive(RandomSampler(), space, loss, 80, seed=seed)))
    assert np.median(evolved) < np.median(sampled) / 2

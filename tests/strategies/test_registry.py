"""The strategy registry and ``get_strategy``: the names and options ``--strategy`` accepts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import hpmagic
import hpmagic.strategies as strategies
from hpmagic import tune
from hpmagic.errors import OptionError
from hpmagic.strategies import (
    STRATEGIES,
    BayesSampler,
    GridSampler,
    RandomSampler,
    Sampler,
    Strategy,
    describe_options,
    get_strategy,
    register,
    strategy_help,
    unregister,
)
from tests.magic.conftest import run


def test_all_is_sorted_and_exports_every_registered_strategy() -> None:
    assert strategies.__all__ == sorted(strategies.__all__)
    assert {"STRATEGIES", "Strategy", "TrialRequest", "get_strategy"} <= set(strategies.__all__)
    for cls in STRATEGIES.values():
        assert cls.__name__ in strategies.__all__, cls
        assert getattr(strategies, cls.__name__) is cls


def test_registry_maps_each_name_to_its_class() -> None:
    assert {"bayes": BayesSampler, "grid": GridSampler, "random": RandomSampler}.items() <= STRATEGIES.items()
    for name, cls in STRATEGIES.items():
        assert issubclass(cls, Strategy)
        assert cls.name == name


@pytest.mark.parametrize("name", ["bayes", "grid", "random", " Grid ", "RANDOM"])
def test_get_strategy_builds_a_new_instance(name: str) -> None:
    first, second = get_strategy(name), get_strategy(name)
    assert isinstance(first, STRATEGIES[name.strip().lower()])
    assert first is not second


def test_get_strategy_passes_options() -> None:
    grid = get_strategy("grid", points=3, sample=True)
    assert isinstance(grid, GridSampler) and (grid.points, grid.sample) == (3, True)
    bayes = get_strategy("bayes", n_initial_points=4, acq_func="ei", n_candidates=500)
    assert isinstance(bayes, BayesSampler)
    assert (bayes.n_initial_points, bayes.acq_func, bayes.n_candidates) == (4, "EI", 500)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(OptionError) as info:
        get_strategy("bayse")
    assert str(info.value) == f"unknown strategy 'bayse'; choose one of: {', '.join(sorted(STRATEGIES))}"
    assert "bayes, " in str(info.value) and "random" in str(info.value)


@pytest.mark.parametrize("name", ["", None, 3, "grid2"])
def test_bad_names_are_option_errors(name: object) -> None:
    with pytest.raises(OptionError, match="choose one of: .*bayes, .*grid, .*random"):
        get_strategy(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("grid", {"pionts": 3}, ["'pionts'", "points, sample"]),
        ("random", {"seed": 1}, ["'seed'", "takes no options"]),
        ("bayes", {"kappa": 1, "xi": 2}, ["'kappa', 'xi'", "n_initial_points, acq_func, n_candidates"]),
    ],
)
def test_unknown_options_are_option_errors_not_type_errors(name: str, options: dict, words: list[str]) -> None:
    with pytest.raises(OptionError) as info:
        get_strategy(name, **options)
    assert not isinstance(info.value, TypeError)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("grid", {"points": 0}),
        ("grid", {"points": "5"}),
        ("grid", {"points": True}),
        ("grid", {"points": 2.5}),
        ("grid", {"sample": "yes"}),
        ("bayes", {"n_initial_points": 0}),
        ("bayes", {"n_initial_points": 2.0}),
        ("bayes", {"acq_func": "EIps"}),
        ("bayes", {"acq_func": None}),
        ("bayes", {"n_candidates": 0}),
    ],
)
def test_invalid_option_values_are_option_errors(name: str, options: dict) -> None:
    with pytest.raises(OptionError):
        get_strategy(name, **options)


def test_importing_strategies_does_not_import_skopt() -> None:
    """``import hpmagic`` must stay fast: scikit-optimize loads only when a Bayesian study starts."""
    code = "import sys, hpmagic.strategies; assert 'skopt' not in sys.modules and 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class Halving(Sampler):
    """A tiny sampler defined in a test: halves its step each trial, and offers the PBT tab (any declared tab).

    Args:
        start: where the first trial samples, as a fraction of the range.
        shrink: how much the step shrinks per trial.
    """

    name = "halving"
    tabs = ("pbt_schedule",)

    def __init__(self, start: float = 0.5, shrink: float = 0.5) -> None:
        self.start = start
        self.shrink = shrink

    def ask(self, number: int) -> dict[str, Any]:
        fraction = self.start * self.shrink ** min(number, 30)
        return {name: dim.from_unit(fraction) for name, dim in self.space.items()}


@pytest.fixture
def halving():
    register(Halving)
    yield Halving
    unregister("halving")


def test_a_registered_strategy_runs_through_optimize_the_magic_and_the_dashboard(halving, ip) -> None:
    assert "halving" in STRATEGIES
    assert "halving: start=0.5 (number), shrink=0.5 (number)" in strategy_help()
    assert [(s.name, s.help) for s in describe_options(Halving)] == [
        ("start", "where the first trial samples, as a fraction of the range."),
        ("shrink", "how much the step shrinks per trial."),
    ]
    study = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 8)}, strategy="halving", n_trials=4)
    assert [t.params["x"] for t in study.trials] == [4.0, 2.0, 1.0, 0.5]
    assert study.strategy_name == "halving" and study.tabs == ("pbt_schedule",)
    # The magic: --options checked against the declared types, --strategy accepted, the help lists it.
    assert run(ip, "--strategy halving --options start=0.25 --trials 3", "x = tune.uniform(0, 8)\nx\n").success
    assert [t.params["x"] for t in ip.user_ns["tune"].study.trials] == [2.0, 1.0, 0.5]
    ip.run_cell("%%tune --strategy halving --options start=low --trials 3\nx = tune.uniform(0, 8)\nx\n")
    assert "option start takes number, got 'low'" in str(sys.last_value)
    # The dashboard builds the tab the strategy declares.
    pytest.importorskip("ipywidgets")
    from hpmagic.display.dashboard import Dashboard

    class Shown(Dashboard):
        def show(self) -> None:
            pass

    dash = Shown(top_k=3, min_interval=0, plot_interval=0)
    hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 8)}, strategy="halving", n_trials=3, reporters=[dash])
    titles = [dash.explore.get_title(i) for i in range(len(dash.explore.children))]
    assert "PBT schedule" in titles

"""The strategy registry and ``get_strategy``: the names and options ``--strategy`` accepts."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hpmagic.strategies as strategies
from hpmagic.errors import OptionError
from hpmagic.strategies import STRATEGIES, BayesSampler, GridSampler, RandomSampler, Strategy, get_strategy


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

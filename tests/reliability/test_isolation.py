"""Nothing a trial returns, prints or raises aborts the study: it fails that trial with a readable reason, the study
goes on, and every trial row leaves the 'running' state. The cases are generated (hypothesis), so the same probe with
unseen objects keeps passing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.execution import objective_value
from hpmagic.trial import TrialState


class Weird:
    """An object whose chosen dunder methods raise the chosen exception."""

    def __init__(self, broken: frozenset[str], error: type[BaseException]) -> None:
        self._broken, self._error = broken, error

    def _maybe(self, name: str) -> None:
        if name in self._broken:
            raise self._error(f"{name} is broken")

    def __repr__(self) -> str:
        self._maybe("__repr__")
        return "Weird()"

    def __float__(self) -> float:
        self._maybe("__float__")
        return 1.0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._maybe("__getattr__")
        raise AttributeError(name)


class CustomBase(BaseException):
    """Not an Exception: escaped the trial's isolation before."""


class BadMessage(Exception):
    def __str__(self) -> str:
        raise RuntimeError("the message itself fails")


ERRORS = st.sampled_from([ValueError, RuntimeError, CustomBase, GeneratorExit, SystemExit, BadMessage, MemoryError])
TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)

RETURNS = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(np.ma.masked),
    st.builds(lambda v: np.array([v]), st.floats()),
    st.builds(lambda v: np.array([v, v]), st.floats(allow_nan=False)),
    st.builds(Weird, st.frozensets(st.sampled_from(["__repr__", "__float__", "__getattr__"])), ERRORS),
    TEXT,
    st.none(),
    st.booleans(),
    st.complex_numbers(allow_nan=False),
    st.decimals(allow_nan=True),
)


@given(raw=RETURNS)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_objective_value_never_raises_and_only_accepts_finite_reals(raw: Any) -> None:
    value, problem = objective_value(raw)
    if value is None:
        assert isinstance(problem, str) and problem and "\n" not in problem
    else:
        assert problem is None and isinstance(value, float) and math.isfinite(value)


# One generated behaviour per trial: return something, print something, or raise something.
BEHAVIOUR = st.one_of(
    st.tuples(st.just("return"), RETURNS),
    st.tuples(st.just("print"), TEXT),
    st.tuples(st.just("raise"), ERRORS),
    st.tuples(st.just("raise message"), st.just(BadMessage)),
)


@given(behaviours=st.lists(BEHAVIOUR, min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_behaviour_of_a_trial_aborts_the_study(behaviours: list[tuple[str, Any]], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("iso") / "hpmagic.db"

    def fn(params: dict[str, Any]) -> Any:
        kind, what = behaviours[params["i"]]
        if kind == "return":
            return what
        if kind == "print":
            print(what)
            return 1.0
        raise what("boom")

    study = hpmagic.optimize(
        fn,
        {"i": tune.choice(list(range(len(behaviours))))},
        strategy="grid",
        n_trials=None,
        storage=str(path),
        max_failures=None,
        seed=0,
    )
    assert len(study.trials) == len(behaviours)
    for trial in study.trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.FAILED)
        if trial.state is TrialState.FAILED:
            assert trial.error and "\n" not in trial.error
    # Every trial reached the store in a final state, output included.
    reloaded = hpmagic.load_study(study.name, str(path))
    assert [t.state for t in reloaded.trials] == [t.state for t in study.trials]
    assert [t.stdout for t in reloaded.trials] == [t.stdout for t in study.trials]

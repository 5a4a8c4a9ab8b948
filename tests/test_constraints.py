"""Constraints through the API: parsing, evaluation, the best feasible trial, failures, resume."""

from __future__ import annotations

import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.constraints import ConstraintError, parse_constraints
from hpmagic.errors import OptionError

SPACE = {"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}


def bowl(p):
    return (p["x"] - 2) ** 2 + p["y"] ** 2


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(a=finite, b=finite, op=st.sampled_from(sorted(_OPS)), swap=st.booleans())
def test_a_comparison_gives_its_violation_and_is_satisfied_exactly_when_python_says_so(a, b, op, swap):
    text = f"b {op} a" if swap else f"a {op} b"
    left, right = (b, a) if swap else (a, b)
    [constraint] = parse_constraints([text])
    margin = constraint.margin({"a": a, "b": b})
    expected = left - right if op in ("<", "<=") else right - left
    assert margin == pytest.approx(expected)
    violation = max(0.0, margin)
    if _OPS[op](left, right):
        assert violation == 0.0
    elif left != right:  # on the bound a strict comparison fails by 0: the same constraint as its non-strict form
        assert violation > 0


@settings(max_examples=100, deadline=None)
@given(low=finite, mid=finite, high=finite)
def test_a_chained_comparison_is_satisfied_when_every_link_is(low, mid, high):
    [constraint] = parse_constraints(["low <= mid <= high"])
    margin = constraint.margin({"low": low, "mid": mid, "high": high})
    assert margin == pytest.approx(max(low - mid, mid - high))
    assert (margin <= 0) == (low <= mid <= high)


def _expressions(depth: int = 2):
    """Arithmetic over the names a, b, c and small constants, as text."""
    leaf = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(-9, 9).map(lambda n: f"({n})"))
    if depth == 0:
        return leaf
    inner = _expressions(depth - 1)
    return st.one_of(leaf, st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: " ".join(t)))


@settings(max_examples=100, deadline=None)
@given(
    left=_expressions(),
    right=_expressions(),
    op=st.sampled_from(sorted(_OPS)),
    values=st.tuples(finite, finite, finite).filter(lambda v: all(abs(x) < 1e3 for x in v)),
)
def test_generated_comparisons_have_the_margin_of_their_two_sides(left, right, op, values):
    ns = dict(zip("abc", values, strict=True))
    [constraint] = parse_constraints([f"{left} {op} {right}"])
    lhs, rhs = eval(left, {}, ns), eval(right, {}, ns)  # noqa: S307 - generated arithmetic
    expected = lhs - rhs if op in ("<", "<=") else rhs - lhs
    assert constraint.margin(dict(ns)) == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert (max(0.0, constraint.margin(dict(ns))) == 0.0) == (expected <= 0)


not_comparisons = st.sampled_from(
    ["x", "x + 1", "x == 1", "x != 1", "x in y", "x is None", "a <= b and c", "not a < b", "f(x)", "[x < 1]", "x = 1"]
)
not_python = st.sampled_from(["x <", "<= 10", "x <== 1", "(x < 1", "x < 1)", "lambda: x < 1 <"])


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(not_comparisons, not_python))
def test_anything_but_a_comparison_is_a_one_line_option_error(text):
    with pytest.raises(OptionError) as info:
        parse_constraints([text])
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert repr(text) in message
    assert "<=" in message  # says what to write instead


def test_an_operand_that_is_not_a_number_or_not_finite_fails_with_a_named_reason():
    [constraint] = parse_constraints(["latency <= 10"])
    with pytest.raises(ConstraintError, match="latency is str 'fast', not a number"):
        constraint.margin({"latency": "fast"})
    with pytest.raises(ConstraintError, match="latency is nan, not a finite number"):
        constraint.margin({"latency": float("nan")})
    with pytest.raises(ConstraintError, match="could not be evaluated: ZeroDivisionError"):
        parse_constraints(["1 / latency <= 10"])[0].margin({"latency": 0})
    assert constraint.margin({"latency": 12.5}) == 2.5


def test_the_best_trial_is_the_best_feasible_one_and_violations_are_kept():
    study = hpmagic.optimize(bowl, SPACE, strategy="random", n_trials=40, seed=0, constraints=["x + y >= 3"])
    assert study.constraints == ["x + y >= 3"]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    for t in complete:
        assert t.violations == [pytest.approx(max(0.0, 3 - t.params["x"] - t.params["y"]))]
        assert t.feasible == (t.params["x"] + t.params["y"] >= 3)
    feasible = [t for t in complete if t.feasible]
    assert feasible and len(feasible) < len(complete)  # some trials are infeasible, and better than the best
    assert study.best_trial is min(feasible, key=lambda t: t.value)
    assert min(t.value for t in complete) < study.best_value  # the unconstrained minimum (2, 0) is infeasible
    assert study.best_trial.params["x"] + study.best_trial.params["y"] >= 3


def test_a_callable_constraint_returns_a_margin_and_sees_params_value_and_a_dict_result():
    seen = []

    def small_value(ns):
        seen.append(sorted(k for k in ns if not k.startswith("__")))
        return ns["value"] - 4  # feasible when the objective is at most 4

    study = hpmagic.optimize(
        bowl, SPACE, strategy="random", n_trials=10, seed=1, constraints=[small_value, "y <= value"]
    )
    assert study.constraints == ["small_value()", "y <= value"]
    assert seen[0] == ["value", "x", "y"]
    for t in study.trials:
        assert t.violations[0] == pytest.approx(max(0.0, t.value - 4))
    both = hpmagic.optimize(
        lambda p: {"loss": p["x"] ** 2, "latency": abs(p["y"])},
        SPACE,
        strategy="random",
        n_trials=5,
        seed=0,
        directions={"loss": "minimize", "latency": "minimize"},
        constraints=["latency <= 1"],
    )
    for t in both.trials:  # a dict result's keys are names the constraint can use
        assert t.violations == [pytest.approx(max(0.0, abs(t.params["y"]) - 1))]


def test_an_undefined_name_stops_the_study_after_one_trial_with_a_one_line_reason():
    study = hpmagic.optimize(bowl, SPACE, strategy="random", n_trials=10, seed=0, constraints=["latency <= 10"])
    [trial] = study.trials
    assert trial.state is TrialState.FAILED
    assert trial.error == "constraint 'latency <= 10' names 'latency', which the trial does not define"
    assert "stopped after trial 0" in study.last_finish.message


def test_an_evaluation_error_fails_that_trial_only():
    def flaky(ns):
        if ns["x"] < 0:
            raise RuntimeError("no latency measured")
        return ns["x"] - 10

    study = hpmagic.optimize(bowl, SPACE, strategy="random", n_trials=12, seed=3, constraints=[flaky])
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert failed and len(study.trials) == 12
    assert all(t.error == "constraint flaky(): RuntimeError: no latency measured" for t in failed)
    assert all(t.params["x"] < 0 for t in failed)
    assert "no latency measured" in failed[0].traceback  # the user's traceback is kept
    assert all(t.params["x"] >= 0 for t in study.trials if t.state is TrialState.COMPLETE)


def test_bad_constraints_are_option_errors_before_any_study_is_written(tmp_path):
    path = tmp_path / "s.db"
    for bad in (["x == 1"], ["x <"], [3], ["x < 1", "x < 1"]):
        with pytest.raises(OptionError):
            hpmagic.optimize(bowl, SPACE, n_trials=3, storage=path, constraints=bad)
    assert not path.exists() or not hpmagic.Storage(path).list_studies()


def test_no_feasible_trial_leaves_no_best_and_says_which_violates_least():
    study = hpmagic.optimize(bowl, SPACE, strategy="random", n_trials=6, seed=0, constraints=["x >= 10"])
    assert study.best_trial is None
    assert any(n.startswith("no trial met the constraints") for n in study.notes)
    least = min(study.trials, key=lambda t: t.violations[0])
    with pytest.raises(ValueError, match=f"no trial that satisfies its constraints yet .*trial {least.number}"):
        _ = study.best_value


def test_resume_keeps_violations_and_the_best_feasible_trial(tmp_path):
    path = tmp_path / "c.db"
    kwargs = dict(strategy="random", seed=0, storage=path, name="c", constraints=["x + y >= 3"])
    first = hpmagic.optimize(bowl, SPACE, n_trials=15, **kwargs)
    loaded = hpmagic.load_study("c", path)
    assert loaded.constraints == ["x + y >= 3"]
    assert [t.violations for t in loaded.trials] == [t.violations for t in first.trials]
    assert loaded.best_trial.number == first.best_trial.number
    resumed = hpmagic.optimize(bowl, SPACE, n_trials=25, resume=True, **kwargs)
    assert len(resumed.trials) == 25 and all(t.violations is not None for t in resumed.trials)
    feasible = [t for t in resumed.trials if t.feasible]
    assert resumed.best_trial is min(feasible, key=lambda t: t.value)
    with pytest.raises(OptionError, match="constraints"):
        hpmagic.optimize(bowl, SPACE, n_trials=30, resume=True, **{**kwargs, "constraints": ["x >= 0"]})


def test_repeats_keep_the_mean_margin():
    study = hpmagic.optimize(
        lambda p: p["x"] ** 2,
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=3,
        seed=0,
        repeats=2,
        constraints=[lambda ns: ns["x"] - 0.5 + (1.0 if tune.seed == 1 else 0.0)],
    )
    for t in study.trials:
        assert t.user_attrs["constraint_margins"] == [pytest.approx(t.params["x"])]


def test_refine_narrows_around_the_best_feasible_trials(tmp_path):
    path = tmp_path / "r.db"
    kwargs = dict(strategy="random", seed=0, storage=path, name="r", constraints=["x <= -1"])
    hpmagic.optimize(bowl, SPACE, n_trials=20, **kwargs)
    refined = hpmagic.optimize(bowl, SPACE, n_trials=30, refine=True, **kwargs)
    new = refined.trials[20:]
    assert len(new) == 10
    # The unconstrained optimum is at x = 2: refined around feasible trials, the new x stay near the bound -1.
    assert max(t.params["x"] for t in new) < 0.5


def test_a_loaded_study_with_a_function_constraint_needs_it_again(tmp_path):
    path = tmp_path / "f.db"

    def small(ns):
        return ns["x"]

    hpmagic.optimize(bowl, SPACE, strategy="random", n_trials=3, seed=0, storage=path, name="f", constraints=[small])
    loaded = hpmagic.load_study("f", path)
    assert loaded.constraints == ["small()"]
    with pytest.raises(OptionError, match="pass them again"):
        loaded.optimize(lambda ctx: 0.0, hpmagic.strategies.RandomSampler(), n_trials=5)
    assert len(hpmagic.load_study("f", path).trials) == 3
    again = hpmagic.optimize(
        bowl, SPACE, strategy="random", n_trials=5, seed=0, storage=path, name="f", resume=True, constraints=[small]
    )
    assert len(again.trials) == 5 and all(t.violations == [max(0.0, t.params["x"])] for t in again.trials)


def _written(space: str, parens: bool, operand: str) -> str:
    return f"({space}{operand}{space})" if parens else operand


@settings(max_examples=25, deadline=None)
@given(
    op=st.sampled_from(sorted(_OPS)),
    bound=st.floats(-4, 4, allow_nan=False).map(lambda v: round(v, 3)),
    spaces=st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=4, max_size=4),
    parens=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_resume_takes_the_same_constraint_written_with_other_spacing(tmp_path_factory, op, bound, spaces, parens):
    """``x<=0.5`` stored, ``x <= 0.5`` (or ``(x) <= (0.5)``) given on resume is the same constraint: the study goes
    on, rather than an OptionError saying the two would mix."""
    path = str(tmp_path_factory.mktemp("c") / "s.db")

    def text(i: int) -> str:
        left, right = _written(spaces[i], parens[i], "x"), _written(spaces[i + 1], parens[i + 1], repr(bound))
        return f"{left}{spaces[i]}{op}{spaces[i + 1]}{right}"

    kwargs = {"strategy": "random", "seed": 0, "storage": path, "name": "c"}
    hpmagic.optimize(bowl, SPACE, n_trials=2, constraints=[text(0)], **kwargs)
    resumed = hpmagic.optimize(bowl, SPACE, n_trials=4, resume=True, constraints=[text(2)], **kwargs)
    assert resumed.name == "c" and len(resumed.trials) == 4
    with pytest.raises(OptionError, match="would mix them"):
        hpmagic.optimize(bowl, SPACE, n_trials=6, resume=True, constraints=[f"y {op} {bound!r}"], **kwargs)

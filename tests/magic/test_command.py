"""The %%tune line parser: a frozen TuneCommand, or a UsageError that names the problem; fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from hpmagic.errors import OptionError
from hpmagic.magic import TuneCommand, parse_duration, parse_tune_line


def test_defaults_and_every_option():
    cmd = parse_tune_line("")
    assert cmd == TuneCommand()
    cmd = parse_tune_line(
        "--strategy random -n 30 --timeout 10m --seed 3 --maximize --objective 'acc * 2' --max-failures 2 "
        "--grid-points 7 --grid-sample --storage 'my store.db' --name \"exp 1\" --resume --out st --threads all"
    )
    assert cmd == TuneCommand(
        strategy="random",
        n_trials=30,
        timeout=600.0,
        seed=3,
        direction="maximize",
        objective="acc * 2",
        max_failures=2,
        grid_points=7,
        grid_sample=True,
        storage="my store.db",
        name="exp 1",
        resume=True,
        out="st",
        threads=None,
    )
    with pytest.raises(AttributeError):
        cmd.n_trials = 3  # frozen


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90), ("10min", 600), ("2h", 7200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5s", "0", "5 days", "1e3"])
def test_bad_durations(text):
    with pytest.raises(OptionError, match="--timeout"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--strategy nope", "unknown strategy"),
        ("--trials -3", "--trials takes an integer >= 1"),
        ("--seed x", "--seed takes an integer"),
        ("--out 3x", "--out takes a variable name"),
        ("--frobnicate", "unknown option"),
        ("--name 'unterminated", "cannot read"),
    ],
)
def test_bad_lines(line, message):
    with pytest.raises(UsageError, match=message):
        parse_tune_line(line)


_OPTIONS = [
    "--strategy",
    "-s",
    "--trials",
    "-n",
    "--timeout",
    "--seed",
    "--maximize",
    "--minimize",
    "--objective",
    "--max-failures",
    "--grid-points",
    "--grid-sample",
    "--storage",
    "--name",
    "--resume",
    "--out",
    "--threads",
    "--bogus",
    "-x",
]
_VALUES = st.one_of(
    st.sampled_from(["random", "grid", "bayes", "10", "-1", "0", "1.5", "10m", "x", "'a b'", '"q"', "'", ":memory:"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_OPTIONS), _VALUES), max_size=8))
def test_fuzzed_lines_parse_or_raise_usage_error(tokens):
    line = " ".join(tokens)
    try:
        cmd = parse_tune_line(line)
    except UsageError as exc:
        assert str(exc).strip()
        assert "Traceback" not in str(exc)
        return
    assert isinstance(cmd, TuneCommand)
    assert cmd.n_trials is None or cmd.n_trials >= 1
    assert cmd.direction in ("minimize", "maximize")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_parser(line):
    try:
        parse_tune_line(line)
    except UsageError:
        pass


def test_strategy_options_are_parsed_as_python_literals():
    cmd = parse_tune_line("--strategy hyperband --options 'eta=2, name_hint=abc, ratio=0.5'")
    assert cmd.strategy_options == (("eta", 2), ("name_hint", "abc"), ("ratio", 0.5))
    with pytest.raises(UsageError, match="--options takes NAME=VALUE pairs"):
        parse_tune_line("--options eta")
    with pytest.raises(UsageError, match="--population applies to --strategy pbt and evolution only"):
        parse_tune_line("--strategy random --population 4")


#: One value per option that takes one, each valid on its own line: a quoted value must mean what the bare one does.
_QUOTABLE = [
    ("--strategy", "random"),
    ("--trials", "7"),
    ("--timeout", "10m"),
    ("--trial-timeout", "5s"),
    ("--seed", "3"),
    ("--max-failures", "2"),
    ("--grid-points", "4"),
    ("--threads", "2"),
    ("--repeats", "2"),
    ("--budget", "1..9"),
    ("--scheduler", "median"),
    ("--storage", "s.db"),
    ("--name", "exp"),
    ("--out", "st"),
    ("--objective", "loss"),
]


@settings(max_examples=200, deadline=None)
@given(
    chosen=st.lists(st.sampled_from(_QUOTABLE), min_size=1, max_size=8, unique=True),
    quotes=st.lists(st.sampled_from(["'", '"']), min_size=8, max_size=8),
)
def test_a_quoted_value_means_what_the_bare_value_means(chosen, quotes):
    """IPython keeps the quotes of ``--trials '5'``: every option drops them, not only the ones that take text."""
    bare = " ".join(f"{option} {value}" for option, value in chosen)
    quoted = " ".join(f"{option} {q}{value}{q}" for (option, value), q in zip(chosen, quotes, strict=False))
    assert parse_tune_line(quoted) == parse_tune_line(bare)


@pytest.mark.parametrize("line", ["--storage ''", '--storage ""'])
def test_an_empty_quoted_storage_is_refused_not_replaced_by_the_default(line):
    with pytest.raises(UsageError, match="--storage needs a file path"):
        parse_tune_line(line)

"""``%%tune --enqueue``, ``tune.enqueue``, ``--start-from-defaults``, ``--warm-from`` and importance in a real
IPython shell."""

from __future__ import annotations

import sqlite3

import pytest
from IPython.core.error import UsageError

import hpmagic
from tests.magic.conftest import run

CELL = "x = tune.uniform(-3, 3, default=0.5)\nk = tune.choice(['a', 'b'])\n(x - 1) ** 2 + (k == 'b')\n"


def test_enqueue_option_and_tune_enqueue_run_first(ip):
    ip.run_cell("tune.enqueue({'x': -2.5, 'k': 'b'})")
    result = run(ip, "--strategy bayes --trials 4 --seed 0 --name q --enqueue \"{'x': 1.0, 'k': 'a'}\"", CELL)
    assert result.success
    study = ip.user_ns["tune"].study
    assert [t.params for t in study.trials[:2]] == [{"x": 1.0, "k": "a"}, {"x": -2.5, "k": "b"}]
    assert ip.user_ns["x"] == 1.0  # the best trial's variables are the enqueued optimum's
    assert ip.user_ns["tune"].pending() == []


def test_enqueue_takes_a_list_and_start_from_defaults(ip):
    line = "--strategy random --trials 3 --seed 0 --name d --start-from-defaults --enqueue \"[{'x': 2}, {'k': 'b'}]\""
    assert run(ip, line, CELL).success
    params = [t.params for t in ip.user_ns["tune"].study.trials]
    assert params[0]["x"] == 0.5 and params[1]["x"] == 2 and params[2] == {"x": 0.5, "k": "b"}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--enqueue \"{'x': 7}\"", r"x=7, outside x = tune.uniform\(-3, 3\)"),
        ("--enqueue \"{'y': 1}\"", "'y', which the search space does not have"),
        ("--enqueue 'x=1'", "--enqueue takes a dict"),
        ("--warm-from nowhere", "no study named 'nowhere'"),
    ],
)
def test_bad_known_configurations_are_one_line_and_keep_the_study(ip, tmp_path, option, message):
    assert run(ip, "--strategy random --trials 2 --seed 0 --name keep", CELL).success
    with pytest.raises(UsageError, match=message) as info:
        ip.run_cell_magic("tune", f"--strategy random --trials 4 --name keep --resume {option}", CELL)
    assert "\n" not in str(info.value)
    conn = sqlite3.connect(tmp_path / "hpmagic.db")
    assert conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'complete'").fetchone() == (2,)
    conn.close()


def test_warm_from_learns_without_counting(ip, tmp_path):
    assert run(ip, "--strategy random --trials 20 --seed 3 --name src", CELL).success
    assert run(ip, "--strategy bayes --trials 3 --seed 0 --name dst --warm-from src", CELL).success
    study = ip.user_ns["tune"].study
    assert study.name == "dst" and len(study.trials) == 3
    assert len(hpmagic.load_study("dst", tmp_path / "hpmagic.db").trials) == 3
    assert min(abs(t.params["x"] - 1) for t in study.trials) < 0.5
    other = "y = tune.uniform(0, 1)\ny\n"
    with pytest.raises(UsageError, match="does not overlap"):
        ip.run_cell_magic("tune", "--trials 2 --name other --warm-from src", other)


def test_summary_names_the_parameters_that_mattered(ip, capsys):
    cell = "a = tune.uniform(0, 1)\nb = tune.uniform(0, 1)\nc = tune.uniform(0, 1)\n5 * a + b\n"
    assert run(ip, "--strategy random --trials 25 --seed 1 --name imp", cell).success
    ip.run_line_magic("config", "TuneMagics.display = 'text'")
    ip.run_line_magic("tune_show", "imp")
    out = capsys.readouterr().out
    assert "parameters that mattered most (fANOVA share): a" in out
    shares = hpmagic.importance(ip.user_ns["tune"].study)
    assert list(shares)[0] == "a"

"""The bench-mf and bench-mo scripts run end to end on a tiny configuration: a printed line per run, the raw runs
dumped, and a report made again from the dump alone (``--from-json``), without touching RESULTS.md."""

from __future__ import annotations

import json

from benchmarks import mf_regret, mo_hypervolume


def _lines(out: str, problem: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip().startswith(f"{problem} seed ")]


def _report(out: str) -> str:
    """The printed section below its header (the header names the command line, which differs)."""
    start = out.index("- How it is measured")
    return out[out.index("\n", start) :]


def test_mf_regret_prints_each_run_and_reports_again_from_its_dump(tmp_path, capsys) -> None:
    dump = tmp_path / "mf.json"
    combos = "random (full budget),random + hyperband"
    args = ["--problems", "branin-mf", "--combos", combos, "--seeds", "1", "--jobs", "1", "--no-write"]
    mf_regret.main([*args, "--dump", str(dump)])
    out = capsys.readouterr().out
    runs = json.loads(dump.read_text())
    assert sorted(r["combo"] for r in runs) == sorted(combos.split(","))
    assert len(_lines(out, "branin-mf")) == 2
    assert all(r["error"] is None for r in runs)
    mf_regret.main(["--from-json", str(dump), "--no-write"])
    again = capsys.readouterr().out
    assert _lines(again, "branin-mf") == []  # nothing ran
    assert _report(again) == _report(out)


def test_mo_hypervolume_prints_each_run_and_reports_again_from_its_dump(tmp_path, capsys) -> None:
    dump = tmp_path / "mo.json"
    args = ["--problems", "zdt1", "--optimizers", "hpmagic random", "--seeds", "2", "--budgets", "6"]
    mo_hypervolume.main([*args, "--jobs", "1", "--no-write", "--dump", str(dump)])
    out = capsys.readouterr().out
    runs = json.loads(dump.read_text())
    assert sorted(r["seed"] for r in runs) == [0, 1]
    assert len(_lines(out, "zdt1")) == 2
    mo_hypervolume.main(["--from-json", str(dump), "--budgets", "6", "--no-write"])
    again = capsys.readouterr().out
    assert _lines(again, "zdt1") == []
    assert _report(again) == _report(out)

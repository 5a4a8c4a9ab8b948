"""A %%tune study records the notebook it ran in (what Jupyter gives the kernel), for the Studies panel's rows."""

from __future__ import annotations

from hpmagic import Storage

CELL = "x = tune.uniform(0, 1)\nx\n"


def _notebook_of(path: str, name: str) -> object:
    store = Storage(path)
    try:
        return store.get_study(name).options.get("notebook")
    finally:
        store.close()


def test_the_notebook_path_is_recorded_when_the_kernel_knows_it(ip, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ip.user_ns["__session__"] = str(tmp_path / "work" / "analysis.ipynb")
    ip.run_cell_magic("tune", "--trials 2 --name from-lab", CELL)
    assert _notebook_of(str(tmp_path / "hpmagic.db"), "from-lab") == str(tmp_path / "work" / "analysis.ipynb")


def test_no_notebook_is_recorded_outside_jupyter(ip, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ip.user_ns.pop("__session__", None)
    ip.run_cell_magic("tune", "--trials 2 --name plain", CELL)
    assert _notebook_of(str(tmp_path / "hpmagic.db"), "plain") is None

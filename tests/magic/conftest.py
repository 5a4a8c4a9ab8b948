"""A real IPython shell with hpmagic loaded, fresh for each test."""

from __future__ import annotations

import os

import pytest
from IPython.testing.globalipapp import start_ipython


@pytest.fixture(scope="session")
def _shell():
    return start_ipython()


@pytest.fixture
def ip(_shell, tmp_path, monkeypatch):
    """The shell, in a temporary working folder, with ``%load_ext hpmagic`` done and undone."""
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _shell.run_line_magic("load_ext", "hpmagic")
    yield _shell
    _shell.run_line_magic("unload_ext", "hpmagic")
    _shell.run_line_magic("reset", "-f")
    _shell.config.pop("TuneMagics", None)


def run(ip, line: str, cell: str):
    """Run a ``%%tune`` cell like a user; returns IPython's ExecutionResult."""
    return ip.run_cell(f"%%tune {line}\n{cell}")

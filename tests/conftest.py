"""Shared test set-up: one BLAS/OpenMP thread everywhere (kernels started by tests inherit it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from IPython.testing.globalipapp import start_ipython

# On 2 cores, multithreaded BLAS next to another busy process runs hundreds of times slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Tests assert what code does, not how fast: no property test fails because one example was slow on a busy machine
# (Hypothesis' default is a 200 ms deadline per example). Speed is measured in benchmarks/.
settings.register_profile("hpmagic", deadline=None)
settings.load_profile("hpmagic")


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in a fresh empty working folder (where hpmagic.db is created by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def _shell():
    return start_ipython()


@pytest.fixture
def ip(_shell, tmp_path, monkeypatch):
    """The shell, in a temporary working folder, with ``%load_ext hpmagic`` done and undone."""
    monkeypatch.chdir(tmp_path)
    _shell.run_line_magic("load_ext", "hpmagic")
    yield _shell
    _shell.run_line_magic("unload_ext", "hpmagic")
    _shell.run_line_magic("reset", "-f")
    _shell.config.pop("TuneMagics", None)

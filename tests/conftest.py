"""Shared test set-up: one BLAS/OpenMP thread everywhere (kernels started by tests inherit it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# On 2 cores, multithreaded BLAS next to another busy process runs hundreds of times slower (see DESIGN.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in a fresh empty working folder (where hpmagic.db is created by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path

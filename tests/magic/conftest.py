"""Helpers for the magic tests (the ``ip`` shell fixture lives in tests/conftest.py)."""

from __future__ import annotations


def run(ip, line: str, cell: str):
    """Run a ``%%tune`` cell like a user; returns IPython's ExecutionResult."""
    return ip.run_cell(f"%%tune {line}\n{cell}")

"""Capture what a trial prints, per thread, so a study running in the background never swallows the notebook's output.

``contextlib.redirect_stdout`` swaps ``sys.stdout`` for the whole process: fine when the study blocks the kernel,
wrong when it runs in a background thread while the user keeps working. Here ``sys.stdout`` and ``sys.stderr`` are
wrapped (while at least one trial captures) by a router that sends each write to the capturing thread's buffer, and
every other thread's writes to the original stream.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["capture_output"]

_lock = threading.Lock()


class _Router(io.TextIOBase):
    """A stream that writes to the current thread's capture buffer, or to the stream it replaced."""

    def __init__(self, fallback: TextIO) -> None:
        super().__init__()
        self.fallback = fallback
        self.targets: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        target = self.targets.get(threading.get_ident())
        return (target if target is not None else self.fallback).write(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.targets:
            self.fallback.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return threading.get_ident() not in self.targets and bool(getattr(self.fallback, "isatty", lambda: False)())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fallback, name)


def _attach(name: str, buffer: io.StringIO) -> _Router:
    current = getattr(sys, name)
    router = current if isinstance(current, _Router) else _Router(current)
    router.targets[threading.get_ident()] = buffer
    setattr(sys, name, router)
    return router


def _detach(name: str, router: _Router) -> None:
    router.targets.pop(threading.get_ident(), None)
    if not router.targets and getattr(sys, name) is router:
        setattr(sys, name, router.fallback)


@contextlib.contextmanager
def capture_output() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Collect this thread's stdout and stderr in two buffers for the duration of the block."""
    out, err = io.StringIO(), io.StringIO()
    with _lock:
        routers = (_attach("stdout", out), _attach("stderr", err))
    try:
        yield out, err
    finally:
        with _lock:
            _detach("stdout", routers[0])
            _detach("stderr", routers[1])

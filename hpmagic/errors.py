"""Errors hpmagic raises on purpose.

Every problem a user can fix (a bad option, a bad search space, a broken store) is an ``HpmagicError`` with a short
message that says what to fix. The magic turns these into IPython ``UsageError``s, so the notebook shows one line
instead of a traceback from hpmagic's internals. They also subclass ``ValueError`` where that is what they are, so
plain-Python users can catch the familiar type.
"""

from __future__ import annotations


class HpmagicError(Exception):
    """Base class of every error that hpmagic raises for the user to fix."""


class SpaceError(HpmagicError, ValueError):
    """A hyperparameter marker or search space is invalid (bounds, choices, names)."""


class CellError(HpmagicError, ValueError):
    """The cell cannot be turned into an objective (syntax error, no markers, no objective)."""


class OptionError(HpmagicError, ValueError):
    """An option of the magic or of ``optimize`` is invalid (unknown strategy, bad timeout, ...)."""


class StorageError(HpmagicError):
    """The study store cannot be used (not a database, locked, from a newer hpmagic, ...)."""


class MarkerValueError(HpmagicError, LookupError):
    """A marker was evaluated outside a study and has no default and no stored best value."""

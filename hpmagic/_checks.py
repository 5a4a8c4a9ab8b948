"""Checks of the numbers users pass in: integers and real numbers, never booleans.

``bool`` is a subclass of ``int``, but ``True`` is never a meaningful population or learning rate, so neither check
accepts it. NumPy scalars pass, as they register with :mod:`numbers`. The checks are type guards, so after one the
type checker knows the value is an ``int`` or a ``float`` (it does not treat ``int`` as a ``numbers.Integral``).
"""

from __future__ import annotations

import numbers
from typing import TypeGuard

from hpmagic.errors import OptionError

#: The most trials a study may ask for: far above any real study, low enough to refuse an absurd number at once.
MAX_TRIALS = 10_000_000
#: The largest seed: the store keeps it as a 64-bit integer.
MAX_SEED = 2**63 - 1
#: The longest time limit accepted (ten years): longer ones overflow the clocks and timers they are set on.
MAX_SECONDS = 10 * 365 * 86400

__all__ = ["MAX_SECONDS", "MAX_SEED", "MAX_SIZE", "MAX_TRIALS", "check_int", "is_int", "is_real"]


def is_int(x: object) -> TypeGuard[int]:
    """True for an integer (Python's or NumPy's), False for a bool or anything else."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x: object) -> TypeGuard[float]:
    """True for a real number (int, float, NumPy scalar, Fraction), False for a bool or anything else."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


#: Upper bound of every size-like option (design points, population, candidates): far above any real use, and
#: low enough that nothing is allocated or looped over before the user hears the value is absurd.
MAX_SIZE = 1_000_000


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``, else an OptionError naming it."""
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise OptionError(f"{name} must be an integer {bound}, got {shown}")
    return int(value)

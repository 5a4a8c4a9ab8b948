"""Checks of the numbers users pass in: integers and real numbers, never booleans.

``bool`` is a subclass of ``int``, but ``True`` is never a meaningful population or learning rate, so neither check
accepts it. NumPy scalars pass, as they register with :mod:`numbers`. The checks are type guards, so after one the
type checker knows the value is an ``int`` or a ``float`` (it does not treat ``int`` as a ``numbers.Integral``).
"""

from __future__ import annotations

import numbers
from typing import TypeGuard

from hpmagic.errors import OptionError

__all__ = ["check_int", "is_int", "is_real"]


def is_int(x: object) -> TypeGuard[int]:
    """True for an integer (Python's or NumPy's), False for a bool or anything else."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x: object) -> TypeGuard[float]:
    """True for a real number (int, float, NumPy scalar, Fraction), False for a bool or anything else."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``, else an OptionError naming the option."""
    if not is_int(value) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)

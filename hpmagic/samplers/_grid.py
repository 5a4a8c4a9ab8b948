"""Grid search: every combination of each dimension's grid values, or a seeded random subset of them.

The grid is never built in memory. A combination is a flat index in ``[0, size)`` read as a mixed-radix number
whose digits are positions in each dimension's grid (the last dimension varies fastest, as in
``itertools.product``), so a grid of 10**12 combinations costs nothing until a point is asked for.

Conditional parameters (markers in a branch of the cell, ``gamma = tune.choice(...) if kernel == "rbf" else
"scale"``) are the slowest digits: a trial that ran without one stands for every value of it (``tell``), and by the
time the grid gets to their second value, the trials that skipped them have long finished. With trials in flight,
a combination that agrees with a running one on every other parameter waits while another is free (it may be the
same configuration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hpmagic._checks import is_int, is_real
from hpmagic.errors import OptionError
from hpmagic.samplers._base import Sampler
from hpmagic.space import Categorical, Dimension, Float, Int
from hpmagic.trial import Trial, TrialState

__all__ = ["GridSampler"]

# Below this many combinations, sampling draws one seeded permutation (8 bytes a combination); above it, it draws
# random indices and rejects repeats, which is cheap because a budget is then tiny next to the grid.
_PERMUTE_MAX = 1 << 20
#: Grid values per real-valued dimension at most (``--grid-points``): more is never a useful grid, and this many
#: floats are allocated per dimension.
MAX_GRID_POINTS = 10_000
#: Combinations a grid may have when no ``--trials`` bounds it (it then runs them all).
MAX_UNBOUNDED_GRID = 1_000_000
#: Trials that ran their cell to the end: their parameters are all those their configuration uses.
_RAN = (TrialState.COMPLETE, TrialState.PRUNED)
# Rejection draws before falling back to a scan for a free index (only reached when nearly everything is taken).
_MAX_REJECTIONS = 64
# Free combinations looked at for one that cannot be a running trial's configuration, before taking the first.
_MAX_DEFERRED = 4096


class GridSampler(Sampler):
    """Tries the grid of the static space, in order or (``sample=True``) in a seeded random order.

    Args:
        points: grid values per real-valued dimension (log-spaced for log dimensions). Integer dimensions contribute
            every integer and categorical ones every choice, whatever ``points`` says.
        sample: visit a random subset of the grid instead of refusing a grid larger than the budget.

    Raises:
        OptionError: for a bad option, or in ``setup`` when the grid is larger than ``n_trials`` and ``sample`` is
            off: silently trying the first corner of a grid would mislead the user.
    """

    name = "grid"
    # Markers created at run time are not in the grid, so a grid cannot cover them.
    supports_dynamic = False
    ends_by_itself = True
    # Hyperband and ASHA draw as many configurations as their rungs need; a grid has a fixed set.
    schedulable = False

    def __init__(self, points: int = 5, sample: bool = False) -> None:
        if not is_int(points) or not 1 <= points <= MAX_GRID_POINTS:
            shown = repr(points) if len(repr(points)) <= 40 else repr(points)[:37] + "..."
            raise OptionError(f"grid points must be an integer from 1 to {MAX_GRID_POINTS}, got {shown}")
        if not isinstance(sample, bool):
            raise OptionError(f"grid sample must be True or False, got {sample!r}")
        self.points = int(points)
        self.sample = sample

    def _prepare(self, history: Sequence[Trial]) -> None:
        """Size the grid, note which combinations the history already tried, and check the budget.

        ``self.n_trials`` is the study's total budget, finished history included (as ``Study.optimize`` counts it), so
        on resume the trials it leaves are compared with the combinations not tried yet.
        """
        # Size first, from Space.grid_size, so a hopeless grid is refused before anything else is built.
        self.size = self.space.grid_size(self.points)
        conditional: frozenset[str] = getattr(self.space, "conditional", frozenset())
        self._names = sorted(self.space, key=lambda name: name not in conditional)  # conditional ones vary slowest
        self._fixed = [i for i, name in enumerate(self._names) if name not in conditional] if conditional else None
        self._flight: dict[int, tuple[int, ...]] = {}  # trials asked and not told: their unconditional digits
        self._waited: tuple[object, bool] = (None, False)
        # Integer dimensions as ranges: a tune.int with 10**8 values costs nothing until a point is asked for.
        self._values = [_grid_values(self.space[name], self.points) for name in self._names]
        self._radices = [len(v) for v in self._values]
        self._done: set[int] = set()
        for trial in history:
            if trial.state.finished:
                flat = self._flat_of(trial.params)
                if flat is not None:
                    self._done.add(flat)
                elif trial.state in _RAN and _partial(trial.params, self._names):
                    self._done.update(self._equivalents(trial.params))
        self._given: set[int] = set()
        self._claims_key: object = None
        self._claims: Callable[[], Iterable[Mapping[str, Any]]] | None = None
        self._cursor = 0
        self._order: Any = None
        remaining = self.size - len(self._done)
        already = self.n_asked  # finished trials in the history, on the grid or not: they used up budget
        if self.n_trials is not None and remaining > self.n_trials - already and not self.sample:
            raise OptionError(self._too_big_message(remaining, self.n_trials, already))
        if self.n_trials is None and remaining > MAX_UNBOUNDED_GRID:
            # Without a budget the grid is the budget: a grid this large would run for ever, so say so now.
            raise OptionError(self._too_big_message(remaining, MAX_UNBOUNDED_GRID, already))

    def ask(self, number: int) -> dict[str, Any]:
        """The next untried combination.

        Raises:
            RuntimeError: when the grid is exhausted; the study loop checks ``is_exhausted()`` first.
        """
        self._refresh_claims()
        if self._all_taken():
            raise RuntimeError("the grid is exhausted: every combination was tried (check is_exhausted() first)")
        flat = self._next_random() if self.sample else self._next_in_order()
        self._given.add(flat)
        self.n_asked += 1
        if self._fixed is not None:
            self._flight[number] = self._key(flat)
        return self._decode(flat)

    def tell(self, trial: Trial) -> None:
        """A trial that did not use some parameters (a branch of the cell skipped their markers) stands for every
        combination that differs only in those: they are not run again. Only a trial that ran to its end says which
        parameters its configuration uses (a failed one may have stopped before a marker)."""
        self._flight.pop(trial.number, None)
        if trial.state in _RAN and any(name not in trial.params for name in self._names):
            self._given.update(f for f in self._equivalents(trial.params) if not self._taken(f))

    def is_exhausted(self) -> bool:
        """Every combination was tried, or (with conditional parameters) every one left may be the configuration
        of a trial in flight: then nothing more is asked until those trials are told, which says what they used."""
        self._refresh_claims()
        return self._all_taken() or self._waiting()

    def _all_taken(self) -> bool:
        return len(self._done) + len(self._given) >= self.size

    def _waiting(self) -> bool:
        if not self._flight or (self.sample and self.size > _PERMUTE_MAX):
            return False
        state = (len(self._given), tuple(self._flight))
        if self._waited[0] != state:  # the loop asks often; the answer changes only with ask, tell and claims
            running = set(self._flight.values())
            order = self._visit_order()
            waiting = True
            for seen, flat in enumerate(order):
                if seen >= _MAX_DEFERRED or (not self._taken(flat) and self._key(flat) not in running):
                    waiting = False
                    break
            self._waited = (state, waiting)
        return self._waited[1]

    def share_claims(self, key: object, claimed: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        """Skip configurations that other processes running the same study take (the study's store tells).

        ``claimed()`` returns the configurations taken elsewhere since its last call; it is consulted before each
        proposal. ``key`` names the source: sharing the same one again keeps the first.
        """
        if self._claims_key != key:
            self._claims_key, self._claims = key, claimed

    def _refresh_claims(self) -> None:
        if self._claims is None:
            return
        for params in self._claims():
            flat = self._flat_of(params)
            if flat is not None and not self._taken(flat):
                self._given.add(flat)
            elif flat is None and _partial(params, self._names):
                self._given.update(f for f in self._equivalents(params) if not self._taken(f))

    # -- order of visits ----------------------------------------------------------------------------------------

    def _taken(self, flat: int) -> bool:
        return flat in self._done or flat in self._given

    def _visit_order(self) -> Iterable[int]:
        """The combinations from the cursor on, in the order they are visited (not for rejection sampling)."""
        if not self.sample:
            return range(self._cursor, self.size)
        if self._order is None:
            # One seeded permutation: the order is the same on resume, and the history's points are skipped.
            self._order = self.rng.permutation(self.size)
        return (int(self._order[i]) for i in range(self._cursor, self.size))

    def _next_in_order(self) -> int:
        while self._taken(self._cursor):
            self._cursor += 1
        return self._free(self._visit_order())

    def _next_random(self) -> int:
        if self.size <= _PERMUTE_MAX:
            if self._order is None:
                self._order = self.rng.permutation(self.size)
            while self._taken(int(self._order[self._cursor])):
                self._cursor += 1
            return self._free(self._visit_order())
        for _ in range(_MAX_REJECTIONS):
            # One uniform digit per dimension is one uniform combination, and works for sizes beyond int64.
            flat = 0
            for radix in self._radices:
                flat = flat * radix + int(self.rng.integers(radix))
            if not self._taken(flat):
                return flat
        # Nearly the whole (huge) grid is taken: scan from a random start for the next free combination.
        start = flat
        for offset in range(self.size):
            candidate = (start + offset) % self.size
            if not self._taken(candidate):
                return candidate
        raise AssertionError("unreachable: is_exhausted() was False")  # pragma: no cover

    def _free(self, order: Iterable[int]) -> int:
        """The first combination of ``order`` not taken, passing over those that may be the configuration of a
        trial in flight (equal on its unconditional parameters) while a later one is free. ``order`` starts with a
        free combination."""
        first = None
        running = set(self._flight.values())
        for seen, flat in enumerate(order):
            if seen >= _MAX_DEFERRED:
                break
            if self._taken(flat):
                continue
            if not running or self._key(flat) not in running:
                return flat
            first = flat if first is None else first
        assert first is not None
        return first

    # -- flat index <-> configuration ----------------------------------------------------------------------------

    def _digits(self, flat: int) -> list[int]:
        digits = []
        for radix in reversed(self._radices):
            flat, digit = divmod(flat, radix)
            digits.append(digit)
        digits.reverse()
        return digits

    def _key(self, flat: int) -> tuple[int, ...]:
        """The digits of the parameters every configuration uses."""
        digits = self._digits(flat)
        return tuple(digits[i] for i in self._fixed or ())

    def _decode(self, flat: int) -> dict[str, Any]:
        values = {
            name: values[d] for name, values, d in zip(self._names, self._values, self._digits(flat), strict=True)
        }
        return {name: values[name] for name in self.space}  # in the cell's order

    def _flat_of(self, params: Mapping[str, Any]) -> int | None:
        """The flat index of a past trial's configuration, or None if it is not a point of this grid."""
        flat = 0
        for name, values, radix in zip(self._names, self._values, self._radices, strict=True):
            if name not in params:
                return None
            digit = _position(self.space[name], values, params[name])
            if digit is None:
                return None
            flat = flat * radix + digit
        return flat

    def _equivalents(self, params: Mapping[str, Any]) -> list[int]:
        """Flat indices of every combination that agrees with ``params`` on the parameters it has (the ones a trial
        used): each missing parameter takes all its grid values. Empty when a value is off the grid, or when the
        missing parameters span more than ``_PERMUTE_MAX`` combinations (they are then left to run)."""
        flats = [0]
        for name, values, radix in zip(self._names, self._values, self._radices, strict=True):
            if name in params:
                digit = _position(self.space[name], values, params[name])
                if digit is None:
                    return []
                digits: Sequence[int] = (digit,)
            else:
                digits = range(radix)
            if len(flats) * len(digits) > _PERMUTE_MAX:
                return []
            flats = [f * radix + d for f in flats for d in digits]
        return flats

    def _too_big_message(self, remaining: int, n_trials: int, already: int) -> str:
        dims = list(self.space.values())
        left = f" ({remaining} not tried yet)" if remaining != self.size else ""
        budget = f"the budget is {n_trials} trials"
        if already:
            budget += f" ({already} already run, {max(n_trials - already, 0)} left)"
        fixes = [f"raise --trials to {already + remaining}"]
        if any(isinstance(d, Float) for d in dims) and self.points > 1:
            fixes.append("lower --grid-points")
        if any(isinstance(d, Int) for d in dims):
            fixes.append("narrow the integer ranges")
        if any(isinstance(d, Categorical) for d in dims) and len(fixes) == 1:
            fixes.append("offer fewer choices")
        return (
            f"the grid has {self.size} combinations{left} but {budget}: "
            f"{', '.join(fixes)}, or add --grid-sample to try {max(n_trials - already, 1)} random points of the grid"
        )


def _partial(params: Mapping[str, Any], names: list[str]) -> bool:
    """Whether a stored trial's parameters look like this cell's with some unused: a few of its names and nothing
    else (an edited cell's trials, with names this one lacks or none at all, stand for no combination)."""
    return bool(params) and all(name in names for name in params)


def _grid_values(dim: Dimension, points: int) -> Sequence[Any]:
    if isinstance(dim, Int):
        return range(dim.low, dim.high + 1)
    return dim.grid(points)


def _position(dim: Dimension, values: Sequence[Any], value: Any) -> int | None:
    """Where ``value`` sits in ``dim``'s grid values: by choice index for categoricals, by value for numbers."""
    if isinstance(dim, Categorical):
        return dim.index(value)
    if not is_real(value):
        return None
    if isinstance(dim, Int):
        if not float(value).is_integer():
            return None
        # Int.grid is every integer from low, so the position is arithmetic (no scan of a wide range).
        if values and values[0] == dim.low and len(values) == dim.high - dim.low + 1:
            i = int(value) - dim.low
            return i if 0 <= i < len(values) else None
    for i, v in enumerate(values):
        # Values come back from storage (JSON, SQLite REAL); allow for the last bit of a float round trip.
        if v == value or math.isclose(v, value, rel_tol=1e-12, abs_tol=0.0):
            return i
    return None

"""``--warm-from NAME``: a new study's strategy learns from another study's trials where the spaces overlap.

The other study's finished trials reach the sampler with the study's own history (``Scheduler.warm``), marked
``user_attrs["warm_from"]`` and numbered below zero, so they never count as the new study's trials, never take its
trial numbers and are never stored with it. Overlap means the same parameter names, each of the same kind with
ranges (or choices) that meet; trials whose values fall outside the new ranges are left out.
"""

from __future__ import annotations

import dataclasses
import os

from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Dimension, Float, Int, Space
from hpmagic.storage import Storage, open_storage, space_from_json
from hpmagic.trial import Trial

__all__ = ["warm_trials"]


def warm_trials(name: str, space: Space, storage: str | os.PathLike[str] | Storage | None) -> list[Trial]:
    """The finished trials of the latest study called ``name`` (``NAME@path.db``: in that store) that lie in ``space``.

    Raises:
        OptionError: no such study, spaces that do not overlap, or no trial inside the new space.
    """
    if not isinstance(name, str) or not name.strip():
        raise OptionError(f"--warm-from takes a study name, got {name!r}")
    base, at, path = name.rpartition("@") if "@" in name else (name, "", "")
    if at and not os.path.isfile(path):
        raise OptionError(f"--warm-from {name}: there is no study store at {path!r}")
    store = open_storage(path if at else storage)
    record = store.latest_study(base)
    if record is None:
        known = ", ".join(repr(s["name"]) for s in store.list_studies()[:10]) or "none"
        raise OptionError(f"--warm-from: no study named {base!r} in {store.path!r} (studies there: {known})")
    other = space_from_json(record.space)
    if set(other) != set(space):
        raise OptionError(
            f"--warm-from: study {record.name!r} does not overlap this one: it has parameters "
            f"{', '.join(sorted(other)) or 'none'}, this study has {', '.join(sorted(space)) or 'none'} (the names "
            "must be the same)"
        )
    for n in space:
        if not _meets(other[n], space[n]):
            raise OptionError(
                f"--warm-from: study {record.name!r} does not overlap this one: its {n} = tune.{other[n].describe()} "
                f"has no value in common with {n} = tune.{space[n].describe()}"
            )
    inside = [
        t
        for t in store.load_trials(record.id, space)
        if t.state.finished and all(n in t.params and space[n].contains(t.params[n]) for n in space)
    ]
    if not inside:
        raise OptionError(f"--warm-from: none of study {record.name!r}'s finished trials lies inside this space")
    return [
        dataclasses.replace(t, number=-1 - i, user_attrs={**t.user_attrs, "warm_from": record.name})
        for i, t in enumerate(inside)
    ]


def _meets(a: Dimension, b: Dimension) -> bool:
    """Whether two markers of one parameter share values: same kind, overlapping ranges or a common choice."""
    if isinstance(a, Float | Int) and type(a) is type(b):
        return bool(max(a.low, b.low) <= min(a.high, b.high))
    if isinstance(a, Categorical) and isinstance(b, Categorical):
        return any(b.contains(c) for c in a.choices)
    return False

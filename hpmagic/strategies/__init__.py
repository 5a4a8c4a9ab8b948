"""Search strategies behind one small interface (``Strategy``), and the registry ``--strategy`` picks from.

Each strategy lives in its own private module; this package only re-exports them. A new strategy is one module and
one entry in ``STRATEGIES``.
"""

from __future__ import annotations

import inspect
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.strategies._asha import ASHAStrategy
from hpmagic.strategies._base import Strategy, TrialRequest
from hpmagic.strategies._bayes import BayesStrategy
from hpmagic.strategies._evolution import EvolutionStrategy
from hpmagic.strategies._gradient import GradientStrategy
from hpmagic.strategies._grid import GridStrategy
from hpmagic.strategies._hyperband import HyperbandStrategy
from hpmagic.strategies._median import MedianStopping
from hpmagic.strategies._pbt import PBTStrategy, pbt_schedule
from hpmagic.strategies._random import RandomStrategy

__all__ = [
    "ASHAStrategy",
    "BayesStrategy",
    "EvolutionStrategy",
    "GradientStrategy",
    "GridStrategy",
    "HyperbandStrategy",
    "MedianStopping",
    "PBTStrategy",
    "RandomStrategy",
    "STRATEGIES",
    "Strategy",
    "TrialRequest",
    "get_strategy",
    "pbt_schedule",
]

#: Strategy classes by the name ``--strategy`` and ``optimize(strategy=...)`` accept.
STRATEGIES: dict[str, type[Strategy]] = {
    "asha": ASHAStrategy,
    "bayes": BayesStrategy,
    "evolution": EvolutionStrategy,
    "gradient": GradientStrategy,
    "grid": GridStrategy,
    "hyperband": HyperbandStrategy,
    "pbt": PBTStrategy,
    "random": RandomStrategy,
}


def get_strategy(name: str, **options: Any) -> Strategy:
    """A new strategy by name, with its options.

    Raises:
        OptionError: for an unknown name, an unknown option or an invalid option value, with a message that says
            what is allowed (never a bare TypeError, so the magic can show it as one line).
    """
    key = name.strip().lower() if isinstance(name, str) else name
    cls = STRATEGIES.get(key) if isinstance(key, str) else None
    if cls is None:
        raise OptionError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    accepted = [
        p.name
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = f"its options are: {', '.join(accepted)}" if accepted else "it takes no options"
        plural = "s" if len(unknown) > 1 else ""
        raise OptionError(f"strategy {key!r} has no option{plural} {', '.join(map(repr, unknown))}; {allowed}")
    return cls(**options)

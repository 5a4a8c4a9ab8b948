"""hpmagic: tune the hyperparameters of a notebook cell with ``%%tune``, or of a function with ``optimize``.

``%load_ext hpmagic`` registers the magic and puts ``tune`` in the namespace. The engine underneath is plain Python
and never imports IPython; only ``hpmagic.magic`` does, and only when the extension is loaded.
"""

from __future__ import annotations

from typing import Any

from hpmagic.api import optimize
from hpmagic.context import TrialPruned
from hpmagic.errors import (
    CellError,
    HpmagicError,
    MarkerValueError,
    OptionError,
    SpaceError,
    StorageError,
)
from hpmagic.fanova import importance
from hpmagic.markers import tune
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.storage import Storage
from hpmagic.study import Study, create_study, load_study
from hpmagic.trial import Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Categorical",
    "CellError",
    "Float",
    "HpmagicError",
    "Int",
    "MarkerValueError",
    "OptionError",
    "Space",
    "SpaceError",
    "Storage",
    "StorageError",
    "Study",
    "Trial",
    "TrialPruned",
    "TrialState",
    "create_study",
    "importance",
    "load_study",
    "load_ipython_extension",
    "optimize",
    "tune",
    "unload_ipython_extension",
]

_loaded: dict[int, Any] = {}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hpmagic``: register ``%%tune``, make it configurable, put ``tune`` in the namespace."""
    from hpmagic.magic import TuneMagics

    if id(ipython) in _loaded:
        return
    magics = TuneMagics(shell=ipython, parent=ipython)
    ipython.register_magics(magics)  # Magics add themselves to ipython.configurables, so %config sees them
    ipython.push({"tune": tune}, interactive=False)
    previous = ipython.custom_exceptions
    if not previous:
        ipython.set_custom_exc((HpmagicError,), _show_short_error)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hpmagic``: remove the magic, its configuration and ``tune``; close the stores it opened."""
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    manager = ipython.magics_manager
    manager.magics["cell"].pop("tune", None)
    for name in ("tune_show", "tune_list"):
        manager.magics["line"].pop(name, None)
    manager.registry.pop(type(magics).__name__, None)
    ipython.configurables[:] = [c for c in ipython.configurables if c is not magics]
    if ipython.user_ns.get("tune") is tune:
        del ipython.user_ns["tune"]
    ipython.user_ns_hidden.pop("tune", None)
    if ipython.custom_exceptions == (HpmagicError,):
        ipython.set_custom_exc((), None)
    magics.close()


def _show_short_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
    """Errors hpmagic raises for the user to fix show as one line, not a traceback into hpmagic."""
    print(f"{etype.__name__}: {value}", file=__import__("sys").stderr)

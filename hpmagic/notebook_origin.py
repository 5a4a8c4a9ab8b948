"""The notebook a ``%%tune`` cell runs in, when the kernel knows it, so the Studies panel can name a study's notebook.

Jupyter Server starts a notebook's kernel with ``JPY_SESSION_NAME`` set to the notebook's path, and ipykernel copies
it into the namespace as ``__session__``. Outside Jupyter (a plain IPython, a script) neither exists: nothing is
recorded and the panel shows the store instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["notebook_path"]


def notebook_path(user_ns: Mapping[str, Any]) -> str | None:
    """The running notebook's path (as the server gave it: absolute, or relative to the server's root), or None."""
    for value in (user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value.strip() and value.endswith(".ipynb"):
            return value
    return None

"""The Jupyter server extension behind hpmagic's JupyterLab panel: JSON routes over the study stores.

Enabled by the ``jupyter-config/server-config/hpmagic.json`` file the package installs. Routes live under
``{base_url}/hpmagic/`` (see ``hpmagic.server.handlers``) and only see stores under the server's root directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tells jupyter_server that this module is a server extension."""
    return [{"module": "hpmagic.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the routes, with URLs built under the server's base URL (so it works behind JupyterHub)."""
    from jupyter_server.utils import url_path_join

    from hpmagic.server.handlers import ROUTES
    from hpmagic.server.stores import StoreIndex

    web_app = serverapp.web_app
    root = Path(serverapp.root_dir).expanduser()
    web_app.settings["hpmagic_index"] = StoreIndex(root)
    base_url = web_app.settings["base_url"]
    handlers = [(url_path_join(base_url, "hpmagic", name), handler) for name, handler in ROUTES]
    web_app.add_handlers(".*$", handlers)
    serverapp.log.info("hpmagic: study routes under %s (stores under %s)", url_path_join(base_url, "hpmagic"), root)


# The name older notebook servers look for.
load_jupyter_server_extension = _load_jupyter_server_extension

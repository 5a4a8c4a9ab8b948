"""The layers stay apart: nothing below the display imports it (not even inside a function), and the engine never
imports IPython, so the Python API works without Jupyter and the magic is only a front end."""

from __future__ import annotations

import ast
from pathlib import Path

import hpmagic

PACKAGE = Path(hpmagic.__file__).parent
FRONT_ENDS = ("display", "magic", "server", "labextension")


def engine_modules() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in FRONT_ENDS
        and path.name != "__init__.py"
        or path == PACKAGE / "__init__.py"
    ]


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_engine_never_imports_the_display_or_ipython() -> None:
    modules = engine_modules()
    assert len(modules) > 20  # the scan sees the engine's modules
    offenders = {}
    for path in modules:
        bad = {n for n in imported(path) if n.startswith(("hpmagic.display", "hpmagic.magic", "IPython", "ipywidgets"))}
        if path == PACKAGE / "__init__.py":
            bad -= {"hpmagic.magic"}  # load_ipython_extension imports the magic when the extension is loaded
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert offenders == {}


def test_samplers_and_schedulers_know_only_the_layers_below_them() -> None:
    for folder, forbidden in (
        ("samplers", ("hpmagic.schedulers", "hpmagic.strategies", "hpmagic.study", "hpmagic.run")),
        ("schedulers", ("hpmagic.strategies", "hpmagic.study", "hpmagic.run")),
    ):
        for path in (PACKAGE / folder).glob("*.py"):
            bad = {n for n in imported(path) if n.startswith(forbidden)}
            assert not bad, (path.name, bad)

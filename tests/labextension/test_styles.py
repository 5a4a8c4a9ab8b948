"""The extension's stylesheet takes its colours from JupyterLab's theme variables, so light and dark themes apply."""

from __future__ import annotations

import re
from pathlib import Path

STYLE = Path(__file__).resolve().parents[2] / "labextension" / "style" / "base.css"
COLOUR_PROPERTIES = re.compile(
    r"^\s*(color|background(-color)?|border(-\w+)?|outline|fill|stroke|accent-color)\s*:(.*);"
)
# The one fixed colour: the card under matplotlib's plots, which are drawn on white (dark text) in every theme.
ALLOWED = {"background: white; /* matplotlib draws on white: keep it legible in dark themes */"}


# Words a colour property may hold besides theme variables: styles and keywords, never a colour.
KEYWORDS = {"solid", "dashed", "none", "inherit", "transparent", "currentcolor", "collapse", "separate"}


def test_every_colour_is_a_jupyterlab_theme_variable() -> None:
    fixed = []
    for line in STYLE.read_text().splitlines():
        match = COLOUR_PROPERTIES.match(line)
        if match is None or line.strip() in ALLOWED:
            continue
        value = re.sub(r"var\(--jp-[\w-]+\)", "", match.group(4))
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", re.sub(r"\b\d+(\.\d+)?(px|em|%)?", "", value))}
        if re.search(r"#[0-9a-fA-F]{3,8}\b", value) or words - KEYWORDS:
            fixed.append(line.strip())
    assert fixed == [], fixed

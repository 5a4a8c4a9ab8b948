"""The ``%tune_list`` table: the studies in a store, newest first."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from hpmagic.results import format_value

__all__ = ["StudyList"]

_COLUMNS = ("name", "state", "strategy", "direction", "trials", "complete", "best value", "updated")


class StudyList:
    """Rows of ``Storage.list_studies()``, shown as HTML in Jupyter and as text elsewhere."""

    def __init__(self, path: str, studies: list[dict[str, Any]]) -> None:
        self.path = path
        self.studies = studies

    def rows(self) -> list[list[str]]:
        return [
            [
                s["name"],
                s["state"],
                s["strategy"],
                s["direction"],
                str(s["n_trials"]),
                str(s["n_complete"]),
                format_value(s["best_value"]),
                dt.datetime.fromtimestamp(s["updated_at"]).strftime("%Y-%m-%d %H:%M"),
            ]
            for s in self.studies
        ]

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in self.rows())
        return (
            f"<div class='hpmagic-study-list'><b>{len(self.studies)} studies in {esc(self.path)}</b>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        rows = [list(_COLUMNS), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
        lines = [f"{len(self.studies)} studies in {self.path}"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        return "\n".join(lines)

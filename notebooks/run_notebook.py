"""Run a notebook for real in a Jupyter kernel and print a short report of what it produced.

    python notebooks/run_notebook.py notebooks/quickstart.ipynb [--cwd DIR] [--output PATH]

The notebook runs with nbclient in the ``python3`` kernel of the interpreter running this script (run it with the
virtual environment's Python so the kernel is the environment's). The report shows, for each ``%%tune`` cell, its
results table as text, and everything the other cells printed. The executed notebook is written only where
``--output`` says, never over the source. Exits 1 with the failing cell's error when a cell fails.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# In a virtual environment, look for kernel specs in the environment before the user's folders (jupyter_core does so
# by default in a venv; this makes it explicit), so "python3" is this environment's ipykernel.
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402


class _TableText(HTMLParser):
    """Turns the HTML hpmagic displays (a title, a detail line, a table) into aligned plain text."""

    _BLOCKS = {"div", "br", "p", "pre", "table", "tr", "b", "i", "span"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._text: list[str] = []
        self._rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_table = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._flush_text()
            self._in_table, self._rows = True, []
        elif tag == "tr" and self._in_table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and not self._in_table:
            self._flush_text()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False
            self.lines.extend(_align(self._rows))
        elif tag in self._BLOCKS and not self._in_table:
            self._flush_text()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif not self._in_table:
            self._text.append(data)

    def _flush_text(self) -> None:
        text = "".join(self._text).strip()
        if text:
            self.lines.extend(line.rstrip() for line in text.splitlines())
        self._text = []

    def close(self) -> None:
        super().close()
        self._flush_text()


def _align(rows: list[list[str]]) -> list[str]:
    """Rows of cells as left-aligned columns; a row with a single cell (a "… more trials" note) stays whole."""
    width = max((len(r) for r in rows), default=0)
    widths = [max((len(r[i]) for r in rows if len(r) == width), default=0) for i in range(width)]
    out = []
    for r in rows:
        if len(r) != width:
            out.append(" ".join(r))
        else:
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return out


def html_to_text(html: str) -> str:
    """Plain text of an HTML snippet, with tables laid out in columns."""
    parser = _TableText()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines)


def _is_object_repr(text: str) -> bool:
    return bool(re.fullmatch(r"<[\w.]+ object( at 0x[0-9a-f]+)?>", text.strip()))


def output_text(output: dict[str, Any]) -> str:
    """The readable text of one display or result output: its text/plain, or its HTML when the plain text is only
    a placeholder such as ``<IPython.core.display.HTML object>``."""
    data = output.get("data", {})
    plain = _join(data.get("text/plain", ""))
    html = _join(data.get("text/html", ""))
    if html and (not plain or _is_object_repr(plain)):
        return html_to_text(html)
    return plain


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def is_tune_cell(cell: dict[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and cell.get("source", "").lstrip().startswith("%%tune")


def report(nb: Any) -> str:
    """What the notebook produced, as text: each ``%%tune`` cell's table and everything the cells printed."""
    parts: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        chunks: list[str] = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stdout":
                chunks.append(_join(output.get("text", "")).rstrip("\n"))
            elif kind == "display_data" and is_tune_cell(cell):
                chunks.append(output_text(output))
        chunks = [c for c in chunks if c.strip()]
        if not chunks:
            continue
        if is_tune_cell(cell):
            header = cell.source.lstrip().splitlines()[0]
            rule = "=" * min(max(len(header), 40), 120)
            parts.append(f"{rule}\n{header}\n{rule}\n" + "\n".join(chunks))
        else:
            parts.append("\n".join(chunks))
    return "\n\n".join(parts)


def failing_cell_message(nb: Any, error: Exception) -> str:
    """The error of the cell that failed, with where it is in the notebook."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                tb = "\n".join(output.get("traceback", []))
                tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)  # ANSI colours
                first = cell.source.splitlines()[0] if cell.source else ""
                return f"cell {index} ({first!r}) failed:\n{tb}"
    return f"{type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a notebook in a real kernel and print its results.")
    parser.add_argument("notebook", type=Path, help="the .ipynb file to run")
    parser.add_argument("--cwd", type=Path, help="working folder of the kernel (default: the notebook's folder)")
    parser.add_argument("--output", type=Path, help="also write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    args = parser.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    cwd = (args.cwd or args.notebook.resolve().parent).resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    if args.output is not None and args.output.resolve() == args.notebook.resolve():
        parser.error("--output must not overwrite the notebook that is run")

    client = NotebookClient(
        nb,
        timeout=args.timeout,
        kernel_name=args.kernel,
        resources={"metadata": {"path": str(cwd)}},
    )
    print(f"running {args.notebook} in {cwd} (kernel {args.kernel}, {sys.executable})", file=sys.stderr)
    started = time.monotonic()
    failure: str | None = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        failure = failing_cell_message(nb, exc) if isinstance(exc, CellExecutionError) else str(exc)
    elapsed = time.monotonic() - started
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, args.output)
    if failure is not None:
        print(report(nb))
        print(f"\nFAILED after {elapsed:.1f} s: {failure}", file=sys.stderr)
        return 1
    print(report(nb))
    print(f"\n{args.notebook}: every cell ran, in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

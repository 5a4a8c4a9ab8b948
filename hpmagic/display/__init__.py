"""Reporters that render the engine's events, and the results table."""

from hpmagic.display.reporters import HTMLReporter, TextReporter, default_reporter, make_reporter
from hpmagic.results import results_html, results_text

__all__ = [
    "HTMLReporter",
    "TextReporter",
    "default_reporter",
    "make_reporter",
    "results_html",
    "results_text",
]

"""The IPython front end: the ``%%tune`` magic and its parsed command."""

from hpmagic.magic.command import TuneCommand, parse_duration
from hpmagic.magic.magics import TuneMagics, parse_tune_line

__all__ = ["TuneCommand", "TuneMagics", "parse_duration", "parse_tune_line"]

"""Schedulers: how long trials run and which continue (hyperband, asha, median stopping, pbt), behind ``Scheduler``.

Each scheduler lives in its own private module; this package only re-exports them.
"""

from __future__ import annotations

from hpmagic.schedulers._asha import ASHAScheduler
from hpmagic.schedulers._base import FIFOScheduler, Scheduler, TrialRequest
from hpmagic.schedulers._hyperband import HyperbandScheduler
from hpmagic.schedulers._median import MedianStopping
from hpmagic.schedulers._pbt import PBTScheduler, pbt_schedule
from hpmagic.schedulers._segments import SegmentScheduler

__all__ = [
    "ASHAScheduler",
    "FIFOScheduler",
    "HyperbandScheduler",
    "MedianStopping",
    "PBTScheduler",
    "Scheduler",
    "SegmentScheduler",
    "TrialRequest",
    "pbt_schedule",
]

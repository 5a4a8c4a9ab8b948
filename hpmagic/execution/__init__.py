"""Where trials run: in the kernel (``run_trial``), or on Dask workers (``DaskExecutor``).

The study loop asks the scheduler, hands each trial to an executor, and records what comes back; the same
``run_trial`` runs the objective in both places, so a trial behaves alike wherever it runs.
"""

from __future__ import annotations

from hpmagic.execution._cluster import close_local_clusters, connect, local_client, make_executor
from hpmagic.execution._dask import DaskExecutor, TrialJob
from hpmagic.execution._run import objective_value, run_trial, user_traceback

__all__ = [
    "DaskExecutor",
    "TrialJob",
    "close_local_clusters",
    "connect",
    "local_client",
    "make_executor",
    "objective_value",
    "run_trial",
    "user_traceback",
]

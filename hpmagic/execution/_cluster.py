"""The Dask clusters hpmagic uses: one local cluster per process for ``--jobs N``, or a client of a running one.

A local cluster costs a second or so to start, so it is started once and reused by later studies; it is closed at
``%unload_ext hpmagic`` and at exit. Its workers are single-threaded processes (one trial each), with BLAS limited to
one thread, as trials on two shared cores must be.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from hpmagic.errors import OptionError

__all__ = ["close_local_clusters", "connect", "local_client", "make_executor"]

_lock = threading.Lock()
_local: dict[str, Any] = {}


def local_client(jobs: int) -> Any:
    """A client of this process's local cluster of ``jobs`` worker processes (started, or resized, on demand)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("--jobs needs dask.distributed: pip install 'dask[distributed]'") from None
    with _lock:
        client = _local.get("client")
        if client is not None and client.status == "running":
            cluster = _local["cluster"]
            if len(cluster.workers) != jobs:
                cluster.scale(jobs)
                client.wait_for_workers(jobs, timeout=60)
            return client
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # A task whose worker dies is retried once on another worker, then reported as lost.
        with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.worker.daemon": False}):
            cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                env=env,
            )
        client = Client(cluster, set_as_default=False)
        client.run(_warm_up)
        _local.update(cluster=cluster, client=client, pid=os.getpid())
        return client


def connect(address: Any, timeout: float = 5.0) -> Any:
    """A client of a running cluster (``tcp://host:8786``), or a clear error within ``timeout`` seconds."""
    if not isinstance(address, str) or not address.strip():
        raise OptionError(f"--cluster takes a scheduler address such as tcp://host:8786, got {address!r}")
    try:
        from distributed import Client
    except ImportError:
        raise OptionError("--cluster needs dask.distributed: pip install 'dask[distributed]'") from None
    try:
        client = Client(address.strip(), timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise OptionError(
            f"cannot reach the Dask scheduler at {address.strip()} within {timeout:g} s ({type(exc).__name__}); "
            "is it running, and is the address right?"
        ) from None
    try:
        client.run(_warm_up)
    except Exception as exc:  # noqa: BLE001 - a worker without hpmagic cannot run trials: say so now
        client.close()
        raise OptionError(
            f"the workers of {address.strip()} cannot import hpmagic ({type(exc).__name__}: {exc}); install hpmagic "
            "(and the cell's libraries) in the workers' environment"
        ) from None
    return client


def close_local_clusters() -> None:
    """Close this process's local cluster (``%unload_ext hpmagic``, exit)."""
    with _lock:
        client, cluster = _local.pop("client", None), _local.pop("cluster", None)
        _local.clear()
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - closing at exit: nothing to do about a failure
                pass


def _warm_up() -> bool:
    """Import what every trial needs once per worker, so the first trials do not pay for it."""
    import hpmagic.execution._run  # noqa: F401
    import hpmagic.markers  # noqa: F401

    return True


atexit.register(close_local_clusters)


def make_executor(
    jobs: Any = None,
    cluster: Any = None,
    client: Any = None,
    resources: Any = None,
) -> Any:
    """The executor for ``--jobs`` / ``--cluster`` / ``client=`` / ``--resources``, or None to run in this process.

    ``jobs`` is the number of local worker processes, or with a cluster the most trials at once (default: its
    worker threads). ``resources`` (``{"GPU": 1}``) are claimed by every trial on workers that advertise them.
    """
    from hpmagic._checks import is_int, is_real
    from hpmagic.execution._dask import DaskExecutor

    if jobs is not None and (not is_int(jobs) or not 1 <= jobs <= 1024):
        raise OptionError(f"jobs must be an integer from 1 to 1024, got {jobs!r}")
    if resources is not None:
        if (
            not isinstance(resources, dict)
            or not resources
            or not all(isinstance(k, str) and k and is_real(v) and 0 < v < 1e9 for k, v in resources.items())
        ):
            raise OptionError(f"resources takes names and positive amounts, e.g. GPU=1; got {resources!r}")
    if client is not None and cluster is not None:
        raise OptionError("give either a cluster address or a client, not both")
    if client is not None and not callable(getattr(client, "submit", None)):
        raise OptionError(
            f"client takes a dask.distributed.Client (for an address: Client({client!r})), got {type(client).__name__}"
        )
    if client is None and cluster is not None:
        client = connect(cluster)
    if client is None and jobs is not None and jobs > 1:
        return DaskExecutor(local_client(int(jobs)), max_in_flight=int(jobs), resources=resources)
    if client is None:
        if resources:
            raise OptionError("--resources needs workers: add --jobs N or --cluster ADDRESS")
        return None
    return DaskExecutor(client, max_in_flight=int(jobs) if jobs is not None else None, resources=resources)

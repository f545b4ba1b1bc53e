"""The Dask cluster a stage's islands run on: an existing scheduler, or a local one started and closed here."""
import logging
import os
from contextlib import contextmanager

from distributed import Client, LocalCluster


@contextmanager
def dask_executor(scheduler: str | None, n_workers: int = 0):
    """Yield a concurrent.futures executor backed by Dask; a local cluster has one single-threaded process per core."""
    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client.get_executor()
        return
    workers = n_workers or os.cpu_count() or 1
    # Closing a local cluster makes distributed log harmless CommClosedError tracebacks; keep them quiet.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
        yield client.get_executor()

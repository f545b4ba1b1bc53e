"""The search on Dask workers: the same front as in-process, even when a worker is killed mid-search."""
import logging
import os
import signal
import threading

import numpy as np
import pytest
from distributed import Client, LocalCluster

from symdistill.components.search import FunctionData, search_function

pytestmark = pytest.mark.slow

OPTIONS = dict(binary_operators=("add", "sub", "mul"), n_islands=4, population_size=30, n_iterations=12,
               max_size=12)


def planted():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    return FunctionData("planted", X, 2.5 * X[:, 0] * X[:, 1] + X[:, 1], ("a", "b"))


def test_a_killed_worker_changes_nothing():
    function = planted()
    in_process = search_function(function, seed=3, **OPTIONS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_one():
            killed.append(next(iter(pids.values())))
            os.kill(killed[0], signal.SIGKILL)
        rounds_seen = []

        def progress(rounds, evaluations, best):
            rounds_seen.append(rounds)
            if rounds == 2:  # the next round's island steps are about to run: kill a worker during them
                threading.Timer(0.05, kill_one).start()
        on_dask = search_function(function, seed=3, executor=client.get_executor(), progress=progress, **OPTIONS)
    assert killed and rounds_seen == list(range(1, 13))
    assert on_dask.expressions == in_process.expressions
    np.testing.assert_array_equal(on_dask.loss, in_process.loss)
    assert "a*b" in on_dask.expressions[on_dask.best_index].replace(" ", "")

"""The search stage's SR on the same captured functions, seed and budget with 1 and 2 Dask workers.

Prints wall time per worker count, the speed-up, and whether the Pareto fronts are identical.
The captured functions come from the spring example's store (run `symdistill run config/spring2d.toml
--until capture` first), or pass --store and --capture-key.
Run: .venv/bin/python benchmarks/distributed_search.py [--store PATH] [--capture-key KEY]
"""
import argparse
import time
from pathlib import Path

import numpy as np

from symdistill.catalogs import ArtifactRef, ArtifactStore
from symdistill.components.search import functions_from_capture, search_operator_sets
from symdistill.config import load_experiment
from symdistill.tasks.dask_cluster import dask_executor
from symdistill.tasks.search import operator_sets, search_options

CONFIG = Path(__file__).parent.parent / "config" / "spring2d.toml"


def search_all(functions, cfg, n_workers):
    options = search_options(cfg)
    with dask_executor(None, n_workers) as executor:
        executor.submit(int, 0).result()  # cluster up before the clock starts
        clock = time.perf_counter()
        fronts = search_operator_sets(functions, operator_sets(cfg), seed=cfg.seed, executor=executor, **options)
        return time.perf_counter() - clock, fronts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, default=CONFIG.parent / "symdistill.zarr")
    parser.add_argument("--capture-key", default=None)
    args = parser.parse_args()
    store = ArtifactStore(args.store)
    key = args.capture_key or store.artifacts("capture")[-1]["key"]
    captured = store.read(ArtifactRef("capture", key))
    cfg = load_experiment(CONFIG).search
    functions = functions_from_capture(captured["edge"], captured["node"], cfg.max_rows)
    print(f"capture {key}: {len(functions)} functions ({', '.join(f.name for f in functions)}); "
          f"{cfg.n_islands} islands x {cfg.population_size} members x {cfg.n_iterations} rounds each")
    results = {n: search_all(functions, cfg, n) for n in (1, 2)}
    same = all(np.array_equal(a.loss, b.loss) and a.expressions == b.expressions
               for a, b in zip(results[1][1], results[2][1]))
    print("| workers | wall time (s) | speed-up | fronts identical to 1 worker |")
    print("|---|---|---|---|")
    for n, (seconds, _) in results.items():
        print(f"| {n} | {seconds:.1f} | {results[1][0] / seconds:.2f}x | {'yes' if n == 1 or same else 'NO'} |")


if __name__ == "__main__":
    main()

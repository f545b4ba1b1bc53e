"""Body-steps per second of the numba simulator against the plain numpy integrator, side by side.

Run: .venv/bin/python benchmarks/simulate.py   (from the repository root, after `make test` or `make run`)
Also times a fully cached `symdistill run` (Prefect's temporary server start included).
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba

from symdistill.components.simulate import ForceLaw
from symdistill.components.simulate.dataset import initial_conditions
from symdistill.components.simulate.integrate import INTEGRATORS, integrate
from symdistill.components.simulate.reference import reference_integrate

N_SIMS, N_STEPS, DT = 256, 400, 1e-3


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def body_steps_per_second(n_bodies, dim, law):
    pos, vel, mass, charge = initial_conditions(N_SIMS, n_bodies, dim, seed=0)
    leapfrog = INTEGRATORS.index("leapfrog")

    def numba_run():
        integrate(pos, vel, mass, charge, law.code, law.softening, law.damping, DT, N_STEPS, 10, leapfrog)

    numba_run()  # compile or load the cache outside the timing
    work = N_SIMS * n_bodies * N_STEPS
    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(threads)
    parallel = work / best_of(3, numba_run)
    numba.set_num_threads(1)
    single = work / best_of(3, numba_run)
    numba.set_num_threads(threads)
    reference = work / best_of(2, lambda: reference_integrate(pos, vel, mass, charge, law, DT, N_STEPS, 10,
                                                               "leapfrog"))
    return parallel, single, reference, threads


def cached_run_seconds():
    config_text = ('[experiment]\nname = "bench"\n[simulate]\nlaw = "spring"\nn_bodies = 4\n'
                   'n_sims = 50\nduration = 2.0\n')
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "bench.toml"
        config.write_text(config_text)
        command = [sys.executable, "-m", "symdistill.flows.cli", "run", str(config)]
        subprocess.run(command, check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start


def main():
    law = ForceLaw("spring")
    print(f"leapfrog, spring law, {N_SIMS} simulations x {N_STEPS} steps; best of 3 (numba) / 2 (numpy)")
    header = (f"| bodies | dim | numba, {numba.config.NUMBA_NUM_THREADS} threads (body-steps/s) | "
              "numba, 1 thread | numpy reference | speed-up (threads) | speed-up (1 thread) |")
    print(header)
    print("|---|---|---|---|---|---|---|")
    for n_bodies in (4, 8):
        for dim in (2, 3):
            parallel, single, reference, _ = body_steps_per_second(n_bodies, dim, law)
            print(f"| {n_bodies} | {dim} | {parallel:.3g} | {single:.3g} | {reference:.3g} | "
                  f"{parallel / reference:.1f}x | {single / reference:.1f}x |")
    print(f"\nfully cached `symdistill run` (new process, Prefect temporary server included): "
          f"{cached_run_seconds():.1f} s")


if __name__ == "__main__":
    main()

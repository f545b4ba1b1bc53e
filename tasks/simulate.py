"""The simulate stage: the N-body simulator as a Prefect task."""
import time

from prefect import task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from symdistill.catalogs import ArtifactRef
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.tasks.context import RunContext, run_stage


@task(name="simulate", cache_policy=NO_CACHE)  # our keys decide what is cached, not Prefect's
def simulate_stage(ctx: RunContext) -> ArtifactRef:
    cfg = ctx.experiment.simulate

    def compute(_inputs):
        clock = time.perf_counter()
        with tqdm(total=cfg.n_sims, desc="simulate", unit="sim", disable=None) as bar:
            ds = simulate(ForceLaw(cfg.law, softening=cfg.softening, damping=cfg.damping),
                          n_bodies=cfg.n_bodies, dim=cfg.dim, n_sims=cfg.n_sims, duration=cfg.duration,
                          record_interval=cfg.record_interval, dt=cfg.dt, integrator=cfg.integrator,
                          tolerance=cfg.tolerance, fixed_masses=cfg.fixed_masses, masses=cfg.masses,
                          fixed_charges=cfg.fixed_charges, charges=cfg.charges, seed=cfg.seed,
                          units=cfg.units.model_dump(), progress=bar.update)
        seconds = time.perf_counter() - clock
        done = ds.attrs["integrator"]
        figures = {**ds.attrs["diagnostics"], "n_samples": int(ds.sizes["sim"] * ds.sizes["time"]),
                   "steps": done["steps"], "seconds": seconds,
                   "body_steps_per_second": done["steps"] * cfg.n_bodies / seconds}
        return {"data": ds}, figures

    return run_stage(ctx, "simulate", compute)

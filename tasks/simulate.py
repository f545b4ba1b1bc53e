"""The simulate stage: the N-body simulator (run by the generic stage task, tasks/run.py)."""
import time

from tqdm import tqdm

from symdistill.catalogs import ArtifactRef
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.tasks.context import RunContext, StageOutput


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.simulate
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

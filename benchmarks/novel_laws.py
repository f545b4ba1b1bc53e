"""Trajectories under three pair laws the simulator does not have, as NetCDF files for the [ingest] stage.

The laws (formulas and reasons in benchmarks/laws.py, NOVEL_LAWS): morse (Morse bonds, exponential),
r3 (inverse-cube attraction, heavy-tailed close encounters) and quadratic_drag (springs with drag
-drag |dv| dv). Forces are written again here in numpy, independently of the SymPy truths, so a test
can check one against the other. Initial conditions are the simulator's: positions and velocities
N(0, 1), masses exp(N(0, 1)), charges +-1, simulation k from its own stream (seed, k).

Integration, vectorised over simulations: symplectic for the conservative laws (kick-drift-kick
leapfrog for morse; Yoshida's 4th-order composition of it for r3, whose bound pairs in the softened
core are stiff), RK4 for the velocity-dependent one. Each simulation takes its own step,
dt = min(dt_max, eta * tau) with tau the shortest pair time scale (r / |dv| and
sqrt(r' / relative pair acceleration)), cut to land on each recorded time, so close encounters are
resolved without slowing every simulation.

Run from the repository root:
    .venv/bin/python benchmarks/novel_laws.py [--law morse|r3|quadratic_drag|all] [--out DIR]
        [--dim 2] [--n-sims 500] [--seed 0]
Each law gives DIR/<law><dim>d.nc and DIR/<law><dim>d.json (law, parameters, integration, diagnostics).
An experiment reads one with `[ingest] path = "..."`, `target = "acc"`.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from laws import NOVEL_LAWS  # noqa: E402  (the laws' names, parameters and reasons; not their forces)

UNITS = {"length": "m", "time": "s", "mass": "kg", "charge": "C"}

# Per law: integrator, recorded duration, largest step and accuracy factor eta.
# Durations: long enough for many oscillations, short enough that few bodies have escaped (morse, r3)
# or come to rest (quadratic_drag: relative speeds decay like 1/t).
RUNS = {
    "morse": {"integrator": "leapfrog", "duration": 10.0, "dt_max": 0.004, "eta": 0.02},
    "r3": {"integrator": "yoshida4", "duration": 5.0, "dt_max": 0.004, "eta": 0.06},
    "quadratic_drag": {"integrator": "rk4", "duration": 5.0, "dt_max": 0.01, "eta": 0.05},
}


# Leapfrog, and Yoshida's 4th-order composition of three leapfrog substeps (error ~ dt^4).
_CUBE_ROOT_2 = 2.0 ** (1.0 / 3.0)
SYMPLECTIC = {"leapfrog": (1.0,),
              "yoshida4": (1 / (2 - _CUBE_ROOT_2), -_CUBE_ROOT_2 / (2 - _CUBE_ROOT_2), 1 / (2 - _CUBE_ROOT_2))}


class Pairs:
    """Index pairs i < j of n bodies; ``gather`` sums per-pair forces on i (+) and j (-)."""

    def __init__(self, n_bodies: int):
        self.i, self.j = np.triu_indices(n_bodies, k=1)
        self.incidence = np.zeros((n_bodies, self.i.size))
        self.incidence[self.i, np.arange(self.i.size)] = 1.0
        self.incidence[self.j, np.arange(self.i.size)] = -1.0

    def gather(self, pair_force):  # [sim, pair, dim] -> [sim, body, dim]
        return np.matmul(self.incidence, pair_force)


def evaluate(law: str, p: dict, pairs: Pairs, pos, vel, mass):
    """Accelerations [sim, body, dim] and the shortest pair time scale per simulation [sim]."""
    d = pos[:, pairs.i] - pos[:, pairs.j]          # x_i - x_j
    dv = vel[:, pairs.i] - vel[:, pairs.j]
    r = np.sqrt(np.einsum("spk,spk->sp", d, d))
    r_soft = r + p.get("softening", 0.0)
    mi, mj = mass[:, pairs.i], mass[:, pairs.j]
    if law == "morse":
        bond = np.exp(-p["width"] * (r_soft - p["rest_length"]))
        coefficient = -2.0 * p["depth"] * p["width"] * (1.0 - bond) * bond   # -dU/dr'
    elif law == "r3":
        coefficient = -mi * mj / r_soft ** 3
    elif law == "quadratic_drag":
        coefficient = -2.0 * (r_soft - p["rest_length"])
    else:
        raise ValueError(f"no numpy force for law {law!r}")
    along = np.divide(coefficient, r, out=np.zeros_like(r), where=r > 0)
    force = along[..., None] * d
    speed = np.sqrt(np.einsum("spk,spk->sp", dv, dv))
    if law == "quadratic_drag":
        force -= p["drag"] * speed[..., None] * dv
    acc = pairs.gather(force) / mass[..., None]
    relative_acc = np.sqrt(np.einsum("spk,spk->sp", force, force)) * (1.0 / mi + 1.0 / mj)
    with np.errstate(divide="ignore"):
        tau = np.minimum(r / speed, np.sqrt(r_soft / relative_acc))
    return acc, tau.min(axis=1)


def potential_energy(law: str, p: dict, pairs: Pairs, pos, mass):
    """Total pair potential [...] of a conservative law; pos [..., body, dim], mass [..., body]."""
    d = pos[..., pairs.i, :] - pos[..., pairs.j, :]
    r_soft = np.sqrt((d ** 2).sum(-1)) + p.get("softening", 0.0)
    if law == "morse":
        u = p["depth"] * (1.0 - np.exp(-p["width"] * (r_soft - p["rest_length"]))) ** 2
    elif law == "r3":
        u = -mass[..., pairs.i] * mass[..., pairs.j] / (2.0 * r_soft ** 2)
    else:
        raise ValueError(f"law {law!r} is not conservative")
    return u.sum(-1)


def initial_conditions(n_sims: int, n_bodies: int, dim: int, seed: int):
    pos, vel = np.empty((n_sims, n_bodies, dim)), np.empty((n_sims, n_bodies, dim))
    mass, charge = np.empty((n_sims, n_bodies)), np.empty((n_sims, n_bodies))
    for k in range(n_sims):
        rng = np.random.default_rng([seed, k])  # sim k is the same whatever n_sims is
        pos[k], vel[k] = rng.normal(size=(n_bodies, dim)), rng.normal(size=(n_bodies, dim))
        mass[k], charge[k] = np.exp(rng.normal(size=n_bodies)), rng.choice([-1.0, 1.0], size=n_bodies)
    return pos, vel, mass, charge


def integrate(law: str, p: dict, pos, vel, mass, times, integrator: str, dt_max: float, eta: float):
    """Recorded (pos, vel, acc) [sim, time, body, dim] at ``times`` and the steps each simulation took."""
    pairs = Pairs(pos.shape[1])
    pos, vel = pos.copy(), vel.copy()
    acc, tau = evaluate(law, p, pairs, pos, vel, mass)
    t = np.full(pos.shape[0], times[0])
    frames = [(pos.copy(), vel.copy(), acc.copy())]
    n_steps = np.zeros(pos.shape[0], int)
    for target in times[1:]:
        while (active := np.flatnonzero(t < target)).size:
            x, v, a, m = pos[active], vel[active], acc[active], mass[active]
            dt = np.minimum(np.minimum(dt_max, eta * tau[active]), target - t[active])
            h = dt[:, None, None]
            if integrator in SYMPLECTIC:
                for weight in SYMPLECTIC[integrator]:  # kick-drift-kick substeps
                    v = v + 0.5 * weight * h * a
                    x = x + weight * h * v
                    a, tau_new = evaluate(law, p, pairs, x, v, m)
                    v = v + 0.5 * weight * h * a
            else:  # classical RK4 on (x, v); a holds the first stage
                k2v, _ = evaluate(law, p, pairs, x + 0.5 * h * v, v + 0.5 * h * a, m)
                k2x = v + 0.5 * h * a
                k3v, _ = evaluate(law, p, pairs, x + 0.5 * h * k2x, v + 0.5 * h * k2v, m)
                k3x = v + 0.5 * h * k2v
                k4v, _ = evaluate(law, p, pairs, x + h * k3x, v + h * k3v, m)
                k4x = v + h * k3v
                x, v = (x + h / 6 * (v + 2 * k2x + 2 * k3x + k4x),
                        v + h / 6 * (a + 2 * k2v + 2 * k3v + k4v))
                a, tau_new = evaluate(law, p, pairs, x, v, m)
            pos[active], vel[active], acc[active], tau[active] = x, v, a, tau_new
            # Land exactly on the recorded time, without rounding drift.
            t[active] = np.where(dt == target - t[active], target, t[active] + dt)
            n_steps[active] += 1
        frames.append((pos.copy(), vel.copy(), acc.copy()))
    pos_t, vel_t, acc_t = (np.stack([f[k] for f in frames], axis=1) for k in range(3))
    if not (np.isfinite(pos_t).all() and np.isfinite(vel_t).all()):
        raise RuntimeError(f"{law}: a simulation diverged; lower dt_max or eta")
    return pos_t, vel_t, acc_t, n_steps


def diagnostics(law: str, p: dict, pos, vel, mass) -> dict:
    """Momentum drift (all laws) and energy drift (conservative laws), relative to their scale per
    simulation, as the simulator reports them: max over time |E(t) - E(0)| / (mean KE + mean |U|)."""
    m = mass[:, None, :]
    momentum = (m[..., None] * vel).sum(2)
    momentum_scale = (m[..., None] * np.abs(vel)).sum((2, 3)).mean(1)
    out = {"max_relative_momentum_drift": float((np.abs(momentum - momentum[:, :1]).max((1, 2))
                                                 / momentum_scale).max())}
    if law in ("morse", "r3"):
        kinetic = 0.5 * (m * (vel ** 2).sum(-1)).sum(-1)
        potential = potential_energy(law, p, Pairs(pos.shape[2]), pos, m)
        energy = kinetic + potential
        drift = np.abs(energy - energy[:, :1]).max(1) / (kinetic.mean(1) + np.abs(potential).mean(1))
        out.update(max_relative_energy_drift=float(drift.max()), median_relative_energy_drift=float(np.median(drift)))
    return out


def to_dataset(pos, vel, acc, mass, charge, times, law: str, p: dict) -> xr.Dataset:
    length, time_unit = UNITS["length"], UNITS["time"]
    vector = ("sim", "time", "body", "dim")
    return xr.Dataset(
        {"pos": (vector, pos, {"units": length, "long_name": "position"}),
         "vel": (vector, vel, {"units": f"{length}/{time_unit}", "long_name": "velocity"}),
         "acc": (vector, acc, {"units": f"{length}/{time_unit}**2", "long_name": "acceleration"}),
         "mass": (("sim", "body"), mass, {"units": UNITS["mass"], "long_name": "mass"}),
         "charge": (("sim", "body"), charge, {"units": UNITS["charge"], "long_name": "charge"})},
        coords={"sim": np.arange(pos.shape[0]), "time": ("time", times, {"units": time_unit}),
                "body": np.arange(pos.shape[2]), "dim": ["x", "y", "z"][: pos.shape[3]]},
        # NetCDF attributes are flat: the law travels as a JSON string (and in the .json beside).
        attrs={"title": f"{pos.shape[2]} bodies under the {law} pair law (benchmarks/novel_laws.py)",
               "force_law": json.dumps({"name": law, "parameters": p,
                                        "potential": NOVEL_LAWS[law]["potential"]})})


def check_ingest(path: Path, expected: xr.Dataset) -> None:
    """Read the file back through the project's own [ingest] loader; fail loudly if it is not usable."""
    from symdistill.catalogs import read_dataset_file
    from symdistill.components.ingest import ingest
    ds = ingest(read_dataset_file(path), target="acc")
    assert dict(ds.sizes) == dict(expected.sizes), (ds.sizes, expected.sizes)
    for name in ("pos", "vel", "acc", "mass", "charge"):
        np.testing.assert_allclose(ds[name].values, expected[name].values, rtol=1e-12)


def generate(law: str, out: Path, dim: int, n_sims: int, n_bodies: int, n_frames: int, seed: int) -> dict:
    p, run = NOVEL_LAWS[law]["parameters"], RUNS[law]
    times = np.linspace(0.0, run["duration"], n_frames)
    pos0, vel0, mass, charge = initial_conditions(n_sims, n_bodies, dim, seed)
    start = time.perf_counter()
    pos, vel, acc, n_steps = integrate(law, p, pos0, vel0, mass, times, run["integrator"], run["dt_max"], run["eta"])
    seconds = time.perf_counter() - start
    diag = {**diagnostics(law, p, pos, vel, mass), "generation_seconds": round(seconds, 2),
            "steps_per_sim_median_max": [int(np.median(n_steps)), int(n_steps.max())],
            "acc_abs_quantiles_50_99_100": [float(q) for q in np.quantile(np.abs(acc), [0.5, 0.99, 1.0])]}
    ds = to_dataset(pos, vel, acc, mass, charge, times, law, p)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{law}{dim}d"
    ds.to_netcdf(stem.with_suffix(".nc"), engine="h5netcdf")
    check_ingest(stem.with_suffix(".nc"), ds)
    meta = {"name": law, "parameters": p, "potential": NOVEL_LAWS[law]["potential"], "why": NOVEL_LAWS[law]["why"],
            "distance": "r' = |x_i - x_j| + softening", "n_sims": n_sims, "n_bodies": n_bodies, "dim": dim,
            "seed": seed, "times": {"start": 0.0, "stop": run["duration"], "n_frames": n_frames},
            "integrator": run, "units": UNITS, "diagnostics": diag}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"path": str(stem.with_suffix(".nc")), **diag}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law", default="all", choices=[*NOVEL_LAWS, "all"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--dim", type=int, default=2, choices=(2, 3))
    parser.add_argument("--n-sims", type=int, default=500)
    parser.add_argument("--n-bodies", type=int, default=4)
    parser.add_argument("--n-frames", type=int, default=101)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for law in NOVEL_LAWS if args.law == "all" else [args.law]:
        report = generate(law, args.out, args.dim, args.n_sims, args.n_bodies, args.n_frames, args.seed)
        energy = (f"energy drift max {report['max_relative_energy_drift']:.2e}, "
                  f"median {report['median_relative_energy_drift']:.2e}"
                  if "max_relative_energy_drift" in report else "energy drift n/a (dissipative law)")
        median_steps, max_steps = report["steps_per_sim_median_max"]
        print(f"{law}: {report['generation_seconds']:.1f} s, steps per sim median {median_steps}, max {max_steps}; "
              f"{energy}; momentum drift {report['max_relative_momentum_drift']:.1e}; "
              f"|acc| median/p99/max {'/'.join(f'{q:.3g}' for q in report['acc_abs_quantiles_50_99_100'])}; "
              f"-> {report['path']}")


if __name__ == "__main__":
    main()

"""Draw initial conditions, integrate, and package the result in the shared dataset schema."""
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import xarray as xr

from symdistill.components.simulate.adaptive import STATS, STEP_CONTROLS, integrate_adaptive
from symdistill.components.simulate.forces import ForceLaw, pair_potential
from symdistill.components.simulate.integrate import INTEGRATORS, integrate

DIM_LABELS = ("x", "y", "z")
DEFAULT_UNITS = {"length": "m", "time": "s", "mass": "kg", "charge": "C"}
DEFAULT_TOLERANCE = 1e-3


def initial_conditions(n_sims: int, n_bodies: int, dim: int, seed: int):
    """Positions and velocities N(0, 1), masses exp(N(0, 1)), charges +-1 (METHOD.md §2a).

    Simulation k draws from its own stream ``(seed, k)``, so it is the same whatever ``n_sims`` is.
    """
    pos = np.empty((n_sims, n_bodies, dim))
    vel = np.empty((n_sims, n_bodies, dim))
    mass = np.empty((n_sims, n_bodies))
    charge = np.empty((n_sims, n_bodies))
    for k in range(n_sims):
        rng = np.random.default_rng([seed, k])
        pos[k] = rng.normal(size=(n_bodies, dim))
        vel[k] = rng.normal(size=(n_bodies, dim))
        mass[k] = np.exp(rng.normal(size=n_bodies))
        charge[k] = rng.choice([-1.0, 1.0], size=n_bodies)
    return pos, vel, mass, charge


def simulate(law: ForceLaw, *, n_bodies: int, dim: int, n_sims: int, duration: float | None = None,
             record_interval: float | None = None, dt: float | str = "auto", n_steps: int | None = None,
             record_every: int | None = None, integrator: str = "auto", tolerance: float = DEFAULT_TOLERANCE,
             fixed_masses: bool = False, masses=None, fixed_charges: bool = False, charges=None, seed: int = 0,
             units: dict[str, str] | None = None,
             progress: Callable[[int], None] | None = None, batch_size: int = 64) -> xr.Dataset:
    """Simulate ``n_sims`` independent systems of ``n_bodies`` under one pair force law.

    Parameters
    ----------
    law : the pair force law and its parameters.
    duration, record_interval : states are recorded every ``record_interval`` from 0 to ``duration``.
    dt : "auto" (adaptive steps meeting ``tolerance``, see ``adaptive``) or a fixed step dividing
        ``record_interval``. With a fixed dt the grid may be given instead as ``n_steps`` steps of which
        every ``record_every``-th is kept.
    integrator : "auto" (rk4 for the velocity-dependent damped law, else leapfrog), "leapfrog" or "rk4".
    tolerance : with dt = "auto", the bound on the relative energy drift (laws with a potential) or on the
        step-doubling position error over the run, relative to the system's size (damped, discontinuous).
    fixed_masses, fixed_charges : draw once (simulation 0's draw) and keep each body's value in every
        simulation, as planets keep their masses; otherwise every simulation draws its own.
    masses, charges : one value per body, used in every simulation, instead of drawn ones.
    units : units of length, time, mass and charge; recorded in the variables' attributes.
    progress : called with the number of simulations finished after each batch (fixed dt: ``batch_size``
        simulations; auto: a few).

    Returns
    -------
    xr.Dataset with ``pos``, ``vel``, ``acc`` [sim, time, body, dim], ``mass``, ``charge`` [sim, body],
    the force law in ``attrs["force_law"]``, the integration actually done in ``attrs["integrator"]`` and
    conservation diagnostics in ``attrs["diagnostics"]``.

    Raises
    ------
    ValueError
        For an unknown integrator, a velocity-dependent law under leapfrog, an inconsistent time grid,
        bad masses or charges, or a simulation that diverged or could not meet the tolerance.
    """
    integrator = choose_integrator(law, integrator)
    grid = record_grid(duration, record_interval, dt, n_steps, record_every)
    units = {**DEFAULT_UNITS, **(units or {})}
    pos0, vel0, mass, charge = initial_conditions(n_sims, n_bodies, dim, seed)
    mass = body_values("masses", masses, fixed_masses, mass, positive=True)
    charge = body_values("charges", charges, fixed_charges, charge, positive=False)
    code = INTEGRATORS.index(integrator)
    if grid.dt is None:
        if not 0 < tolerance < 1:
            raise ValueError(f"tolerance must be between 0 and 1 (a relative error), got {tolerance}")
        control = "energy" if law.conservative else "step_doubling"
        pos, vel, acc, stats = integrate_adaptive(pos0, vel0, mass, charge, law.code, law.softening, law.damping,
                                                  grid.interval, grid.n_intervals, code,
                                                  STEP_CONTROLS.index(control), tolerance, progress)
        _check_adaptive(stats, control)
        done = {"dt": "auto", "step_control": control, "tolerance": tolerance, **_step_summary(stats)}
    else:
        parts = []
        for start in range(0, n_sims, batch_size):
            batch = slice(start, min(start + batch_size, n_sims))
            parts.append(integrate(pos0[batch], vel0[batch], mass[batch], charge[batch], law.code, law.softening,
                                   law.damping, grid.dt, grid.n_steps, grid.steps_per_record, code))
            if progress is not None:
                progress(batch.stop - batch.start)
        pos, vel, acc = (np.concatenate([p[i] for p in parts]) for i in range(3))
        _check_finite(pos, vel, grid.dt)
        done = {"dt": grid.dt, "step_control": "fixed", "n_steps": grid.n_steps,
                "record_every": grid.steps_per_record, "steps": n_sims * grid.n_steps}
    ds = _package(pos, vel, acc, mass, charge, np.arange(grid.n_intervals + 1) * grid.interval, units)
    ds.attrs["source"] = "simulate"
    ds.attrs["target"] = "acc"
    ds.attrs["force_law"] = law.as_attrs()
    ds.attrs["integrator"] = {"name": integrator, **done, "duration": grid.n_intervals * grid.interval,
                              "record_interval": grid.interval, "seed": seed}
    ds.attrs["bodies"] = {"masses": _origin(masses, fixed_masses), "charges": _origin(charges, fixed_charges)}
    ds.attrs["diagnostics"] = conservation_diagnostics(ds, law)
    return ds


def choose_integrator(law: ForceLaw, integrator: str) -> str:
    """The integrator to use: "auto" is rk4 for the velocity-dependent damped law, leapfrog otherwise.

    Measured with dt = "auto" (500 simulations of 4 or 8 bodies): leapfrog needs a quarter of rk4's force
    evaluations on discontinuous and half on spring and r1, but 1.3 to 1.75 times as many on r2 and charge;
    one rule, leapfrog unless the force depends on velocity, costs at most that.
    """
    if integrator not in ("auto", *INTEGRATORS):
        raise ValueError(f"unknown integrator {integrator!r}; choose one of auto, {', '.join(INTEGRATORS)}")
    if integrator == "auto":
        return "rk4" if law.name == "damped" else "leapfrog"
    if law.name == "damped" and integrator == "leapfrog":
        raise ValueError("the damped law depends on velocity: use integrator 'rk4' or 'auto'")
    return integrator


class RecordGrid(NamedTuple):
    interval: float  # time between records
    n_intervals: int  # records after the initial one
    dt: float | None  # the fixed step, None for "auto"
    steps_per_record: int | None

    @property
    def n_steps(self) -> int:
        return self.n_intervals * self.steps_per_record


def record_grid(duration, record_interval, dt, n_steps=None, record_every=None) -> RecordGrid:
    """The record times and, for a fixed dt, the steps between them.

    The grid is ``duration`` and ``record_interval`` in time units or, with a fixed dt only, ``n_steps``
    and ``record_every`` counted in steps (``n_steps // record_every`` intervals, as kept before).
    """
    fixed = not isinstance(dt, str)
    if isinstance(dt, str) and dt != "auto":
        raise ValueError(f"dt must be 'auto' or a step greater than 0, got {dt!r}")
    if fixed and not dt > 0:
        raise ValueError(f"dt must be 'auto' or a step greater than 0, got {dt!r}")
    if n_steps is not None or record_every is not None:
        if not fixed or None in (n_steps, record_every) or duration is not None or record_interval is not None:
            raise ValueError("n_steps and record_every go together with a fixed dt, without duration and "
                             "record_interval")
        if not 1 <= record_every <= n_steps:
            raise ValueError(f"record_every ({record_every}) must be between 1 and n_steps ({n_steps})")
        return RecordGrid(record_every * dt, n_steps // record_every, dt, record_every)
    if duration is None or record_interval is None or not (duration > 0 and record_interval > 0):
        raise ValueError(f"give duration and record_interval, both > 0 (got {duration}, {record_interval})")
    n_intervals = _whole(duration / record_interval, f"duration ({duration}) must be a whole number of record "
                                                     f"intervals ({record_interval})")
    if not fixed:
        return RecordGrid(record_interval, n_intervals, None, None)
    return RecordGrid(record_interval, n_intervals, dt, _whole(record_interval / dt, f"a fixed dt ({dt}) must "
                                                               f"divide record_interval ({record_interval})"))


def _whole(ratio: float, message: str) -> int:
    count = round(ratio)
    if count < 1 or abs(ratio - count) > 1e-9 * ratio:
        raise ValueError(message)
    return count


def body_values(name: str, given, fixed: bool, drawn: np.ndarray, *, positive: bool) -> np.ndarray:
    """[sim, body] values: ``drawn``, its first simulation's row for all (``fixed``), or ``given`` for all."""
    n_sims, n_bodies = drawn.shape
    if given is None:
        return np.repeat(drawn[:1], n_sims, axis=0) if fixed else drawn
    if fixed:
        raise ValueError(f"give fixed_{name} or {name}, not both: given {name} are the same in every simulation")
    values = np.asarray(given, dtype=float)
    if values.shape != (n_bodies,):
        raise ValueError(f"{name} lists {values.size} values but there are {n_bodies} bodies: give one per body")
    if not np.isfinite(values).all() or (positive and not (values > 0).all()):
        allowed = "positive and finite" if positive else "finite"
        raise ValueError(f"{name} must all be {allowed}, got {values.tolist()}")
    return np.repeat(values[None], n_sims, axis=0)


def _origin(given, fixed: bool) -> str:
    return "given" if given is not None else "fixed" if fixed else "random"


def _step_summary(stats: np.ndarray) -> dict:
    steps = stats[:, STATS.index("steps")]
    return {"steps": int(steps.sum()), "steps_per_sim_median": float(np.median(steps)),
            "steps_per_sim_max": int(steps.max()), "min_step": float(stats[:, STATS.index("min_step")].min()),
            "rejected": int(stats[:, STATS.index("rejected")].sum()),
            "force_evaluations": int(stats[:, STATS.index("force_evaluations")].sum())}


def _check_adaptive(stats: np.ndarray, control: str) -> None:
    failed_at = stats[:, STATS.index("failed_at")]
    if (failed_at >= 0).any():
        sims = np.flatnonzero(failed_at >= 0)
        what = "the energy drift" if control == "energy" else "the step-doubling error"
        raise ValueError(f"{sims.size} simulation(s) could not keep {what} within the tolerance (first: sim "
                         f"{sims[0]}, after time {failed_at[sims[0]]:g}); increase softening or tolerance, "
                         f"or give a fixed dt")


def _check_finite(pos, vel, dt):
    bad = ~(np.isfinite(pos).all(axis=(1, 2, 3)) & np.isfinite(vel).all(axis=(1, 2, 3)))
    if bad.any():
        sims = np.flatnonzero(bad)
        raise ValueError(f"{sims.size} simulation(s) diverged (first: sim {sims[0]}); "
                         f"reduce dt (now {dt}) or increase softening")


def _package(pos, vel, acc, mass, charge, times, units) -> xr.Dataset:
    length, time = units["length"], units["time"]
    vector = ("sim", "time", "body", "dim")
    return xr.Dataset(
        {
            "pos": (vector, pos, {"units": length, "long_name": "position"}),
            "vel": (vector, vel, {"units": f"{length}/{time}", "long_name": "velocity"}),
            "acc": (vector, acc, {"units": f"{length}/{time}**2", "long_name": "acceleration"}),
            "mass": (("sim", "body"), mass, {"units": units["mass"], "long_name": "mass"}),
            "charge": (("sim", "body"), charge, {"units": units["charge"], "long_name": "charge"}),
        },
        coords={
            "sim": np.arange(pos.shape[0]),
            "time": ("time", times, {"units": time}),
            "body": np.arange(pos.shape[2]),
            "dim": list(DIM_LABELS[: pos.shape[3]]),
        },
    )


def energy_parts(ds: xr.Dataset, law: ForceLaw) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic and pair potential energy, each [sim, time]; the potential only for conservative laws."""
    pos, vel = ds["pos"].values, ds["vel"].values
    mass, charge = ds["mass"].values[:, None, :], ds["charge"].values[:, None, :]
    kinetic = 0.5 * (mass * (vel ** 2).sum(-1)).sum(-1)
    i, j = np.triu_indices(pos.shape[2], k=1)
    dist = np.sqrt(((pos[:, :, i] - pos[:, :, j]) ** 2).sum(-1))
    potential = pair_potential(law, dist + law.softening, mass[..., i], mass[..., j],
                               charge[..., i], charge[..., j]).sum(-1)
    return kinetic, potential


def total_energy(ds: xr.Dataset, law: ForceLaw) -> xr.DataArray:
    """Kinetic plus pair potential energy per (sim, time)."""
    kinetic, potential = energy_parts(ds, law)
    return xr.DataArray(kinetic + potential, dims=("sim", "time"))


def total_momentum(ds: xr.Dataset) -> xr.DataArray:
    """Total momentum per (sim, time, dim)."""
    return (ds["mass"] * ds["vel"]).sum("body")


def conservation_diagnostics(ds: xr.Dataset, law: ForceLaw) -> dict:
    """Largest momentum drift (all laws) and energy drift (conservative laws), relative to scale."""
    momentum = total_momentum(ds).values
    momentum_scale = (ds["mass"] * np.abs(ds["vel"])).sum(("body", "dim")).mean("time").values
    drift = np.abs(momentum - momentum[:, :1]).max(axis=(1, 2)) / momentum_scale
    out = {"max_relative_momentum_drift": float(drift.max())}
    if law.conservative:
        kinetic, potential = energy_parts(ds, law)
        energy = kinetic + potential
        scale = kinetic.mean(axis=1) + np.abs(potential).mean(axis=1)
        energy_drift = np.abs(energy - energy[:, :1]).max(axis=1) / scale
        out["max_relative_energy_drift"] = float(energy_drift.max())
        out["median_relative_energy_drift"] = float(np.median(energy_drift))
        # Close encounters at fixed step are where energy drifts; say how many simulations had one.
        out["fraction_of_sims_energy_drift_above_1pct"] = float(np.mean(energy_drift > 0.01))
    return out

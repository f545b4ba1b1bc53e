"""The data sections of an experiment: [simulate] (the N-body simulator) or [ingest] (the user's own file)."""
from typing import Literal

from pydantic import Field, field_validator, model_validator

from symdistill.config.section import FORCE_LAWS, Section, check_unit


class SimulationUnits(Section):
    length: str = Field("m", description="Unit of positions.")
    time: str = Field("s", description="Unit of time.")
    mass: str = Field("kg", description="Unit of masses.")
    charge: str = Field("C", description="Unit of charges.")

    @field_validator("length", "time", "mass", "charge")
    @classmethod
    def _known_unit(cls, value: str) -> str:
        return check_unit(value)


class SimulateConfig(Section):
    """N-body simulation of one of the paper's pair force laws (METHOD.md §2a).

    Time: states are recorded every ``record_interval`` from 0 to ``duration``. With ``dt = "auto"`` the
    simulator picks its own steps between records to meet ``tolerance``; with a fixed ``dt`` the same grid may
    also be written the old way, as ``n_steps`` and ``record_every`` counted in steps of dt.
    """

    law: Literal[FORCE_LAWS] = Field(description="Pair force law: r2, r1, spring, damped, charge or discontinuous.")
    n_bodies: int = Field(4, ge=2, le=64, description="Bodies per simulation.")
    dim: Literal[2, 3] = Field(2, description="Spatial dimension.")
    n_sims: int = Field(500, ge=1, le=1_000_000, description="Independent simulations in the dataset.")
    duration: float = Field(10.0, gt=0, description="Simulated time per simulation, in time units "
                                                    "(with a fixed dt: n_steps * dt).")
    record_interval: float = Field(0.1, gt=0, description="Time between recorded states; duration / "
                                   "record_interval + 1 states are kept, the initial one included "
                                   "(with a fixed dt: record_every * dt).")
    dt: float | str = Field("auto", description="Integration step: 'auto' (adaptive steps meeting `tolerance`, "
                            "ending exactly on the record times) or a fixed step in time units that divides "
                            "record_interval.")
    tolerance: float = Field(1e-3, gt=0, lt=1, description="With dt = 'auto': the largest relative energy drift, "
                             "max |E - E0| / (mean K + mean |U|), for r2, r1, spring and charge; for damped and "
                             "discontinuous, the step-doubling bound on position error over the run, relative "
                             "to the system's size.")
    n_steps: int | None = Field(None, ge=1, description="Fixed dt only: duration counted in steps of dt "
                                "(instead of duration).")
    record_every: int | None = Field(None, ge=1, description="Fixed dt only: keep every k-th step "
                                     "(instead of record_interval).")
    integrator: Literal["auto", "leapfrog", "rk4"] = Field(
        "auto", description="auto (leapfrog, except rk4 for the velocity-dependent damped law), leapfrog "
                            "(velocity Verlet, symplectic) or rk4.")
    seed: int = Field(0, ge=0, description="Seed of masses, charges and initial conditions.")
    fixed_masses: bool = Field(False, description="Draw the masses once (simulation 0's draw) and keep each "
                               "body's mass in every simulation, as planets keep theirs; false: every "
                               "simulation draws its own, exp(N(0, 1)).")
    masses: list[float] | None = Field(None, description="One positive mass per body, used in every simulation "
                                       "instead of drawn ones.")
    fixed_charges: bool = Field(False, description="Draw the charges (+1 or -1) once and keep them in every "
                                "simulation; false: every simulation draws its own.")
    charges: list[float] | None = Field(None, description="One charge per body, used in every simulation "
                                        "instead of drawn ones.")
    softening: float = Field(0.01, ge=0, description="Added to pair distances: r' = |x_i - x_j| + softening.")
    damping: float = Field(0.5, ge=0, description="Pairwise damping coefficient of the damped law.")
    units: SimulationUnits = Field(default_factory=SimulationUnits, description="Units of the simulated quantities.")

    @model_validator(mode="before")
    @classmethod
    def _steps_as_times(cls, data):
        """n_steps and record_every, counted in steps of a fixed dt, become duration and record_interval."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        dt = data.get("dt", "auto")
        given = {count: data[count] for count in ("n_steps", "record_every")
                 if isinstance(data.get(count), int) and not isinstance(data.get(count), bool)}
        if not given:
            return data
        if isinstance(dt, bool) or not isinstance(dt, (int, float)):
            raise ValueError(f"{' and '.join(given)} count steps of a fixed dt; with dt = {dt!r} give duration "
                             f"and record_interval in time units instead")
        if len(given) == 2 and given["record_every"] > given["n_steps"]:
            raise ValueError(f"record_every ({given['record_every']}) must not exceed n_steps ({given['n_steps']})")
        if len(given) == 2 and given["n_steps"] % given["record_every"]:
            raise ValueError(f"n_steps ({given['n_steps']}) must be a multiple of record_every "
                             f"({given['record_every']}): states are kept every record_every steps to the end")
        for count, span in (("n_steps", "duration"), ("record_every", "record_interval")):
            if count in given:
                if span in data:
                    raise ValueError(f"give {span} or {count}, not both")
                data[span] = given[count] * dt
        return data

    @field_validator("dt", mode="before")
    @classmethod
    def _auto_or_positive(cls, value):
        if value == "auto" or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            return value
        raise ValueError(f"dt must be 'auto' or a step greater than 0 in time units, got {value!r}")

    @model_validator(mode="after")
    def _consistent(self):
        intervals = self.duration / self.record_interval
        if abs(intervals - round(intervals)) > 1e-9 * intervals or round(intervals) < 1:
            raise ValueError(f"duration ({self.duration}) must be a whole number of record intervals "
                             f"({self.record_interval})")
        if self.dt != "auto":
            steps = self.record_interval / self.dt
            if abs(steps - round(steps)) > 1e-9 * steps or round(steps) < 1:
                raise ValueError(f"a fixed dt ({self.dt}) must divide record_interval ({self.record_interval})")
            if "tolerance" in self.model_fields_set:
                raise ValueError("tolerance applies to dt = 'auto'; a fixed dt has no error control")
        if self.law == "damped" and self.integrator == "leapfrog":
            raise ValueError("the damped law depends on velocity, so leapfrog is not symplectic for it; "
                             "set integrator = 'rk4' or 'auto'")
        for name in ("masses", "charges"):
            values = getattr(self, name)
            if values is None:
                continue
            if getattr(self, f"fixed_{name}"):
                raise ValueError(f"give fixed_{name} or {name}, not both: given {name} are the same in every "
                                 f"simulation")
            if len(values) != self.n_bodies:
                raise ValueError(f"{name} lists {len(values)} values but n_bodies is {self.n_bodies}: "
                                 f"give one per body")
        if self.masses is not None and not all(0 < m < float("inf") for m in self.masses):
            raise ValueError(f"masses must all be positive and finite, got {self.masses}")
        if self.charges is not None and not all(abs(q) < float("inf") for q in self.charges):
            raise ValueError(f"charges must all be finite, got {self.charges}")
        return self


class IngestConfig(Section):
    """The user's own measurements, brought to the same schema as a simulation."""

    path: str = Field(min_length=1, description="Data file (NetCDF, Zarr folder or CSV), relative to the config file.")
    format: Literal["auto", "netcdf", "zarr", "csv"] = Field("auto", description="auto picks from the file name.")
    target: str = Field("acc", min_length=1, description="Per-body quantity to learn: acc, or any per-body variable.")
    units: dict[str, str] = Field(
        default_factory=dict,
        description="Units per variable (and 'time'), for files whose attributes carry none.")

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: dict[str, str]) -> dict[str, str]:
        for unit in value.values():
            check_unit(unit)
        return value

"""Pydantic models of an experiment TOML: one section per stage, strict types, documented defaults.

Every section forbids unknown keys and is frozen, so a loaded experiment is a value that
can be hashed into artifact keys.
"""
from typing import Literal

import pint
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORCE_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")
DATA_STAGES = ("simulate", "ingest")

_UNITS = pint.UnitRegistry()


def check_unit(text: str) -> str:
    """Return ``text`` if pint understands it as a unit, else raise ValueError naming it."""
    try:
        _UNITS.parse_units(text)
    except Exception:  # pint raises several types (UndefinedUnitError, syntax errors)
        raise ValueError(f"unknown unit {text!r}; use a pint unit string such as 'm', 'm/s**2', 'kg'")
    return text


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ExperimentInfo(Section):
    name: str = Field(min_length=1, description="Experiment name, recorded in every artifact's provenance.")
    description: str = Field("", description="Free text for people.")


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
    """N-body simulation of one of the paper's pair force laws (METHOD.md §2a)."""

    law: Literal[FORCE_LAWS] = Field(description="Pair force law: r2, r1, spring, damped, charge or discontinuous.")
    n_bodies: int = Field(4, ge=2, le=64, description="Bodies per simulation.")
    dim: Literal[2, 3] = Field(2, description="Spatial dimension.")
    n_sims: int = Field(500, ge=1, le=1_000_000, description="Independent simulations in the dataset.")
    n_steps: int = Field(1000, ge=1, description="Integration steps per simulation.")
    dt: float = Field(0.01, gt=0, description="Fixed step, in time units.")
    record_every: int = Field(10, ge=1, description="Keep every k-th step (the initial state is always kept).")
    integrator: Literal["leapfrog", "rk4"] = Field(
        "leapfrog", description="leapfrog (velocity Verlet, symplectic) or rk4 (needed for the damped law).")
    seed: int = Field(0, ge=0, description="Seed of masses, charges and initial conditions.")
    softening: float = Field(0.01, ge=0, description="Added to pair distances: r' = |x_i - x_j| + softening.")
    damping: float = Field(0.5, ge=0, description="Pairwise damping coefficient of the damped law.")
    units: SimulationUnits = Field(default_factory=SimulationUnits, description="Units of the simulated quantities.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.record_every > self.n_steps:
            raise ValueError(f"record_every ({self.record_every}) must not exceed n_steps ({self.n_steps})")
        if self.law == "damped" and self.integrator == "leapfrog":
            raise ValueError("the damped law depends on velocity, so leapfrog is not symplectic for it; "
                             "set integrator = 'rk4'")
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


class Experiment(Section):
    """A whole experiment: what data, and (in later stages) how to distil it."""

    experiment: ExperimentInfo
    simulate: SimulateConfig | None = None
    ingest: IngestConfig | None = None

    @model_validator(mode="after")
    def _one_data_stage(self):
        given = [name for name in DATA_STAGES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one data stage section is needed, [simulate] or [ingest]; got {given or 'none'}")
        return self

    @property
    def data_stage(self) -> str:
        return "simulate" if self.simulate is not None else "ingest"

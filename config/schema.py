"""Pydantic models of an experiment TOML: one section per stage, strict types, documented defaults.

Every section forbids unknown keys and is frozen, so a loaded experiment is a value that
can be hashed into artifact keys.
"""
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORCE_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")
DATA_STAGES = ("simulate", "ingest")
DEFAULT_UNARY_OPERATORS = ("square", "sqrt", "exp", "log", "sin", "cos")

@lru_cache(maxsize=1)
def _units():
    import pint  # building a registry takes ~0.3 s; only configs that name units pay it

    return pint.UnitRegistry()


@lru_cache(maxsize=256)
def check_unit(text: str) -> str:
    """Return ``text`` if pint understands it as a unit, else raise ValueError naming it."""
    try:
        _units().parse_units(text)
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


class TrainSurrogateConfig(Section):
    """The graph network surrogate and its training (METHOD.md §2a, scaled to CPU minutes)."""

    variant: Literal["standard", "l1", "kl", "bottleneck"] = Field(
        "bottleneck", description="standard, l1 (L1 on messages), kl (variational messages) or bottleneck "
                                  "(message size = spatial dimension).")
    message_dim: int | None = Field(None, ge=1, description="Message size; default 100 (bottleneck: the spatial dim).")
    hidden: int = Field(128, ge=1, description="Units per hidden layer of the edge and node MLPs.")
    layers: int = Field(3, ge=1, description="Hidden layers per MLP.")
    edge_features: list[Literal["dx", "r", "dv", "v", "properties", "sender_properties"]] = Field(
        # the sender's properties only: the receiver's reach the node model, and in messages they let the
        # network carry a receiver-dependent scale that the node undoes, which no pair law has
        default_factory=lambda: ["dx", "r", "dv", "sender_properties"],
        description="Edge inputs: dx (receiver - sender), r, dv, v (both velocities), properties (both bodies'), "
                    "sender_properties (the sender's only: the receiver's reach the node model, so messages "
                    "cannot carry a receiver-dependent scale that the node undoes).")
    node_features: list[Literal["properties", "v"]] = Field(
        default_factory=lambda: ["properties"], description="Node inputs besides the summed message.")
    radius: float | None = Field(None, gt=0, description="Radius graph: only pairs closer than this exchange messages; "
                                                          "None: fully connected.")
    latent_per_body: int = Field(0, ge=0, le=16, description="Learned parameters per body standing for unknown properties (unknown "
                                   "masses): appended to the node inputs, and to an edge's inputs where it would see "
                                   "known properties (both ends with properties, the sender's with "
                                   "sender_properties). Data with no per-body property needs at least 1.")
    epochs: int = Field(30, ge=1, description="Maximum epochs.")
    batch_size: int = Field(128, ge=1, description="Graphs per mini-batch (with [split] unit = 'node': nodes per "
                                                   "mini-batch, each with its incoming edges).")
    learning_rate: float = Field(3e-3, gt=0, description="Peak learning rate of Adam.")
    weight_decay: float = Field(1e-8, ge=0, description="Adam weight decay.")
    schedule: Literal["onecycle", "cosine"] = Field("onecycle", description="Learning-rate schedule.")
    l1_weight: float = Field(1e-2, ge=0, description="Weight of sum |messages| per graph (l1 variant).")
    kl_weight: float = Field(1e-3, ge=0, description="Weight of the KL term per graph (kl variant); at 1.0 the "
                                                     "messages collapse to the prior on our CPU budgets.")
    patience: int = Field(8, ge=1, description="Early stopping: epochs without a better validation loss.")
    seed: int = Field(0, ge=0, description="Seed of the initial weights and the batches (the split has its own, "
                                           "[split] seed).")
    threads: int = Field(0, ge=0, description="torch threads; 0: one per core.")
    checkpoint_every: int = Field(5, ge=1, description="Epochs between resumable checkpoints.")


class CaptureConfig(Section):
    """Recording the surrogate's internal functions on held-out simulations."""

    max_graphs: int = Field(1000, ge=1, description="Held-out graphs (frames) to record, spread over the test split.")
    significance: float = Field(0.1, gt=0, le=1, description="A message component is significant when its std is "
                                                             "at least this fraction of the largest.")
    outlier_quantile: float = Field(0.99, gt=0.5, le=1, description="Message-force fit: drop edges with force "
                                                                    "magnitude above this quantile (robust fit).")


class SearchConfig(Section):
    """Symbolic regression on each captured internal function (METHOD.md §3), islands on Dask workers."""

    binary_operators: list[str] = Field(default_factory=lambda: ["add", "sub", "mul", "div"],
                                        description="Binary operator names of the SR engine.")
    # What physics laws commonly need, so a user need not guess the answer's operators (cost: the discovery matrix).
    unary_operators: list[str] = Field(default_factory=lambda: list(DEFAULT_UNARY_OPERATORS),
                                       description="Unary operator names of the SR engine.")
    max_size: int = Field(20, ge=3, le=60, description="Largest expression complexity.")
    n_islands: int = Field(8, ge=1, description="Islands per function.")
    population_size: int = Field(40, ge=4, description="Members per island.")
    n_iterations: int = Field(30, ge=1, description="Rounds of island evolution per function.")
    max_rows: int = Field(2000, ge=10, description="Captured rows per function given to SR (evenly spread).")
    loss: Literal["l2", "l1", "huber"] = Field("l2", description="Elementwise loss.")
    # relative weighting was tried as the default: on r2-2d it turned a validated near-miss into an equation
    # worse than the network (the network's messages are least precise, relatively, where they are small)
    weighting: Literal["none", "relative"] = Field(
        "none", description="Row weights of the loss: none (every captured row alike) or relative "
                            "(1 / (target² + its median): each row's error relative to its size).")
    seed: int = Field(0, ge=0, description="Seed of every function's search; the same seed gives the "
                      "same fronts whatever the number of workers.")
    share_between_siblings: bool = Field(True, description="Functions with the same inputs (the message components; "
                                         "the node outputs) trade fronts each round, constants re-fitted.")
    migration_fraction_sibling: float = Field(0.05, ge=0, le=1, description="Share of each island's population "
                                              "taken each round from sibling functions' fronts.")
    n_workers: int = Field(0, ge=0, description="Local Dask worker processes; 0: one per core (not part of the key).")
    scheduler: str | None = Field(None, description="Address of an existing Dask scheduler (else a local cluster); "
                                  "--scheduler overrides it (not part of the key).")


class ComposeConfig(Section):
    """Composing one expression per function into one model.

    Each function's expression is chosen by the same rule in every experiment: the composed model's
    held-out loss with the one-standard-error rule (components/evidence.py); there is no window to tune.
    """

    complexity: dict[str, int] = Field(default_factory=dict,
                                       description="Pin a function's expression by complexity: {function = size}.")
    expressions: dict[str, str] = Field(default_factory=dict, description="Give a function's expression yourself, "
                                        "in its feature names: {edge_message0 = \"-2*(r - 0.99)*dx/r\"}; parsed "
                                        "safely (never evaluated), its constants are re-fitted.")


class RefitConfig(Section):
    """Re-fitting the composed model's constants on the data stage's original targets."""

    iterations: int = Field(200, ge=1, description="Levenberg-Marquardt iterations (stops earlier when a step no longer helps).")
    max_graphs: int = Field(5000, ge=1, description="Training frames used for the fit (evenly spread).")


class OodRuleConfig(Section):
    """What is out of distribution: withheld from training, search and every fit, and evaluated at the end."""

    kind: Literal["body_property", "pair_distance", "target"] = Field(
        description="body_property (a per-body variable), pair_distance, or target (|target| component).")
    variable: str = Field("", description="The per-body variable of body_property, e.g. mass.")
    low: float | None = Field(None, description="In distribution from this value (none: unbounded) ... A frame is "
                              "OOD if any body (or pair, or target component) lies outside [low, high].")
    high: float | None = Field(None, description="... up to this value (none: unbounded).")

    @model_validator(mode="after")
    def _consistent(self):
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both: the OOD split is what lies outside [low, high]")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.kind == "body_property" and not self.variable:
            raise ValueError("kind = 'body_property' needs variable (e.g. 'mass')")
        return self


class SplitConfig(Section):
    """Which frames (or nodes) train the network, stop its training, test it, and which are out of distribution.

    Made once (the split stage) and read by every later stage. Simulations (or, with unit = "node", single
    nodes) are split into train, validation and test; what the OOD rule flags is withheld from all three.
    """

    validation_fraction: float = Field(0.1, gt=0, lt=1, description="Simulations held out for early stopping "
                                       "and for choosing each function's expression.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Simulations held out for capture and the final "
                                 "in-distribution errors.")
    seed: int = Field(0, ge=0, description="Seed of the assignment of simulations (or nodes) to train, validation "
                                           "and test.")
    unit: Literal["simulation", "node"] = Field(
        "simulation", description="What is assigned: whole simulations (trajectories), or single nodes (point "
                                  "catalogs: one box may be all the data; the fractions are then of nodes, and the "
                                  "OOD rule withholds nodes, by target or body_property).")
    ood: OodRuleConfig | None = Field(None, description="The out-of-distribution rule (none: nothing withheld).")

    @model_validator(mode="after")
    def _consistent(self):
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("validation_fraction + test_fraction must leave at least 10% for training")
        if self.unit == "node" and self.ood is not None and self.ood.kind == "pair_distance":
            raise ValueError("[split.ood] kind = 'pair_distance' withholds whole frames; with unit = 'node' use "
                             "'target' or 'body_property'")
        return self


class ValidateOodConfig(Section):
    """The final comparison of the network and the equation on the test frames and the OOD frames of [split]."""

    max_graphs: int = Field(5000, ge=1, description="Frames evaluated per split (evenly spread).")


# Keys that moved to [split]; an old config gets one line saying where, not "unknown key".
MOVED_KEYS = {"train_surrogate": {"validation_fraction": "[split] validation_fraction",
                                  "test_fraction": "[split] test_fraction"},
              "validate_ood": {key: f"[split.ood] {key}" for key in ("kind", "variable", "low", "high")}}


class Experiment(Section):
    """A whole experiment: what data, and (in later stages) how to distil it."""

    experiment: ExperimentInfo
    simulate: SimulateConfig | None = None
    ingest: IngestConfig | None = None
    split: SplitConfig = Field(default_factory=SplitConfig)
    train_surrogate: TrainSurrogateConfig = Field(default_factory=TrainSurrogateConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    compose: ComposeConfig = Field(default_factory=ComposeConfig)
    refit: RefitConfig = Field(default_factory=RefitConfig)
    validate_ood: ValidateOodConfig = Field(default_factory=ValidateOodConfig)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, raw):
        if isinstance(raw, dict):
            for section, moved in MOVED_KEYS.items():
                given = [key for key in moved if isinstance(raw.get(section), dict) and key in raw[section]]
                if given:
                    raise ValueError(f"[{section}] {', '.join(given)}: moved to "
                                     f"{', '.join(moved[key] for key in given)}; the split is made once, for "
                                     f"every stage")
        return raw

    @model_validator(mode="after")
    def _one_data_stage(self):
        given = [name for name in DATA_STAGES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one data stage section is needed, [simulate] or [ingest]; got {given or 'none'}")
        return self

    @property
    def data_stage(self) -> str:
        return "simulate" if self.simulate is not None else "ingest"

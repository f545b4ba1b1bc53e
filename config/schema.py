"""Pydantic models of an experiment TOML: one section per stage, strict types, documented defaults.

The data sections ([simulate], [ingest]) are in data_schema.py; what all sections share is in section.py.
"""
from typing import Literal

from pydantic import Field, model_validator

from symdistill.config.data_schema import IngestConfig, SimulateConfig, SimulationUnits
from symdistill.config.section import DATA_STAGES, DEFAULT_UNARY_OPERATORS, FORCE_LAWS, Section, check_unit

__all__ = ["DATA_STAGES", "FORCE_LAWS", "IngestConfig", "Section", "SimulateConfig", "SimulationUnits",
           "check_unit"]


class ExperimentInfo(Section):
    name: str = Field(min_length=1, description="Experiment name, recorded in every artifact's provenance.")
    description: str = Field("", description="Free text for people.")


class TrainSurrogateConfig(Section):
    """The graph network surrogate and its training (METHOD.md §2a, scaled to CPU minutes)."""

    variant: Literal["standard", "l1", "kl", "bottleneck"] = Field(
        "bottleneck", description="standard, l1 (L1 on messages), kl (variational messages) or bottleneck "
                                  "(message size = the target's components: the spatial dimension for "
                                  "acceleration, 1 for a scalar target).")
    message_dim: int | None = Field(None, ge=1, description="Message size; default 100 (bottleneck: the target's "
                                                                  "components).")
    hidden: int = Field(128, ge=1, description="Units per hidden layer of the edge and node MLPs.")
    layers: int = Field(3, ge=1, description="Hidden layers per MLP.")
    edge_features: list[Literal["dx", "r", "dv", "speed", "v", "properties", "sender_properties"]] = Field(
        # the sender's properties only: the receiver's reach the node model, and in messages they let the
        # network carry a receiver-dependent scale that the node undoes, which no pair law has. speed = |dv|
        # is not a default: on the discovery matrix (a523c26) it recovered quadratic drag but lost r2-3d,
        # charge-2d and charge-3d (docs/pipeline.md says how)
        default_factory=lambda: ["dx", "r", "dv", "sender_properties"],
        description="Edge inputs: dx (receiver - sender), r = |dx|, dv, speed = |dv|, v (both velocities), "
                    "properties (both bodies'), "
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
    # A second search with pow by default: r^-3 and the halo catalog's r^20 cut-off need it; compose takes its
    # law only where the final law is better beyond noise (components/compose_choice.py), so what the first
    # search finds is kept (discovery matrix, README).
    second_search_binary_operators: list[str] = Field(
        default_factory=lambda: ["pow"], description="Binary operators added to the ones above for a second "
        "search of every function; compose chooses each function's expression from the first search's fronts "
        "alone and from both, and takes the second search's law only if its held-out loss is lower beyond noise. "
        "Empty (and no second_search_unary_operators): one search.")
    second_search_unary_operators: list[str] = Field(
        default_factory=list, description="Unary operators added for the second search (see the binary ones).")
    operand_limits: dict[str, list[int]] = Field(
        default_factory=dict, description="Largest complexity of each operand of an operator, in every search "
        "that has it, e.g. {pow = [-1, 1]}: any base, an exponent of one node (a constant or a variable); "
        "-1: no limit. One entry per operand (PySR's `constraints`).")
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

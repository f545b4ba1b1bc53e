"""Every stage declared once: its name (that of its component module, task module, config section and store
group), its inputs, the config subset in its key, and the function that computes it.

The plan, the flow, ``status`` and the checks before work all read this table. It imports nothing heavy:
the compute functions are named ``tasks.<stage>.compute`` and imported only when a stage runs.
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from symdistill.config import Experiment

DATA = "data"  # stands for the experiment's data stage, simulate or ingest


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: tuple[str, ...]
    key_config: Callable[[Experiment], dict]  # the part of the config the stage's output depends on
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input -> its datasets read (default all)

    @property
    def compute(self) -> str:
        """Module whose ``compute(ctx, inputs) -> (datasets, summary)`` makes the stage's artifact."""
        return f"symdistill.tasks.{self.name}"

    def input_stages(self, experiment: Experiment) -> tuple[str, ...]:
        return tuple(experiment.data_stage if name == DATA else name for name in self.inputs)

    def datasets_read(self, experiment: Experiment) -> dict[str, tuple[str, ...] | None]:
        """Input stage -> the datasets of its artifact this stage loads (None: all of them)."""
        return {actual: self.reads.get(name) for name, actual in zip(self.inputs, self.input_stages(experiment))}


def _target(experiment: Experiment) -> str:
    return experiment.ingest.target if experiment.data_stage == "ingest" else "acc"


# What a stage loads of its inputs: the data, the split's masks and the network's weights, not whole artifacts.
_DATA, _SPLIT, _WEIGHTS = {DATA: ("data",)}, {"split": ("masks",)}, {"train_surrogate": ("weights",)}

STAGES = {stage.name: stage for stage in (
    Stage("simulate", (), lambda e: e.simulate.model_dump(mode="json")),
    Stage("ingest", (), lambda e: e.ingest.model_dump(mode="json")),  # the plan adds the file's sha256
    Stage("split", (DATA,), lambda e: e.split.model_dump(mode="json"), reads=_DATA),
    Stage("train_surrogate", (DATA, "split"),
          lambda e: {**e.train_surrogate.model_dump(mode="json"), "target": _target(e)}, reads=_DATA | _SPLIT),
    Stage("capture", (DATA, "split", "train_surrogate"), lambda e: e.capture.model_dump(mode="json"),
          reads=_DATA | _SPLIT | _WEIGHTS),
    # Where the Dask scheduler is, or how many workers run, does not change the result.
    Stage("search", ("capture",), lambda e: e.search.model_dump(mode="json", exclude={"scheduler", "n_workers"})),
    # compose makes two searches' candidates into final laws to choose between them, as refit would
    Stage("compose", ("search", "capture", DATA, "split", "train_surrogate"),
          lambda e: {**e.compose.model_dump(mode="json"), "refit": e.refit.model_dump(mode="json")},
          reads={"capture": ("node",)} | _DATA | _SPLIT | _WEIGHTS),
    Stage("refit", ("compose", DATA, "split", "train_surrogate"), lambda e: e.refit.model_dump(mode="json"),
          reads={"compose": ("model",)} | _DATA | _SPLIT | _WEIGHTS),
    Stage("validate_ood", ("refit", DATA, "split", "train_surrogate"),
          lambda e: e.validate_ood.model_dump(mode="json"), reads={"refit": ("model",)} | _DATA | _SPLIT | _WEIGHTS),
)}
STAGE_ORDER = tuple(STAGES)


def stages_of(experiment: Experiment) -> list[Stage]:
    """The experiment's stages in order: its one data stage, then the rest."""
    return [stage for name, stage in STAGES.items()
            if name == experiment.data_stage or name not in ("simulate", "ingest")]

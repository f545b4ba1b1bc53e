"""The stages of an experiment and their artifact keys, computable before anything runs.

Both the flow (to run) and ``symdistill status`` (to explain) use this one plan, so they agree.
"""
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from symdistill.catalogs import ArtifactRef, artifact_key, code_version, file_digest
from symdistill.components import capture as capture_component
from symdistill.components import compose as compose_component
from symdistill.components import constant_units as constant_units_component
from symdistill.components import evidence as evidence_component
from symdistill.components import ood as ood_component
from symdistill.components import search as search_component
from symdistill.components import sr as sr_component
from symdistill.components import ingest as ingest_component
from symdistill.components import latent as latent_component
from symdistill.components import plots as plots_component
from symdistill.components import refit as refit_component
from symdistill.components import simulate as simulate_component
from symdistill.components import train_surrogate as surrogate_component
from symdistill.components import validate_ood as validate_ood_component
from symdistill.config import Experiment

STAGE_ORDER = ("simulate", "ingest", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")
STAGE_CODE = {"simulate": (simulate_component,), "ingest": (ingest_component,),
              "train_surrogate": (surrogate_component, plots_component),
              "capture": (capture_component, surrogate_component, ood_component, plots_component),
              "search": (search_component, sr_component, plots_component),
              "compose": (compose_component, evidence_component, refit_component, latent_component, sr_component,
                          surrogate_component, ood_component),
              "refit": (refit_component, compose_component, evidence_component, latent_component,
                        constant_units_component, sr_component, surrogate_component, ood_component),
              "validate_ood": (validate_ood_component, refit_component, latent_component, compose_component,
                               sr_component, surrogate_component, ood_component, plots_component)}


class PlanError(ValueError):
    """A stage name given on the command line is not part of this experiment."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of one experiment: what it depends on and the key that follows from it."""

    name: str
    config: dict
    inputs: dict[str, str] = field(default_factory=dict)  # upstream stage -> its key
    code: str = ""

    @property
    def key(self) -> str:
        return artifact_key(self.name, self.config, self.inputs, self.code)

    @property
    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.name, self.key)


def build_plan(experiment: Experiment, config_dir: Path) -> dict[str, StageSpec]:
    """Ordered stage name -> spec for the stages that exist so far."""
    plan: dict[str, StageSpec] = {}
    data_stage = experiment.data_stage
    config = getattr(experiment, data_stage).model_dump(mode="json")
    if data_stage == "ingest":
        config["file_sha256"] = file_digest(resolve_data_path(experiment, config_dir))
    plan[data_stage] = StageSpec(data_stage, config, {}, _code(data_stage))
    target = experiment.ingest.target if data_stage == "ingest" else "acc"
    ood = None if experiment.validate_ood is None else experiment.validate_ood.model_dump(mode="json")
    add = _adder(plan)
    add("train_surrogate", {**experiment.train_surrogate.model_dump(mode="json"), "target": target, "ood": ood},
        data_stage)
    add("capture", experiment.capture.model_dump(mode="json"), data_stage, "train_surrogate")
    # Where the Dask scheduler is, or how many workers run, does not change the result.
    add("search", experiment.search.model_dump(mode="json", exclude={"scheduler", "n_workers"}), "capture")
    add("compose", experiment.compose.model_dump(mode="json"), "search", data_stage, "train_surrogate")
    add("refit", experiment.refit.model_dump(mode="json"), "compose", data_stage, "train_surrogate")
    add("validate_ood", {"ood": ood}, "refit", data_stage, "train_surrogate")
    return plan


def _adder(plan: dict[str, StageSpec]):
    def add(stage: str, config: dict, *inputs: str) -> None:
        plan[stage] = StageSpec(stage, config, {name: plan[name].key for name in inputs}, _code(stage))
    return add


def resolve_data_path(experiment: Experiment, config_dir: Path) -> Path:
    path = Path(experiment.ingest.path)
    path = path if path.is_absolute() else config_dir / path
    if not path.exists():
        raise PlanError(f"[ingest] path {experiment.ingest.path!r}: no such file (looked at {path})")
    return path


def select_stages(plan: dict[str, StageSpec], from_stage: str | None, until_stage: str | None):
    """Return (stages to run, stages forced to recompute) for --from / --until."""
    names = list(plan)
    for given in (from_stage, until_stage):
        if given is not None and given not in plan:
            known = ", ".join(STAGE_ORDER)
            raise PlanError(f"stage {given!r} is not in this experiment; its stages are {', '.join(names)} "
                            f"(all stages: {known})")
    stop = names.index(until_stage) + 1 if until_stage else len(names)
    run = names[:stop]
    forced = set(names[names.index(from_stage):]) if from_stage else set()
    return run, forced & set(run)


def _code(stage: str) -> str:
    # The task wrapper is part of what a stage computes; imported here to avoid an import cycle.
    task_module = importlib.import_module(f"symdistill.tasks.{stage}")
    return code_version(*STAGE_CODE[stage], task_module)

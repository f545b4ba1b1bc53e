"""The stages of an experiment and their artifact keys.

A stage's key is made of its config, its code version and the *content* of its inputs (early cutoff: a
recomputed stage whose output is identical to the stored one leaves every key after it unchanged, so nothing
after it reruns). Until an input exists, the key stands on that input's own key instead ("pending:<key>")
and the spec says it is ``waiting_on`` that input; in a run, each stage settles its key from the content of
the artifacts it is handed (tasks/context.py ``settled_spec``).
Both the flow (to run) and ``symdistill status`` (to explain) use this one plan, so they agree.
"""
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from symdistill.catalogs.code_closure import stage_code_version
from symdistill.catalogs.keys import artifact_key, file_digest
from symdistill.catalogs.store import ArtifactRef, ArtifactStore
from symdistill.config import Experiment
from symdistill.tasks.stages import STAGE_ORDER, stages_of

PENDING = "pending:"


class PlanError(ValueError):
    """A stage name given on the command line is not part of this experiment."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of one experiment: what it depends on and the key that follows from it."""

    name: str
    config: dict
    inputs: dict[str, str] = field(default_factory=dict)  # upstream stage -> its content, or "pending:<key>"
    code: str = ""
    code_manifest: dict = field(default_factory=dict, compare=False)  # module -> hash, package -> version
    reads: dict = field(default_factory=dict, compare=False)  # upstream stage -> datasets loaded (None: all)

    @property
    def waiting_on(self) -> list[str]:
        """Inputs not computed yet: this key is provisional until their content is known."""
        return [name for name, value in self.inputs.items() if value.startswith(PENDING)]

    @property
    def key(self) -> str:
        return artifact_key(self.name, self.config, self.inputs, self.code)

    @property
    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.name, self.key)


def build_plan(experiment: Experiment, config_dir: Path, source_root: Path | None = None,
               store: ArtifactStore | None = None) -> dict[str, StageSpec]:
    """Ordered stage name -> spec for the experiment's stages (tasks/stages.py declares them).

    ``store``: where inputs' contents are looked up (none: every input is pending).
    ``source_root``: where symdistill's source is read for code versions (default: the installed package).
    """
    plan: dict[str, StageSpec] = {}
    for stage in stages_of(experiment):
        config = stage.key_config(experiment)
        if stage.name == "ingest":
            config["file_sha256"] = _data_digest(resolve_data_path(experiment, config_dir))
        version = stage_code_version(stage.name, source_root)
        inputs = {name: input_content(plan[name], store) for name in stage.input_stages(experiment)}
        plan[stage.name] = StageSpec(stage.name, config, inputs, version.digest, version.manifest(),
                                     stage.datasets_read(experiment))
    return plan


def input_content(spec: StageSpec, store: ArtifactStore | None) -> str:
    """What a downstream key stands on: the artifact's content if it exists, else ``pending:<its key>``."""
    if store is not None and store.is_complete(spec.ref):
        return store.content(spec.ref)
    return PENDING + spec.key


def refresh_inputs(plan: dict[str, StageSpec], store: ArtifactStore) -> dict[str, StageSpec]:
    """The plan after some stages were computed: every input re-read from the store, in stage order, so a
    key that stood on a pending input now stands on its content."""
    fresh: dict[str, StageSpec] = {}
    for name, spec in plan.items():
        inputs = {upstream: input_content(fresh.get(upstream, plan[upstream]), store) for upstream in spec.inputs}
        fresh[name] = spec if inputs == spec.inputs else replace(spec, inputs=inputs)
    return fresh


def _data_digest(path: Path) -> str:
    # The plan is rebuilt after every stage; hash a large data file once per change, not each time.
    stat = path.stat()
    return _cached_digest(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _cached_digest(path: Path, mtime_ns: int, size: int) -> str:
    return file_digest(path)


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

"""The one generic stage task: key, skip if complete, load the inputs, call the stage's compute, write."""
import importlib
from collections.abc import Mapping

from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.tasks.context import RunContext, StageResult, run_stage
from symdistill.tasks.stages import STAGES


def execute(ctx: RunContext, stage: str, upstream: Mapping[str, ArtifactRef] | None = None) -> StageResult:
    """Run ``stage`` (or find it complete in the store) on the artifacts ``upstream`` (None: the store's)."""
    compute = importlib.import_module(STAGES[stage].compute).compute  # imported only when a stage runs
    return run_stage(ctx, stage, lambda ref, inputs: compute(ctx, ref, inputs), upstream)


@task(name="stage", cache_policy=NO_CACHE)  # our keys decide what is cached, not Prefect's
def stage_task(ctx: RunContext, stage: str, upstream: dict[str, ArtifactRef]) -> StageResult:
    """``upstream``: the artifacts this stage reads, as returned by their tasks, so Prefect records the data
    dependencies and the stage's key stands on their content."""
    return execute(ctx, stage, upstream)

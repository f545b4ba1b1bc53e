"""The one generic stage task: key, skip if complete, load the inputs, call the stage's compute, write."""
import importlib

from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.tasks.context import RunContext, run_stage
from symdistill.tasks.stages import STAGES


def execute(ctx: RunContext, stage: str) -> ArtifactRef:
    """Run ``stage`` of ctx's plan (or find it complete in the store); its artifact's reference."""
    compute = importlib.import_module(STAGES[stage].compute).compute  # imported only when a stage runs
    return run_stage(ctx, stage, lambda inputs: compute(ctx, inputs))


@task(name="stage", cache_policy=NO_CACHE)  # our keys decide what is cached, not Prefect's
def stage_task(ctx: RunContext, stage: str, upstream: dict[str, ArtifactRef]) -> ArtifactRef:
    """``upstream``: the artifacts this stage reads, as returned by their tasks, so Prefect records the data
    dependencies; the plan's refs for them must agree."""
    expected = {name: ctx.plan[name].ref for name in upstream}
    if upstream != expected:
        raise RuntimeError(f"{stage}: its inputs {upstream} are not the plan's {expected}")
    return execute(ctx, stage)

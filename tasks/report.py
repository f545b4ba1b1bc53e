"""The run's HTML report, written after the catalog entries so it can name them."""
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs.report import write_report
from symdistill.tasks.context import RunContext


@task(name="report", cache_policy=NO_CACHE)  # cheap, and it names the catalog entries of this run
def report_stage(ctx: RunContext, entry_ids: list[str] | None = None, path: Path | None = None) -> Path:
    refs = {stage: spec.ref for stage, spec in ctx.plan.items()}
    written = write_report(ctx.store, ctx.experiment.model_dump(mode="json"), refs, entry_ids, path)
    ctx.log(f"report: {written}")
    return written

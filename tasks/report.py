"""The run's HTML report, written after the catalog entries so it can name them."""
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.report import write_report
from symdistill.tasks.context import RunContext


@task(name="report", cache_policy=NO_CACHE)  # cheap, and it names the catalog entries of this run
def report_stage(ctx: RunContext, refs: dict[str, ArtifactRef], entry_ids: list[str] | None = None,
                 path: Path | None = None) -> Path:
    """``refs``: the run's artifacts, every stage through validate_ood."""
    written = write_report(ctx.store, ctx.experiment.model_dump(mode="json"), refs, entry_ids, path)
    ctx.log(f"report: {written}")
    return written

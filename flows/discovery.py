"""The discovery flow: the stages in order, each run by the generic stage task, which skips what is cached."""
from prefect import flow

from symdistill.tasks.catalog import catalog_stage
from symdistill.tasks.context import open_run
from symdistill.tasks.report import report_stage
from symdistill.tasks.run import stage_task


@flow(name="symdistill-discovery", log_prints=False, validate_parameters=False)
def discovery(config_path: str, store_path: str | None = None, from_stage: str | None = None,
              until_stage: str | None = None, repair: bool = False, scheduler: str | None = None,
              catalog: str | None = None) -> dict:
    """Run the experiment's stages up to ``until_stage``; return each stage's key and whether it ran.

    A run that reaches validate_ood enters its models into the equation catalog and writes its report.
    ``scheduler``: address of an existing Dask scheduler for the search (else a local cluster).
    ``catalog``: the catalog file (else $SYMDISTILL_CATALOG, else ./symdistill-catalog.sqlite).
    """
    ctx, stages = open_run(config_path, store_path, from_stage, until_stage, repair, scheduler=scheduler,
                           catalog=catalog)
    results = {}
    for stage in stages:  # each task is handed the artifacts it reads: Prefect sees the data flow
        upstream = {name: results[name].ref for name in ctx.plan[stage].inputs}
        results[stage] = stage_task.with_options(name=stage)(ctx, stage, upstream)
    result = {"experiment": ctx.experiment.experiment.name, "store": str(ctx.store.root),
              "stages": {stage: {"key": done.ref.key, "ran": done.ran} for stage, done in results.items()}}
    if "validate_ood" in results:
        refs = {stage: done.ref for stage, done in results.items()}
        result["catalog"] = str(ctx.catalog_path)
        result["entries"] = catalog_stage(ctx, refs)
        result["report"] = str(report_stage(ctx, refs, result["entries"]))
    return result

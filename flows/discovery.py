"""The discovery flow: the stages in order, each a task that decides for itself whether to run."""
from prefect import flow

from symdistill.tasks.capture import capture_stage
from symdistill.tasks.catalog import catalog_stage
from symdistill.tasks.compose import compose_stage
from symdistill.tasks.context import open_run
from symdistill.tasks.ingest import ingest_stage
from symdistill.tasks.refit import refit_stage
from symdistill.tasks.report import report_stage
from symdistill.tasks.search import search_stage
from symdistill.tasks.simulate import simulate_stage
from symdistill.tasks.train_surrogate import train_surrogate_stage
from symdistill.tasks.validate_ood import validate_ood_stage

STAGE_TASKS = {"simulate": simulate_stage, "ingest": ingest_stage, "train_surrogate": train_surrogate_stage,
               "capture": capture_stage, "search": search_stage, "compose": compose_stage, "refit": refit_stage,
               "validate_ood": validate_ood_stage}


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
    refs = {stage: STAGE_TASKS[stage](ctx) for stage in stages}
    result = {"experiment": ctx.experiment.experiment.name, "store": str(ctx.store.root),
              "stages": {stage: {"key": ref.key, "ran": stage in ctx.executed} for stage, ref in refs.items()}}
    if "validate_ood" in refs:
        result["catalog"] = str(ctx.catalog_path)
        result["entries"] = catalog_stage(ctx)
        result["report"] = str(report_stage(ctx, result["entries"]))
    return result

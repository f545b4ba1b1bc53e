"""The ingest stage: the user's own data file, validated into the shared schema, as a Prefect task."""
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef, read_dataset_file
from symdistill.components.ingest import ingest
from symdistill.tasks.context import RunContext, run_stage
from symdistill.tasks.plan import resolve_data_path


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_stage(ctx: RunContext) -> ArtifactRef:
    cfg = ctx.experiment.ingest

    def compute(_inputs):
        raw = read_dataset_file(resolve_data_path(ctx.experiment, ctx.config_path.parent), cfg.format)
        ds = ingest(raw, target=cfg.target, units=cfg.units)
        figures = {"n_samples": int(ds.sizes["sim"] * ds.sizes["time"]), "n_bodies": int(ds.sizes["body"]),
                   "acc_derived": "derived" in ds.attrs}
        return {"data": ds}, figures

    return run_stage(ctx, "ingest", compute)

"""The ingest stage: the user's own data file, validated into the shared schema."""
from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.datasets import read_ingest_file
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.plan import resolve_data_path


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.ingest
    ds = read_ingest_file(resolve_data_path(ctx.experiment, ctx.config_path.parent), cfg.format, cfg.target,
                          cfg.units)
    figures = {"n_samples": int(ds.sizes["sim"] * ds.sizes["time"]), "n_bodies": int(ds.sizes["body"]),
               "acc_derived": "derived" in ds.attrs}
    return {"data": ds}, figures

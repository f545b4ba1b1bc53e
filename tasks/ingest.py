"""The ingest stage: the user's own data file, validated into the shared schema."""

from symdistill.catalogs import ArtifactRef
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.plan import read_ingest_data


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    ds = read_ingest_data(ctx.experiment, ctx.config_path.parent)
    figures = {"n_samples": int(ds.sizes["sim"] * ds.sizes["time"]), "n_bodies": int(ds.sizes["body"]),
               "acc_derived": "derived" in ds.attrs}
    return {"data": ds}, figures

"""The ingest stage: the user's own data file, validated into the shared schema."""

from symdistill.catalogs import ArtifactRef, read_dataset_file
from symdistill.components.ingest import ingest
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.plan import resolve_data_path


def compute(ctx: RunContext, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.ingest
    raw = read_dataset_file(resolve_data_path(ctx.experiment, ctx.config_path.parent), cfg.format)
    ds = ingest(raw, target=cfg.target, units=cfg.units)
    figures = {"n_samples": int(ds.sizes["sim"] * ds.sizes["time"]), "n_bodies": int(ds.sizes["body"]),
               "acc_derived": "derived" in ds.attrs}
    return {"data": ds}, figures

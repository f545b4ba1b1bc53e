"""The split stage: which nodes train, validate and test the network, and which are out of distribution."""
from symdistill.catalogs import ArtifactRef
from symdistill.components.split import IN_DISTRIBUTION, SplitSettings, counts, make_split, simulations_of
from symdistill.tasks.context import RunContext, StageOutput


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.split
    masks = make_split(inputs[ctx.experiment.data_stage]["data"], SplitSettings.of(cfg))
    masks.attrs["ood_rule"] = None if cfg.ood is None else cfg.ood.model_dump(mode="json")
    summary = {"unit": cfg.unit, "counts": counts(masks),
               "simulations": {role: simulations_of(masks, role).tolist() for role in IN_DISTRIBUTION},
               "ood_rule": masks.attrs["ood_rule"]}
    return {"masks": masks}, summary

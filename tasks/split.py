"""The split stage: which frames train, validate and test the network, and which are out of distribution."""
import numpy as np

from symdistill.catalogs import ArtifactRef
from symdistill.components.ood import OODRule
from symdistill.components.split import IN_DISTRIBUTION, SplitSettings, counts, make_split, simulations_of
from symdistill.config import SplitConfig
from symdistill.tasks.context import RunContext, StageOutput


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.split
    masks = make_split(inputs[ctx.experiment.data_stage]["data"], split_settings(cfg))
    masks.attrs["ood_rule"] = None if cfg.ood is None else cfg.ood.model_dump(mode="json")
    summary = {"unit": cfg.unit, "counts": counts(masks),
               "simulations": {role: simulations_of(masks, role).tolist() for role in IN_DISTRIBUTION},
               "ood_rule": masks.attrs["ood_rule"]}
    return {"masks": masks}, summary


def split_settings(cfg: SplitConfig) -> SplitSettings:
    rule = None
    if cfg.ood is not None:
        rule = OODRule(cfg.ood.kind, cfg.ood.variable, -np.inf if cfg.ood.low is None else cfg.ood.low,
                       np.inf if cfg.ood.high is None else cfg.ood.high)
    return SplitSettings(cfg.validation_fraction, cfg.test_fraction, cfg.seed, rule, cfg.unit)

"""The validate_ood stage: the network and the symbolic model, in and out of distribution, side by side."""
import torch
import xarray as xr

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composed_model_of
from symdistill.components import plots
from symdistill.components.compose import prediction_errors
from symdistill.components.validate_ood import verdict
from symdistill.components.train_surrogate import predict
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import load_surrogate, role_graphs


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    data_stage = ctx.experiment.data_stage
    data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
    network, symbolic = load_surrogate(trained), composed_model_of(inputs["refit"]["model"])
    limit, masks = ctx.experiment.validate_ood.max_graphs, inputs["split"]
    roles = {"in_distribution": "test"}
    if masks["masks"]["out_of_distribution"].values.any():
        roles["out_of_distribution"] = "out_of_distribution"
    graph_sets = role_graphs(ctx.experiment, data, masks, *roles.values())
    splits = {split: graphs.spread(limit) for split, graphs in zip(roles, graph_sets)}
    table = {"gnn": {}, "symbolic": {}}
    for split, graphs in splits.items():
        truth = graphs.rows(graphs.target)  # the frames (or nodes) of the split that count
        table["gnn"][split] = prediction_errors(graphs.rows(predict(network, graphs)), truth)
        with torch.no_grad():
            table["symbolic"][split] = prediction_errors(graphs.rows(symbolic(graphs).numpy()), truth)
    rows = [(model, split, e["mae"], e["relative_mae"]) for model, by_split in table.items()
            for split, e in by_split.items() if e["relative_mae"] is not None]  # undefined: named in the summary
    errors = xr.Dataset({"mae": ("row", [r[2] for r in rows]), "relative_mae": ("row", [r[3] for r in rows])},
                        coords={"model": ("row", [r[0] for r in rows]), "split": ("row", [r[1] for r in rows])})
    figure = plots.ood_errors({m: {s: e["relative_mae"] for s, e in by.items() if e["relative_mae"] is not None}
                               for m, by in table.items()})
    summary = {"errors": table, "verdict": verdict(table), "n_graphs": {split: len(g) for split, g in splits.items()},
               "ood_rule": masks["masks"].attrs.get("ood_rule")}
    return {"errors": errors, "figures": xr.Dataset({"ood_errors": ("ood_errors_png", figure)})}, summary

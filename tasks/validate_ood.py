"""The validate_ood stage: the network and the symbolic model, in and out of distribution, side by side."""
import numpy as np
import torch
import xarray as xr

from symdistill.catalogs.fronts import composed_model_of
from symdistill.components import plots
from symdistill.components.compose import prediction_errors
from symdistill.components.validate_ood import verdict
from symdistill.components.train_surrogate import predict
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import load_surrogate, split_graphs, split_of, spread

MAX_GRAPHS = 5000


def compute(ctx: RunContext, inputs: dict) -> StageOutput:
    data_stage = ctx.experiment.data_stage
    data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
    network, symbolic = load_surrogate(trained), composed_model_of(inputs["refit"]["model"])
    splits = {"in_distribution": spread(split_graphs(ctx.experiment, data, split_of(trained, "test")), MAX_GRAPHS)}
    withheld = split_graphs(ctx.experiment, data, np.arange(data.sizes["sim"]), out_of_distribution=True)
    if len(withheld):
        splits["out_of_distribution"] = spread(withheld, MAX_GRAPHS)
    table = {"gnn": {}, "symbolic": {}}
    for split, graphs in splits.items():
        table["gnn"][split] = prediction_errors(predict(network, graphs), graphs.target)
        with torch.no_grad():
            table["symbolic"][split] = prediction_errors(symbolic(graphs).numpy(), graphs.target)
    rows = [(model, split, e["mae"], e["relative_mae"]) for model, by_split in table.items()
            for split, e in by_split.items() if e["relative_mae"] is not None]  # undefined: named in the summary
    errors = xr.Dataset({"mae": ("row", [r[2] for r in rows]), "relative_mae": ("row", [r[3] for r in rows])},
                        coords={"model": ("row", [r[0] for r in rows]), "split": ("row", [r[1] for r in rows])})
    figure = plots.ood_errors({m: {s: e["relative_mae"] for s, e in by.items() if e["relative_mae"] is not None}
                               for m, by in table.items()})
    summary = {"errors": table, "verdict": verdict(table), "n_graphs": {split: len(g) for split, g in splits.items()},
               "ood_rule": None if ctx.experiment.validate_ood is None else
               ctx.experiment.validate_ood.model_dump(mode="json")}
    return {"errors": errors, "figures": xr.Dataset({"ood_errors": ("ood_errors_png", figure)})}, summary

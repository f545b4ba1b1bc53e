"""The capture stage: record the trained surrogate's internal functions on held-out simulations."""
import xarray as xr

from symdistill.catalogs import ArtifactRef
from symdistill.components import plots
from symdistill.components.capture import capture
from symdistill.components.capture_check import message_force_check, receiver_properties, true_pair_force
from symdistill.components.simulate import ForceLaw
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import captured_graphs, load_surrogate, role_graphs


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.capture
    data_stage = ctx.experiment.data_stage
    data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
    model = load_surrogate(trained)
    graphs = captured_graphs(ctx.experiment, role_graphs(ctx.experiment, data, inputs["split"], "test")[0])
    law = data.attrs.get("force_law")
    force = true_pair_force(data, graphs, ForceLaw.from_attrs(law)) if law else None
    datasets = capture(model, graphs, true_force=force, significance=cfg.significance)
    edge = datasets["edge"]
    std = edge["message_std"].values
    n_significant = int(edge.attrs["significant_components"])
    summary = {"significant_components": n_significant, "message_dim": int(std.size),
               "n_edges": int(edge.sizes["edge"]), "n_graphs": len(graphs)}
    figures = {"message_sparsity": plots.message_sparsity(std, n_significant)}
    if force is not None:
        fits, figures["message_vs_force"] = message_force_check(edge, receiver_properties(data, graphs),
                                                                data.sizes["dim"], cfg.outlier_quantile)
        summary |= fits
        edge.attrs["message_force_r2"] = fits["message_force_r2"]
    datasets["figures"] = xr.Dataset({name: (f"{name}_png", png) for name, png in figures.items()})
    return datasets, summary

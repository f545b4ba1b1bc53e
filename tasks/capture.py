"""The capture stage: record the trained surrogate's internal functions on held-out simulations."""
import numpy as np
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.components import plots
from symdistill.components.capture import capture, message_force_fit
from symdistill.components.simulate import ForceLaw, pair_force
from symdistill.components.train_surrogate import GraphSet
from symdistill.tasks.context import RunContext, run_stage
from symdistill.tasks.surrogate_io import captured_graphs, load_surrogate


@task(name="capture", cache_policy=NO_CACHE)  # our keys decide what is cached, not Prefect's
def capture_stage(ctx: RunContext) -> ArtifactRef:
    cfg = ctx.experiment.capture
    data_stage = ctx.experiment.data_stage

    def compute(inputs):
        data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
        model = load_surrogate(trained)
        graphs = captured_graphs(ctx.experiment, data, trained)
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
            fit = message_force_fit(edge, n_components=data.sizes["dim"], outlier_quantile=cfg.outlier_quantile)
            summary["message_force_r2"] = fit["r2"]
            summary["message_force_fit"] = fit
            edge.attrs["message_force_r2"] = fit["r2"]
            figures["message_vs_force"] = plots.message_vs_force(edge["messages"].values, edge["force"].values, fit)
        datasets["figures"] = xr.Dataset({name: (f"{name}_png", png) for name, png in figures.items()})
        return datasets, summary

    return run_stage(ctx, "capture", compute)


def true_pair_force(data: xr.Dataset, graphs: GraphSet, law: ForceLaw) -> np.ndarray:
    """[graph, receiver, other, dim]: the simulator's force on each receiver from each sender."""
    frame = data.stack(graph=("sim", "time")).sel(graph=list(zip(graphs.sim, graphs.time)))
    pos = frame["pos"].transpose("graph", "body", "dim").values
    vel = frame["vel"].transpose("graph", "body", "dim").values
    mass = _per_body(frame, "mass", pos.shape[:2])
    charge = _per_body(frame, "charge", pos.shape[:2])
    s = graphs.sender
    return pair_force(law, pos[:, :, None, :] - pos[:, s, :], vel[:, :, None, :] - vel[:, s, :],
                      mass[:, :, None], mass[:, s], charge[:, :, None], charge[:, s])


def _per_body(frame: xr.Dataset, name: str, shape) -> np.ndarray:
    if name not in frame:
        return np.zeros(shape)
    return np.broadcast_to(frame[name].transpose("graph", "body").values, shape)

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
            fits, figures["message_vs_force"] = message_force_check(edge, receiver_properties(data, graphs),
                                                                    data.sizes["dim"], cfg.outlier_quantile)
            summary |= fits
            edge.attrs["message_force_r2"] = fits["message_force_r2"]
        datasets["figures"] = xr.Dataset({name: (f"{name}_png", png) for name, png in figures.items()})
        return datasets, summary

    return run_stage(ctx, "capture", compute)


def message_force_check(edge: xr.Dataset, receiver: dict[str, np.ndarray], dim: int,
                        outlier_quantile: float) -> tuple[dict, np.ndarray]:
    """R² of the top messages against the true force and against the force per receiver factor.

    ``receiver``: per edge, the receiver's properties (mass, charge). A receiver factor cancels in
    a_i = g(receiver) sum_j F_ij / (g(receiver) m_i), so a network may carry F_ij / m_i (gravity) or
    F_ij / (q_i m_i) (charges) instead of F_ij. The plot shows the best of them."""
    references = {"message_force_r2": ("true force", np.ones(edge.sizes["edge"]))}
    if "mass" in receiver:
        references["message_force_per_receiver_mass_r2"] = ("true force / receiver mass", receiver["mass"])
        charge = receiver.get("charge")
        if charge is not None and np.all(charge != 0):
            references["message_force_per_receiver_charge_mass_r2"] = ("true force / (receiver charge × mass)",
                                                                       receiver["mass"] * charge)
    summary, best = {}, None
    for key, (label, factor) in references.items():
        per = edge.assign(force=edge["force"] / xr.DataArray(factor, dims="edge"))
        fit = message_force_fit(per, n_components=dim, outlier_quantile=outlier_quantile)
        summary[key] = fit["r2"]
        if key == "message_force_r2":
            summary["message_force_fit"] = fit
        if best is None or np.mean(fit["r2"]) > np.mean(best[0]["r2"]):
            best = (fit, per["force"].values, label)
    fit, force, label = best
    return summary, plots.message_vs_force(edge["messages"].values, force, fit, reference=label)


def receiver_properties(data: xr.Dataset, graphs: GraphSet) -> dict[str, np.ndarray]:
    """Per real edge, in capture's order, the receiver's mass and charge (those the data has)."""
    frame = _graph_frames(data, graphs)
    g, i, _ = np.nonzero(graphs.edge_mask)
    return {name: _per_body(frame, name, graphs.node_x.shape[:2])[g, i] for name in ("mass", "charge") if name in data}


def true_pair_force(data: xr.Dataset, graphs: GraphSet, law: ForceLaw) -> np.ndarray:
    """[graph, receiver, other, dim]: the simulator's force on each receiver from each sender."""
    frame = _graph_frames(data, graphs)
    pos = frame["pos"].transpose("graph", "body", "dim").values
    vel = frame["vel"].transpose("graph", "body", "dim").values
    mass = _per_body(frame, "mass", pos.shape[:2])
    charge = _per_body(frame, "charge", pos.shape[:2])
    s = graphs.sender
    return pair_force(law, pos[:, :, None, :] - pos[:, s, :], vel[:, :, None, :] - vel[:, s, :],
                      mass[:, :, None], mass[:, s], charge[:, :, None], charge[:, s])


def _graph_frames(data: xr.Dataset, graphs: GraphSet) -> xr.Dataset:
    """The data's frames in the order of ``graphs`` (dim ``graph``)."""
    return data.stack(graph=("sim", "time")).sel(graph=list(zip(graphs.sim, graphs.time)))


def _per_body(frame: xr.Dataset, name: str, shape) -> np.ndarray:
    if name not in frame:
        return np.zeros(shape)
    return np.broadcast_to(frame[name].transpose("graph", "body").values, shape)

"""Captured messages against the simulator's true pair forces: does a message component carry the force?

Only for simulated data (whose force law is stored with it); the check is a report, the search never sees it.
"""
import numpy as np
import xarray as xr

from symdistill.components import plots
from symdistill.components.capture import message_force_fit
from symdistill.components.simulate import ForceLaw, pair_force
from symdistill.components.train_surrogate import GraphSet


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
    """Per edge, in capture's order (the edges into the nodes that count), the receiver's mass and charge
    (those the data has)."""
    frame = _graph_frames(data, graphs)
    edges = graphs.counted[graphs.receiver]
    g, i = graphs.edge_graph[edges], graphs.body[graphs.receiver[edges]]
    shape = (len(graphs), frame.sizes["body"])
    return {name: _per_body(frame, name, shape)[g, i] for name in ("mass", "charge") if name in data}


def true_pair_force(data: xr.Dataset, graphs: GraphSet, law: ForceLaw) -> np.ndarray:
    """[edge, dim]: the simulator's force on each edge's receiver from its sender."""
    frame = _graph_frames(data, graphs)
    pos = frame["pos"].transpose("graph", "body", "dim").values
    vel = frame["vel"].transpose("graph", "body", "dim").values
    mass = _per_body(frame, "mass", pos.shape[:2])
    charge = _per_body(frame, "charge", pos.shape[:2])
    g, i, j = graphs.edge_graph, graphs.body[graphs.receiver], graphs.body[graphs.sender]
    return pair_force(law, pos[g, i] - pos[g, j], vel[g, i] - vel[g, j], mass[g, i], mass[g, j],
                      charge[g, i], charge[g, j])


def _graph_frames(data: xr.Dataset, graphs: GraphSet) -> xr.Dataset:
    """The data's frames in the order of ``graphs`` (dim ``graph``)."""
    return data.stack(graph=("sim", "time")).sel(graph=list(zip(graphs.sim, graphs.time)))


def _per_body(frame: xr.Dataset, name: str, shape) -> np.ndarray:
    if name not in frame:
        return np.zeros(shape)
    return np.broadcast_to(frame[name].transpose("graph", "body").values, shape)

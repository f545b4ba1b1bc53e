"""The capture stage's science: record what each internal function of the surrogate sees and returns.

Forward hooks on the edge and node models record their inputs and outputs during one plain forward
pass over held-out graphs, so the model is not edited. Results are xarray Datasets with named dims
and feature names, ready for symbolic regression: ``edge`` (per real edge: inputs, message components,
the true pair force when known) and ``node`` (per body: inputs, outputs, the true target).
"""
import json

import numpy as np
import torch
import xarray as xr

from symdistill.components.function_names import summed_message
from symdistill.components.train_surrogate import Batch, GraphNetwork, GraphSet
from symdistill.components.train_surrogate.graphs import AXES


def record_functions(model: GraphNetwork, graphs: GraphSet) -> dict[str, np.ndarray]:
    """Run the model once with hooks on its edge and node models; return their inputs and outputs (edge rows
    in the GraphSet's order, however many chunks the edge model ran in)."""
    seen = {}

    def hook(name):
        def store(_module, inputs, output):
            seen.setdefault(f"{name}_inputs", []).append(inputs[0].detach().numpy())
            seen.setdefault(f"{name}_outputs", []).append(output.detach().numpy())
        return store
    handles = [model.edge_model.register_forward_hook(hook("edge")),
               model.node_model.register_forward_hook(hook("node"))]
    try:
        with torch.no_grad():
            output, messages, _ = Batch.of(graphs).run(model)
    finally:
        for handle in handles:
            handle.remove()
    seen = {name: np.concatenate(parts) for name, parts in seen.items()}
    seen["messages"] = messages.numpy()  # the mean messages (kl: the first half of the edge output)
    seen["output"] = output.numpy()
    return seen


def capture(model: GraphNetwork, graphs: GraphSet, *, true_force: np.ndarray | None = None,
            significance: float = 0.1) -> dict[str, xr.Dataset]:
    """Edge and node datasets of ``graphs`` (true_force: [edge, dim] or None): the nodes that count, and the
    edges into them.

    Message components are ranked by standard deviation over the edges; a component is significant when
    its std is at least ``significance`` times the largest.
    """
    seen = record_functions(model, graphs)
    alignment = message_alignment(model, graphs, seen["messages"])
    if alignment is not None:
        seen = aligned(seen, graphs, alignment)
    # the rows of the nodes that count (a node split's test nodes) and of the edges into them
    nodes, edges = np.flatnonzero(graphs.counted), np.flatnonzero(graphs.counted[graphs.receiver])
    seen = seen | {"edge_inputs": seen["edge_inputs"][edges], "messages": seen["messages"][edges],
                   "node_inputs": seen["node_inputs"][nodes], "output": seen["output"][nodes]}
    true_force = None if true_force is None else true_force[edges]
    edge_graph, node_graph = graphs.edge_graph[edges], graphs.node_graph[nodes]
    receiver, sender, body = graphs.receiver[edges], graphs.sender[edges], graphs.body[nodes]
    latent = [f"latent{c}_{end}" for end in model.spec.latent_ends for c in range(model.spec.n_latent)]
    edge_names = list(graphs.edge_features) + latent
    messages = seen["messages"]
    std = messages.std(axis=0)
    rank = np.argsort(-std, kind="stable")
    n_significant = int((std >= significance * std.max()).sum()) if std.max() > 0 else 0
    edge = xr.Dataset(
        {"inputs": (("edge", "edge_feature"), seen["edge_inputs"]),
         "messages": (("edge", "message_component"), messages),
         "message_std": ("message_component", std),
         "message_rank": ("rank", rank)},
        coords={"edge_feature": edge_names, "message_component": np.arange(messages.shape[1]),
                "rank": np.arange(messages.shape[1]), "sim": ("edge", graphs.sim[edge_graph]),
                "time": ("edge", graphs.time[edge_graph]), "receiver": ("edge", graphs.body[receiver]),
                "sender": ("edge", graphs.body[sender])})
    edge.attrs.update(significant_components=n_significant, significance=significance,
                      message_alignment=json.dumps(alignment and {k: np.asarray(v).tolist()
                                                                  for k, v in alignment.items()}))
    dims = graphs.target_names
    if true_force is not None:
        edge["force"] = (("edge", "force_component"), true_force)
        edge = edge.assign_coords(force_component=[f"F{name.split('_')[-1]}" for name in dims[:true_force.shape[-1]]])
    node_names = (list(graphs.node_features) + [f"latent{c}" for c in range(model.spec.n_latent)]
                  + [summed_message(c) for c in range(model.spec.message_dim)])
    node = xr.Dataset(
        {"inputs": (("node", "node_feature"), seen["node_inputs"]),
         "outputs": (("node", "output_component"), seen["output"]),
         "target": (("node", "output_component"), graphs.node_target[nodes])},
        coords={"node_feature": node_names, "output_component": list(dims),
                "sim": ("node", graphs.sim[node_graph]), "time": ("node", graphs.time[node_graph]),
                "body": ("node", body)})
    return {"edge": edge, "node": node}


ALIGNMENT_MIN_EXPLAINED = 0.9  # share of a reflection's message change along one direction
ALIGNMENT_MAX_CONDITION = 1e3


def message_alignment(model: GraphNetwork, graphs: GraphSet, messages: np.ndarray) -> dict | None:
    """The linear change of message basis that turns bottleneck messages into the pair force's own axes.

    A bottleneck network's messages are some invertible linear map of the force, M = A F + b (METHOD.md §2a),
    and any such map is equally good to the network, so in 3D the messages are usually mixtures of the force's
    components, which need long expressions. Space has no preferred direction: reflecting axis a (negating
    every per-axis edge feature of a) flips F_a only, so M - M(reflected a) = 2 F_a A[:, a] lies along A's
    column a. Those directions give A; W = A^-1 and b (the parity-even part of M) make W (M - b) = F up to one
    scale per axis. None when the messages are not one per axis, or the network is not close enough to
    symmetric for the directions to be clear (then the messages are kept as they are).
    """
    names = list(graphs.edge_features)
    axes = [a for a in AXES if f"d{a}" in names]
    if not axes or model.spec.message_dim != len(axes):
        return None
    flips = {a: [i for i, n in enumerate(names) if n in (f"d{a}", f"dv{a}", f"v{a}_i", f"v{a}_j")] for a in axes}
    columns, explained = [], []
    for a in axes:
        change = messages - edge_messages(model, graphs, flips[a])
        _, singular, vt = np.linalg.svd(change, full_matrices=False)
        explained.append(float(singular[0] ** 2 / max((singular ** 2).sum(), 1e-300)))
        column = vt[0] if vt[0][np.argmax(np.abs(vt[0]))] > 0 else -vt[0]
        columns.append(column)
    A = np.column_stack(columns)
    if min(explained) < ALIGNMENT_MIN_EXPLAINED or np.linalg.cond(A) > ALIGNMENT_MAX_CONDITION:
        return None
    every_axis = [i for a in axes for i in flips[a]]
    offset = 0.5 * (messages + edge_messages(model, graphs, every_axis)).mean(axis=0)
    return {"transform": np.linalg.inv(A), "offset": offset, "explained": np.asarray(explained)}


def edge_messages(model: GraphNetwork, graphs: GraphSet, negated: list[int]) -> np.ndarray:
    """The (mean) messages with the edge feature columns ``negated`` multiplied by -1."""
    edge_x = graphs.edge_x.copy()
    edge_x[:, negated] *= -1
    body = torch.from_numpy(graphs.body)
    with torch.no_grad():
        raw = model.edge_outputs(torch.from_numpy(edge_x), body[torch.from_numpy(graphs.receiver)],
                                 body[torch.from_numpy(graphs.sender)])
    return (raw.chunk(2, dim=-1)[0] if model.spec.variant == "kl" else raw).numpy()


def aligned(seen: dict, graphs: GraphSet, alignment: dict) -> dict:
    """Messages W (M - b) and, consistently, summed messages W (S - n b) for n incoming edges: the composed
    model node(sum of edge functions) is unchanged by the change of basis."""
    W, b = alignment["transform"], alignment["offset"]
    dim = W.shape[0]
    n_in = np.bincount(graphs.receiver, minlength=graphs.n_nodes)[:, None]  # [node, 1]
    node_inputs = seen["node_inputs"].copy()
    node_inputs[..., -dim:] = (node_inputs[..., -dim:] - n_in * b) @ W.T
    return seen | {"messages": (seen["messages"] - b) @ W.T, "node_inputs": node_inputs}


def message_force_fit(edge: xr.Dataset, n_components: int, outlier_quantile: float = 0.99) -> dict:
    """Fit each of the top ``n_components`` messages affinely to the true force; R^2 per component.

    As in the paper (a robust fit), the edges with the largest force magnitudes (above
    ``outlier_quantile``) are left out: near-collisions of r^-2 laws would otherwise dominate.
    """
    force = edge["force"].values
    magnitude = np.sqrt((force ** 2).sum(-1))
    keep = magnitude <= np.quantile(magnitude, outlier_quantile)
    design = np.column_stack([force[keep], np.ones(int(keep.sum()))])
    top = [int(c) for c in edge["message_rank"].values[:n_components]]
    r2, coefficients = [], []
    for component in top:
        y = edge["messages"].values[keep, component]
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = y - design @ coef
        r2.append(float(1.0 - residual.var() / y.var()) if y.var() > 0 else 0.0)
        coefficients.append([float(c) for c in coef])
    return {"components": top, "r2": r2, "coefficients": coefficients, "n_edges": int(keep.sum()),
            "outlier_quantile": outlier_quantile}

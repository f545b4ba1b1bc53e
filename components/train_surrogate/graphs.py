"""Graphs from a particle dataset as flat edge lists: the one sparse format of training, capture and the
composed model.

Every frame (sim, time) is one graph. Its nodes are rows of ``node_x``; its edges are rows of ``edge_x``
with the node rows of their ``receiver`` and ``sender``, so memory and time grow with the number of
edges: all ordered pairs of a small system, or the pairs closer than a radius (found by a KD-tree,
periodic when the data names its box) in a catalog of many points. Edges are ordered by graph, then
receiver, then sender; the sum over incoming edges is a scatter-add.
"""
import numpy as np
import xarray as xr

from symdistill.components.neighbours import radius_edges
from symdistill.components.presence import presence, unexplained_nan
from symdistill.components.train_surrogate.graph_set import GraphSet

EDGE_FEATURE_GROUPS = ("dx", "r", "dv", "speed", "v", "properties", "sender_properties")
AXES = "xyz"


class GraphDataError(ValueError):
    pass


def sender_table(n_bodies: int) -> np.ndarray:
    """[body, body-1]: the other bodies of each receiver, in order (the edges of a fully connected graph)."""
    return np.array([[j for j in range(n_bodies) if j != i] for i in range(n_bodies)], dtype=np.int64)


def property_names(ds: xr.Dataset, target: str) -> list[str]:
    """Per-body scalar variables (mass, charge, ...): dims within (sim, time, body), with body."""
    names = []
    for name, var in ds.data_vars.items():
        if name in ("pos", "vel", "acc", target) or "body" not in var.dims:
            continue
        if set(var.dims) <= {"sim", "time", "body"}:
            names.append(name)
    return sorted(names)


def feature_units(ds: xr.Dataset, names, target: str = "acc") -> dict[str, str | None]:
    """Units of graph feature names (dx, r, dvx, vx_i, mass_j, mass, acc_x, ...) from the data's attributes.

    Names that are no data quantity (summed messages, latent parameters) map to None: unknown units.
    """
    def units_of(variable: str) -> str | None:
        return ds[variable].attrs.get("units") if variable in ds else None

    properties = set(property_names(ds, target))
    out = {}
    for name in names:
        base = name[:-2] if name.endswith(("_i", "_j")) else name
        if base in properties:
            out[name] = units_of(base)
        elif base == "r" or (base.startswith("d") and not base.startswith("dv") and len(base) <= 2):
            out[name] = units_of("pos")
        elif base.startswith(("dv", "v")) or base == "speed":
            out[name] = units_of("vel")
        elif base == target or base.startswith(f"{target}_"):
            out[name] = units_of(target)
        else:
            out[name] = None
    return out


def build_graphs(ds: xr.Dataset, *, target: str = "acc", edge_features=("dx", "r", "properties"),
                 node_features=("properties",), radius: float | None = None, sims=None, latent_per_body: int = 0,
                 dtype=np.float32) -> GraphSet:
    """Graph tensors of every frame of the simulations ``sims`` (all if None).

    Edge features: dx = x_receiver - x_sender per axis, r = |dx|, dv = v_receiver - v_sender, speed = |dv|,
    v = both velocities, properties = each per-body property of receiver and sender, sender_properties = the
    sender's only. Node features: the body's properties (and velocity with "v"). Data without per-body
    properties gives the property features no columns; that needs ``latent_per_body`` learned parameters to
    stand in for them (the model adds those), else it is an error.
    """
    _check_dataset(ds, target)
    unknown = set(edge_features) - set(EDGE_FEATURE_GROUPS)
    if unknown:
        raise GraphDataError(f"unknown edge feature(s) {sorted(unknown)}; choose from {', '.join(EDGE_FEATURE_GROUPS)}")
    unknown = set(node_features) - {"properties", "v"}
    if unknown:
        raise GraphDataError(f"unknown node feature(s) {sorted(unknown)}; choose from properties, v")
    asked = [f for f in edge_features if f in ("properties", "sender_properties")] + \
        [f"node {f}" for f in node_features if f == "properties"]
    if asked and not property_names(ds, target) and latent_per_body == 0:
        raise GraphDataError(f"the features {', '.join(asked)} need per-body properties, but the data has no "
                             f"per-body variable besides pos, vel and the target {target!r}; set "
                             f"[train_surrogate] latent_per_body >= 1 to learn them (unknown masses), or drop "
                             f"them from edge_features and node_features")
    if sims is not None:
        ds = ds.isel(sim=np.asarray(sims))
    frames = ds.stack(graph=("sim", "time")).transpose("graph", "body", ...)
    pos = frames["pos"].transpose("graph", "body", "dim").values.astype(np.float64)
    n_graphs, n_bodies, n_dim = pos.shape
    present = presence(frames).transpose("graph", "body").values
    nodes = np.flatnonzero(present.reshape(-1))  # [node]: its (graph, body) slot, graph by graph
    vel = frames["vel"].transpose("graph", "body", "dim").values.reshape(-1, n_dim)[nodes] if "vel" in frames else None
    props = {name: np.broadcast_to(frames[name].transpose("graph", "body").values
                                   if "graph" in frames[name].dims else frames[name].values,
                                   (n_graphs, n_bodies)).reshape(-1)[nodes]
             for name in property_names(ds, target)}
    axes = [AXES[k] if n_dim <= 3 else str(k) for k in range(n_dim)]
    receiver, sender, dx, edge_offsets = _edges(pos, present, radius, ds.attrs.get("box"))
    r = np.sqrt((dx ** 2).sum(-1, keepdims=True))
    dv = vel[receiver] - vel[sender] if vel is not None and {"dv", "speed"} & set(edge_features) else None
    columns, names = [], []
    for group in edge_features:
        if group == "dx":
            columns.append(dx), names.extend(f"d{a}" for a in axes)
        elif group == "r":
            columns.append(r), names.append("r")
        elif group in ("dv", "speed", "v"):
            if vel is None:
                raise GraphDataError(f"edge feature {group!r} needs a 'vel' variable in the data")
            if group == "dv":
                columns.append(dv), names.extend(f"dv{a}" for a in axes)
            elif group == "speed":
                columns.append(np.sqrt((dv ** 2).sum(-1, keepdims=True))), names.append("speed")
            else:
                columns.append(vel[receiver]), names.extend(f"v{a}_i" for a in axes)
                columns.append(vel[sender]), names.extend(f"v{a}_j" for a in axes)
        else:
            for name, value in props.items():
                if group == "properties":
                    columns.append(value[receiver, None]), names.append(f"{name}_i")
                columns.append(value[sender, None]), names.append(f"{name}_j")
    edge_x = (np.concatenate(columns, axis=-1) if columns else np.zeros((len(receiver), 0))).astype(dtype)
    node_columns, node_names = [], []
    for group in node_features:
        if group == "properties":
            for name, value in props.items():
                node_columns.append(value[:, None]), node_names.append(name)
        else:
            if vel is None:
                raise GraphDataError("node feature 'v' needs a 'vel' variable in the data")
            node_columns.append(vel), node_names.extend(f"v{a}" for a in axes)
    n_nodes = len(nodes)
    node_x = (np.concatenate(node_columns, axis=-1) if node_columns else np.zeros((n_nodes, 0))).astype(dtype)
    target_values = frames[target].transpose("graph", "body", ...).values.reshape(n_graphs * n_bodies, -1)
    target_values = target_values[nodes].astype(dtype)
    target_names = tuple(f"{target}_{a}" for a in axes) if "dim" in ds[target].dims else (target,)
    node_offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64)
    # frames of different sizes have no [frame, body] layout: their errors are measured per node
    return GraphSet(edge_x, receiver, sender, edge_offsets, node_x, target_values, nodes % n_bodies, node_offsets,
                    frames["sim"].values, frames["time"].values, tuple(names), tuple(node_names), target_names,
                    per_node=not present.all())


def _edges(pos: np.ndarray, present: np.ndarray, radius: float | None, box: float | None):
    """(receiver, sender, dx = x_receiver - x_sender, edge offsets) over frames ``pos`` [graph, body, dim] of the
    bodies ``present`` [graph, body]: every ordered pair, or (``radius``) the pairs closer than it, by minimum
    image in a periodic ``box``. Receivers and senders are node rows (present bodies, graph by graph)."""
    n_graphs, n_bodies, n_dim = pos.shape
    flat = pos.reshape(-1, n_dim)
    if radius is None:
        senders = sender_table(n_bodies)
        base = (np.arange(n_graphs) * n_bodies)[:, None]
        receiver = (base + np.repeat(np.arange(n_bodies), n_bodies - 1)).reshape(-1)  # slots (graph, body)
        sender = (base + senders.reshape(-1)).reshape(-1)
        if not present.all():
            both = present.reshape(-1)[receiver] & present.reshape(-1)[sender]
            receiver, sender = receiver[both], sender[both]
        dx = flat[receiver] - flat[sender]
    else:
        parts = []
        for g in range(n_graphs):
            slots = np.flatnonzero(present[g])
            local_receiver, local_sender, local_dx = radius_edges(pos[g, slots], radius, box)
            parts.append((g * n_bodies + slots[local_receiver], g * n_bodies + slots[local_sender], local_dx))
        receiver = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        sender = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        dx = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, n_dim))
    row = np.cumsum(present.reshape(-1)) - 1  # node row of each present slot
    counts = np.bincount(receiver // n_bodies, minlength=n_graphs) if n_bodies else np.zeros(n_graphs, np.int64)
    return row[receiver], row[sender], dx, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _check_dataset(ds: xr.Dataset, target: str) -> None:
    for name in ("pos", target):
        if name not in ds:
            raise GraphDataError(f"the data has no {name!r} variable; it has {', '.join(map(str, ds.data_vars))}")
    if set(ds["pos"].dims) != {"sim", "time", "body", "dim"}:
        raise GraphDataError(f"'pos' has dims {ds['pos'].dims}; it needs (sim, time, body, dim)")
    if ds.sizes["body"] < 2:
        raise GraphDataError(f"a graph needs at least 2 bodies, the data has {ds.sizes['body']}")
    problem = unexplained_nan(ds)
    if problem:
        raise GraphDataError(f"{problem}; clean the data first")

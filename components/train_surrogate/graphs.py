"""Graphs from a particle dataset as flat edge lists: the one sparse format of training, capture and the
composed model.

Every frame (sim, time) is one graph. Its nodes are rows of ``node_x``; its edges are rows of ``edge_x``
with the node rows of their ``receiver`` and ``sender``, so memory and time grow with the number of
edges: all ordered pairs of a small system, or the pairs closer than a radius (found by a KD-tree,
periodic when the data names its box) in a catalog of many points. Edges are ordered by graph, then
receiver, then sender; the sum over incoming edges is a scatter-add.
"""
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from symdistill.components.neighbours import radius_edges
from symdistill.components.presence import presence, unexplained_nan

EDGE_FEATURE_GROUPS = ("dx", "r", "dv", "speed", "v", "properties", "sender_properties")
AXES = "xyz"


class GraphDataError(ValueError):
    pass


@dataclass(frozen=True)
class GraphSet:
    """Graphs of one split as flat rows.

    edge_x: [edge, edge feature]; receiver, sender: [edge], node rows; edge_offsets: [graph + 1] (graph g's
    edges are rows edge_offsets[g]:edge_offsets[g+1]); node_x: [node, node feature]; node_target: [node,
    target component]; body: [node], the body's index in the data (its latent parameters); node_offsets:
    [graph + 1]; sim, time: [graph].
    """

    edge_x: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    edge_offsets: np.ndarray
    node_x: np.ndarray
    node_target: np.ndarray
    body: np.ndarray
    node_offsets: np.ndarray
    sim: np.ndarray
    time: np.ndarray
    edge_features: tuple[str, ...]
    node_features: tuple[str, ...]
    target_names: tuple[str, ...]
    node_mask: np.ndarray | None = None  # [node]: the nodes whose errors count (None: all); the others only send
    per_node: bool = False  # errors are measured per counted node (a node split), else per frame

    def __len__(self) -> int:
        return len(self.sim)

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        return len(self.edge_x)

    @property
    def node_graph(self) -> np.ndarray:
        """[node]: the graph each node belongs to."""
        return np.repeat(np.arange(len(self)), np.diff(self.node_offsets))

    @property
    def edge_graph(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.edge_offsets))

    @property
    def bodies_per_graph(self) -> int:
        """The number of nodes of every graph; a ValueError if graphs differ in size."""
        sizes = np.diff(self.node_offsets)
        if self.ragged:
            raise ValueError(f"graphs hold {sizes.min()} to {sizes.max()} nodes; this needs equal-sized graphs")
        return int(sizes[0]) if len(sizes) else 0

    @property
    def output_shape(self) -> tuple[int, int]:
        """(graph, body) of per-node outputs. With a node split the rows are nodes, and graphs may differ in
        size (pieces of a box, ``around``): then the outputs are one row of all nodes."""
        if self.per_node and self.ragged:
            return 1, self.n_nodes
        return len(self), self.bodies_per_graph

    def per_graph(self, values: np.ndarray) -> np.ndarray:
        """[node, ...] values as [graph, body, ...] (``output_shape``: one row of nodes if graphs differ in size)."""
        return np.asarray(values).reshape(*self.output_shape, *np.shape(values)[1:])

    @property
    def counted(self) -> np.ndarray:
        """[node] bool: the nodes whose errors count."""
        return np.ones(self.n_nodes, dtype=bool) if self.node_mask is None else self.node_mask

    def with_mask(self, node_mask: np.ndarray, per_node: bool) -> "GraphSet":
        """Only ``node_mask``'s nodes count; per node if ``per_node`` or if graphs differ in size."""
        return replace(self, node_mask=np.asarray(node_mask, dtype=bool).reshape(self.n_nodes),
                       per_node=per_node or self.ragged)

    @property
    def ragged(self) -> bool:
        """Graphs hold different numbers of nodes (bodies absent from some frames)."""
        sizes = np.diff(self.node_offsets)
        return bool(len(sizes) and (sizes != sizes[0]).any())

    def trimmed(self) -> "GraphSet":
        """Without the edges into nodes that do not count: a node's output depends only on its own incoming
        edges, so every counted output, loss and fit is unchanged, at the cost of the counted edges."""
        keep = self.counted[self.receiver]
        if keep.all():
            return self
        counts = np.bincount(self.edge_graph[keep], minlength=len(self))
        return replace(self, edge_x=self.edge_x[keep], receiver=self.receiver[keep], sender=self.sender[keep],
                       edge_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def rows(self, values):
        """Values [graph, body, ...] or [node, ...] (numpy or torch) as the rows errors are measured on:
        [frame, body, ...] when frames are the unit, [counted node, 1, ...] when nodes are."""
        if not self.per_node:
            return values.reshape(len(self), self.bodies_per_graph, *values.shape[-1:])
        return values.reshape(self.n_nodes, values.shape[-1])[np.flatnonzero(self.counted)][:, None, :]

    @property
    def target(self) -> np.ndarray:
        """[graph, body, target component]."""
        return self.per_graph(self.node_target)

    def with_target(self, values: np.ndarray) -> "GraphSet":
        """The same graphs with other targets, given [graph, body, component] or [node, component]."""
        values = np.asarray(values)
        return replace(self, node_target=values.reshape(self.n_nodes, -1).astype(self.node_target.dtype))

    def incoming_edge_offsets(self) -> np.ndarray:
        """[node + 1]: node n's incoming edges are rows offsets[n]:offsets[n + 1] (edges are sorted by receiver)."""
        return np.searchsorted(self.receiver, np.arange(self.n_nodes + 1))

    def around(self, nodes: np.ndarray) -> "GraphSet":
        """The node rows ``nodes`` (sorted) as the counted nodes, with their incoming edges and, uncounted, the
        senders of those edges: all their outputs depend on, renumbered, for working on a large box in pieces."""
        nodes = np.asarray(nodes, dtype=np.int64)
        edges, _ = rows_of(self.incoming_edge_offsets(), nodes)
        keep = np.union1d(nodes, self.sender[edges])
        node_offsets = np.concatenate([[0], np.cumsum(np.bincount(self.node_graph[keep], minlength=len(self)))])
        edge_offsets = np.concatenate([[0], np.cumsum(np.bincount(self.edge_graph[edges], minlength=len(self)))])
        return replace(self, edge_x=self.edge_x[edges], receiver=np.searchsorted(keep, self.receiver[edges]),
                       sender=np.searchsorted(keep, self.sender[edges]), edge_offsets=edge_offsets.astype(np.int64),
                       node_x=self.node_x[keep], node_target=self.node_target[keep], body=self.body[keep],
                       node_offsets=node_offsets.astype(np.int64), node_mask=np.isin(keep, nodes), per_node=True)

    def spread(self, limit: int) -> "GraphSet":
        """At most ``limit`` graphs, evenly spread over the set (over simulations and times)."""
        return self.subset(evenly_spread(len(self), limit))

    def subset(self, index) -> "GraphSet":
        """The graphs ``index`` (a slice, an index array or a mask), their node and edge rows renumbered."""
        graphs = np.arange(len(self))[index]
        nodes, node_offsets = rows_of(self.node_offsets, graphs)
        edges, edge_offsets = rows_of(self.edge_offsets, graphs)
        shift = np.repeat(node_offsets[:-1] - self.node_offsets[graphs], np.diff(edge_offsets))
        return GraphSet(self.edge_x[edges], self.receiver[edges] + shift, self.sender[edges] + shift, edge_offsets,
                        self.node_x[nodes], self.node_target[nodes], self.body[nodes], node_offsets,
                        self.sim[graphs], self.time[graphs], self.edge_features, self.node_features,
                        self.target_names, None if self.node_mask is None else self.node_mask[nodes], self.per_node)


def evenly_spread(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` of the indices 0 .. n-1, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))


def rows_of(offsets: np.ndarray, graphs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``graphs`` in order, their new offsets) for rows laid out by ``offsets``."""
    starts, counts = offsets[graphs], offsets[graphs + 1] - offsets[graphs]
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.repeat(starts - new_offsets[:-1], counts) + np.arange(new_offsets[-1]), new_offsets


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

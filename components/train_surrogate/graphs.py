"""Graphs from a particle dataset: per-edge and per-node feature tensors with named features.

Every frame (sim, time) is one graph of the same bodies. Edges run from each sender j to each receiver
i != j and are laid out densely as [graph, receiver, other body], with a mask that drops pairs beyond
the radius of a radius graph, so a batch is plain tensor slicing and the sum over incoming edges is a
masked sum over one axis.
"""
from dataclasses import dataclass

import numpy as np
import xarray as xr

EDGE_FEATURE_GROUPS = ("dx", "r", "dv", "v", "properties", "sender_properties")
AXES = "xyz"


class GraphDataError(ValueError):
    pass


@dataclass(frozen=True)
class GraphSet:
    """Graphs of one split. edge_x: [graph, body, body-1, edge feature]; edge_mask: [graph, body, body-1];
    node_x: [graph, body, node feature]; target: [graph, body, target dim]; sim, time: [graph];
    sender: [body, body-1] (the sender of edge slot (i, k) to receiver i)."""

    edge_x: np.ndarray
    edge_mask: np.ndarray
    node_x: np.ndarray
    target: np.ndarray
    sim: np.ndarray
    time: np.ndarray
    sender: np.ndarray
    edge_features: tuple[str, ...]
    node_features: tuple[str, ...]
    target_names: tuple[str, ...]

    def __len__(self) -> int:
        return self.edge_x.shape[0]

    def subset(self, index) -> "GraphSet":
        return GraphSet(self.edge_x[index], self.edge_mask[index], self.node_x[index], self.target[index],
                        self.sim[index], self.time[index], self.sender, self.edge_features, self.node_features,
                        self.target_names)


def sender_table(n_bodies: int) -> np.ndarray:
    """[body, body-1]: the other bodies of each receiver, in order."""
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
        elif base.startswith(("dv", "v")):
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

    Edge features: dx = x_receiver - x_sender per axis, r = |dx|, dv = v_receiver - v_sender, v = both
    velocities, properties = each per-body property of receiver and sender, sender_properties = the
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
    vel = frames["vel"].transpose("graph", "body", "dim").values if "vel" in frames else None
    props = {name: np.broadcast_to(frames[name].transpose("graph", "body").values
                                   if "graph" in frames[name].dims else frames[name].values, (n_graphs, n_bodies))
             for name in property_names(ds, target)}
    axes = [AXES[k] if n_dim <= 3 else str(k) for k in range(n_dim)]
    senders = sender_table(n_bodies)
    dx = pos[:, :, None, :] - pos[:, senders, :]  # [graph, receiver, other, dim]
    r = np.sqrt((dx ** 2).sum(-1, keepdims=True))
    columns, names = [], []
    for group in edge_features:
        if group == "dx":
            columns.append(dx), names.extend(f"d{a}" for a in axes)
        elif group == "r":
            columns.append(r), names.append("r")
        elif group in ("dv", "v"):
            if vel is None:
                raise GraphDataError(f"edge feature {group!r} needs a 'vel' variable in the data")
            if group == "dv":
                columns.append(vel[:, :, None, :] - vel[:, senders, :]), names.extend(f"dv{a}" for a in axes)
            else:
                columns.append(np.broadcast_to(vel[:, :, None, :], dx.shape)), names.extend(f"v{a}_i" for a in axes)
                columns.append(vel[:, senders, :]), names.extend(f"v{a}_j" for a in axes)
        else:
            for name, value in props.items():
                if group == "properties":
                    columns.append(np.broadcast_to(value[:, :, None, None], r.shape)), names.append(f"{name}_i")
                columns.append(value[:, senders, None]), names.append(f"{name}_j")
    edge_x = (np.concatenate(columns, axis=-1) if columns else np.zeros(r.shape[:3] + (0,))).astype(dtype)
    edge_mask = np.ones(edge_x.shape[:3], dtype=bool) if radius is None else r[..., 0] <= radius
    node_columns, node_names = [], []
    for group in node_features:
        if group == "properties":
            for name, value in props.items():
                node_columns.append(value[:, :, None]), node_names.append(name)
        else:
            if vel is None:
                raise GraphDataError("node feature 'v' needs a 'vel' variable in the data")
            node_columns.append(vel), node_names.extend(f"v{a}" for a in axes)
    node_x = (np.concatenate(node_columns, axis=-1) if node_columns else np.zeros((n_graphs, n_bodies, 0))).astype(dtype)
    target_values = frames[target].transpose("graph", "body", ...).values
    target_values = target_values.reshape(n_graphs, n_bodies, -1).astype(dtype)
    target_names = tuple(f"{target}_{a}" for a in axes) if "dim" in ds[target].dims else (target,)
    return GraphSet(edge_x, edge_mask, node_x, target_values, frames["sim"].values, frames["time"].values,
                    senders, tuple(names), tuple(node_names), target_names)


def _check_dataset(ds: xr.Dataset, target: str) -> None:
    for name in ("pos", target):
        if name not in ds:
            raise GraphDataError(f"the data has no {name!r} variable; it has {', '.join(map(str, ds.data_vars))}")
    if set(ds["pos"].dims) != {"sim", "time", "body", "dim"}:
        raise GraphDataError(f"'pos' has dims {ds['pos'].dims}; it needs (sim, time, body, dim)")
    if ds.sizes["body"] < 2:
        raise GraphDataError(f"a graph needs at least 2 bodies, the data has {ds.sizes['body']}")
    for name, var in ds.data_vars.items():
        if np.issubdtype(var.dtype, np.number) and not np.isfinite(var.values).all():
            first = np.argwhere(~np.isfinite(var.values))[0]
            where = ", ".join(f"{d}={int(i)}" for d, i in zip(var.dims, first))
            raise GraphDataError(f"variable {name!r} has NaN or Inf (first at {where}); clean the data first")

"""Shared by the stages that use the trained surrogate: graphs as the config asks, the model from the store."""
import json

import numpy as np
import xarray as xr

from symdistill.catalogs.weights import dataset_to_arrays
from symdistill.components.train_surrogate import GraphNetwork, GraphSet, SurrogateSpec, build_graphs, from_arrays
from symdistill.config import Experiment, TrainSurrogateConfig


def graphs_for(cfg: TrainSurrogateConfig, data: xr.Dataset, sims) -> GraphSet:
    target = data.attrs.get("target", "acc")
    return build_graphs(data, target=target, edge_features=tuple(cfg.edge_features),
                        node_features=tuple(cfg.node_features), radius=cfg.radius, sims=sims,
                        latent_per_body=cfg.latent_per_body)


def load_surrogate(trained: dict[str, xr.Dataset]) -> GraphNetwork:
    """The exact trained network of a train_surrogate artifact."""
    weights = trained["weights"]
    spec = SurrogateSpec(**json.loads(weights.attrs["spec"]))
    return from_arrays(spec, dataset_to_arrays(weights)).eval()


def role_graphs(experiment: Experiment, data: xr.Dataset, split: dict[str, xr.Dataset],
                *roles: str) -> tuple[GraphSet, ...]:
    """Graphs of the frames that hold nodes the split artifact gives each of ``roles`` (train, validation, test,
    out_of_distribution), those nodes marked as the ones that count: one GraphSet per role, in order. The
    graphs of every frame involved are built once and shared."""
    masks = {role: split["masks"][role].values for role in roles}  # [sim, time, body]
    frames = {role: mask.any(axis=2) for role, mask in masks.items()}
    sims = np.flatnonzero(np.any([f.any(axis=1) for f in frames.values()], axis=0))
    graphs = graphs_for(experiment.train_surrogate, data, sims)  # every frame of those simulations
    per_node = split["masks"].attrs.get("unit") == "node"
    sets = []
    for role in roles:
        chosen = np.flatnonzero(frames[role][sims].reshape(-1))
        # each node's (frame, body) slot: frames may lack bodies, so nodes are not a [frame, body] grid
        node_mask = masks[role][sims].reshape(-1, masks[role].shape[2])[graphs.node_graph, graphs.body]
        sets.append(graphs.with_mask(node_mask, per_node).subset(chosen).trimmed())
    return tuple(sets)


def captured_graphs(experiment: Experiment, test: GraphSet) -> GraphSet:
    """Of the test graphs, the frames that capture records (and compose checks against)."""
    return test.spread(experiment.capture.max_graphs)

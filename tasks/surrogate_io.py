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


def role_graphs(experiment: Experiment, data: xr.Dataset, split: dict[str, xr.Dataset], role: str) -> GraphSet:
    """Graphs of the frames that hold nodes the split artifact gives ``role`` (train, validation, test,
    out_of_distribution), those nodes marked as the ones that count."""
    mask = split["masks"][role].values  # [sim, time, body]
    frames = mask.any(axis=2)
    sims = np.flatnonzero(frames.any(axis=1))
    graphs = graphs_for(experiment.train_surrogate, data, sims)  # every frame of those simulations
    chosen = np.flatnonzero(frames[sims].reshape(-1))
    node_mask = mask[sims].reshape(-1, mask.shape[2])[chosen]
    per_node = split["masks"].attrs.get("unit") == "node"
    return graphs.subset(chosen).with_mask(node_mask, per_node).trimmed()


def spread(graphs: GraphSet, limit: int) -> GraphSet:
    """At most ``limit`` graphs, evenly spread over the set (over simulations and times)."""
    return graphs.subset(np.unique(np.linspace(0, len(graphs) - 1, min(limit, len(graphs))).astype(int)))


def captured_graphs(experiment: Experiment, data: xr.Dataset, split: dict[str, xr.Dataset]) -> GraphSet:
    """The held-out, in-distribution frames that capture records (and compose checks against)."""
    return spread(role_graphs(experiment, data, split, "test"), experiment.capture.max_graphs)

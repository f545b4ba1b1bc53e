"""Shared by the stages that use the trained surrogate: graphs as the config asks, the model from the store."""
import json

import numpy as np
import xarray as xr

from symdistill.catalogs.weights import dataset_to_arrays
from symdistill.components.train_surrogate import GraphNetwork, GraphSet, SurrogateSpec, build_graphs, from_arrays
from symdistill.config import TrainSurrogateConfig


def graphs_for(cfg: TrainSurrogateConfig, data: xr.Dataset, sims) -> GraphSet:
    target = data.attrs.get("target", "acc")
    return build_graphs(data, target=target, edge_features=tuple(cfg.edge_features),
                        node_features=tuple(cfg.node_features), radius=cfg.radius, sims=sims)


def load_surrogate(trained: dict[str, xr.Dataset]) -> GraphNetwork:
    """The exact trained network of a train_surrogate artifact."""
    weights = trained["weights"]
    spec = SurrogateSpec(**json.loads(weights.attrs["spec"]))
    return from_arrays(spec, dataset_to_arrays(weights)).eval()


def split_of(trained: dict[str, xr.Dataset], name: str) -> np.ndarray:
    """Simulation indices of the train, validation or test split the surrogate was trained with."""
    return trained["split"][f"{name}_sims"].values

"""Shared by the stages that use the trained surrogate: graphs as the config asks, the model from the store."""
import json

import numpy as np
import xarray as xr

from symdistill.catalogs.weights import dataset_to_arrays
from symdistill.components.ood import OODRule, frame_index, ood_frames
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


def split_of(trained: dict[str, xr.Dataset], name: str) -> np.ndarray:
    """Simulation indices of the train, validation or test split the surrogate was trained with."""
    return trained["split"][f"{name}_sims"].values


def ood_rule(experiment: Experiment) -> OODRule | None:
    cfg = experiment.validate_ood
    if cfg is None:
        return None
    return OODRule(cfg.kind, cfg.variable, -np.inf if cfg.low is None else cfg.low,
                   np.inf if cfg.high is None else cfg.high)


def split_graphs(experiment: Experiment, data: xr.Dataset, sims, *, out_of_distribution: bool = False) -> GraphSet:
    """Graphs of ``sims``: the in-distribution frames, or (``out_of_distribution``) the withheld ones."""
    graphs = graphs_for(experiment.train_surrogate, data, sims)
    rule = ood_rule(experiment)
    if rule is None:
        return graphs.subset(slice(0, 0)) if out_of_distribution else graphs
    mask = ood_frames(data, rule, data.attrs.get("target", "acc"))
    return graphs.subset(frame_index(data, mask if out_of_distribution else ~mask, sims))


def spread(graphs: GraphSet, limit: int) -> GraphSet:
    """At most ``limit`` graphs, evenly spread over the set (over simulations and times)."""
    return graphs.subset(np.unique(np.linspace(0, len(graphs) - 1, min(limit, len(graphs))).astype(int)))


def captured_graphs(experiment: Experiment, data: xr.Dataset, trained: dict[str, xr.Dataset]) -> GraphSet:
    """The held-out, in-distribution frames that capture records (and compose checks against)."""
    return spread(split_graphs(experiment, data, split_of(trained, "test")), experiment.capture.max_graphs)

"""The train_surrogate stage's science: graphs from particle data, the graph network, and its training."""
from symdistill.components.train_surrogate.graph_set import GraphSet
from symdistill.components.train_surrogate.graphs import EDGE_FEATURE_GROUPS, GraphDataError, build_graphs, feature_units
from symdistill.components.train_surrogate.model import (
    VARIANTS, GraphNetwork, SurrogateSpec, from_arrays, to_arrays)
from symdistill.components.train_surrogate.train import (
    Batch, Checkpoint, TrainingResult, TrainingSettings, evaluate_loss, predict, predict_nodes, prediction_error, train)

__all__ = ["EDGE_FEATURE_GROUPS", "VARIANTS", "Batch", "Checkpoint", "GraphDataError", "GraphNetwork", "GraphSet",
           "SurrogateSpec", "TrainingResult", "TrainingSettings", "build_graphs", "evaluate_loss", "feature_units", "from_arrays", "predict", "predict_nodes",
           "prediction_error", "to_arrays", "train"]

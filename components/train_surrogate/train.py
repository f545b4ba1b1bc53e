"""Training the graph network: Adam, a one-cycle or cosine schedule, early stopping, resumable checkpoints.

Loss per graph (METHOD.md §2a): the summed absolute error over bodies and target components, plus
l1_weight * sum |messages| (l1) or kl_weight * KL (kl); averaged over the graphs of a batch.
Reproducible: the initial weights come from ``seed``, each epoch's shuffle and noise from (seed, epoch),
so a run resumed from a checkpoint continues exactly as if it had never stopped.
"""
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from symdistill.components.train_surrogate.graphs import GraphSet
from symdistill.components.train_surrogate.model import GraphNetwork, SurrogateSpec, from_arrays, to_arrays

SCHEDULES = ("onecycle", "cosine")


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-8
    schedule: str = "onecycle"
    l1_weight: float = 1e-2
    kl_weight: float = 1e-3
    patience: int = 8
    seed: int = 0
    checkpoint_every: int = 5

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")


@dataclass
class TrainingResult:
    weights: dict[str, np.ndarray]  # the best epoch's, by validation loss
    curves: dict[str, list[float]]  # epoch, train_loss, validation_loss, learning_rate
    best_epoch: int
    stopped_early: bool
    resumed_from_epoch: int = 0


@dataclass
class Checkpoint:
    """Plain arrays and numbers: the model, Adam's moments, the best weights so far, the curves."""

    epoch: int
    model: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    best: dict[str, np.ndarray]
    best_loss: float
    best_epoch: int
    curves: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """A GraphSet's rows as tensors, the model's inputs and the loss's target."""

    edge_x: torch.Tensor
    receiver: torch.Tensor
    sender: torch.Tensor
    node_x: torch.Tensor
    body: torch.Tensor
    target: torch.Tensor
    n_graphs: int

    @classmethod
    def of(cls, graphs: GraphSet) -> "Batch":
        def tensor(values):
            return torch.from_numpy(np.ascontiguousarray(values))
        return cls(tensor(graphs.edge_x), tensor(graphs.receiver), tensor(graphs.sender), tensor(graphs.node_x),
                   tensor(graphs.body), tensor(graphs.node_target), len(graphs))

    def run(self, model: GraphNetwork, sample: bool = False):
        return model(self.edge_x, self.receiver, self.sender, self.node_x, self.body, sample=sample)


def batch_losses(model: GraphNetwork, batch: Batch, settings: TrainingSettings, sample: bool):
    """(data loss, regularized loss), each summed over the batch and divided by its number of graphs."""
    output, messages, kl = batch.run(model, sample=sample)
    data = (output - batch.target).abs().sum() / batch.n_graphs
    if model.spec.variant == "l1":
        return data, data + settings.l1_weight * messages.abs().sum() / batch.n_graphs
    if model.spec.variant == "kl":
        return data, data + settings.kl_weight * kl.sum() / batch.n_graphs
    return data, data


def predict_nodes(model: GraphNetwork, graphs: GraphSet, batch_size: int = 1024) -> np.ndarray:
    """The network's outputs [node, output] on ``graphs``, messages at their mean, ``batch_size`` graphs at a time."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            outputs.append(Batch.of(graphs.subset(slice(start, start + batch_size))).run(model)[0].numpy())
    return np.concatenate(outputs) if outputs else np.zeros_like(graphs.node_target)


def predict(model: GraphNetwork, graphs: GraphSet, batch_size: int = 1024) -> np.ndarray:
    """The network's outputs [graph, body, output] on ``graphs`` (equal-sized graphs)."""
    return graphs.per_graph(predict_nodes(model, graphs, batch_size))


def evaluate_loss(model: GraphNetwork, graphs: GraphSet) -> float:
    """Mean summed absolute error per graph."""
    return float(np.abs(predict_nodes(model, graphs) - graphs.node_target).sum()) / max(len(graphs), 1)


def prediction_error(model: GraphNetwork, graphs: GraphSet) -> dict[str, float]:
    """Mean absolute error per target component, and that error relative to the mean |target|."""
    mae = float(np.abs(predict_nodes(model, graphs) - graphs.node_target).mean())
    return {"mae": mae, "relative_mae": mae / float(np.abs(graphs.node_target).mean())}


def train(spec: SurrogateSpec, settings: TrainingSettings, train_set: GraphSet, validation_set: GraphSet, *,
          resume: Checkpoint | None = None, on_checkpoint: Callable[[Checkpoint], None] | None = None,
          progress: Callable[[int, float, float], None] | None = None) -> TrainingResult:
    """Train from scratch, or from ``resume``; ``on_checkpoint`` receives a Checkpoint every few epochs."""
    torch.manual_seed(settings.seed)
    model = GraphNetwork(spec)
    # Scaling outputs to the target's spread makes training far more accurate (bottleneck spring: message-force
    # R^2 0.54 -> 0.999), but it also makes shrinking all messages at once nearly free, defeating the L1 penalty.
    model.fit_scales(train_set.edge_x, train_set.node_x, train_set.node_target, scale_outputs=spec.variant != "l1")
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / settings.batch_size)
    scheduler = _scheduler(optimizer, settings, steps_per_epoch)
    best, best_loss, best_epoch, start_epoch = to_arrays(model), math.inf, 0, 0
    curves = {"epoch": [], "train_loss": [], "validation_loss": [], "learning_rate": []}
    if resume is not None:
        model = from_arrays(spec, resume.model)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        _load_optimizer(optimizer, resume.optimizer)
        scheduler = _scheduler(optimizer, settings, steps_per_epoch)
        with warnings.catch_warnings():  # replaying the schedule is cheaper than storing it
            warnings.filterwarnings("ignore", message="Detected call of")
            for _ in range(resume.epoch * steps_per_epoch):
                scheduler.step()
        best, best_loss, best_epoch, start_epoch = resume.best, resume.best_loss, resume.best_epoch, resume.epoch
        curves = {k: list(v) for k, v in resume.curves.items()}
    stopped_early = False
    for epoch in range(start_epoch, settings.epochs):
        model.train()
        order = np.random.default_rng((settings.seed, epoch)).permutation(len(train_set))
        torch.manual_seed(settings.seed * 100_003 + epoch)
        running = 0.0
        for start in range(0, len(order), settings.batch_size):
            index = np.sort(order[start:start + settings.batch_size])
            _, loss = batch_losses(model, Batch.of(train_set.subset(index)), settings, sample=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach()) * len(index)
        model.eval()
        validation_loss = evaluate_loss(model, validation_set)
        curves["epoch"].append(epoch + 1)
        curves["train_loss"].append(running / len(order))
        curves["validation_loss"].append(validation_loss)
        curves["learning_rate"].append(float(optimizer.param_groups[0]["lr"]))
        if progress is not None:
            progress(epoch + 1, running / len(order), validation_loss)
        if validation_loss < best_loss:
            best, best_loss, best_epoch = to_arrays(model), validation_loss, epoch + 1
        if epoch + 1 - best_epoch >= settings.patience:
            stopped_early = True
            break
        if on_checkpoint is not None and (epoch + 1) % settings.checkpoint_every == 0 and epoch + 1 < settings.epochs:
            on_checkpoint(Checkpoint(epoch + 1, to_arrays(model), _optimizer_arrays(optimizer), best, best_loss,
                                     best_epoch, {k: list(v) for k, v in curves.items()}))
    return TrainingResult(best, curves, best_epoch, stopped_early, start_epoch)


def _scheduler(optimizer, settings: TrainingSettings, steps_per_epoch: int):
    total = max(settings.epochs * steps_per_epoch, 1)
    if settings.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.learning_rate, total_steps=total)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)


def _optimizer_arrays(optimizer) -> dict[str, np.ndarray]:
    arrays = {}
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            arrays[f"{index}.{name}"] = np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value,
                                                   dtype=np.float64)
    return arrays


def _load_optimizer(optimizer, arrays: dict[str, np.ndarray]) -> None:
    state_dict = optimizer.state_dict()
    state = {}
    for key, value in arrays.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = torch.as_tensor(np.asarray(value), dtype=torch.float32)
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)

"""Training the graph network: Adam, a one-cycle or cosine schedule, early stopping, resumable checkpoints.

Loss per graph (METHOD.md §2a): the summed absolute error over bodies and target components, plus
l1_weight * sum |messages| (l1) or kl_weight * KL (kl); averaged over the graphs of a batch.
Reproducible: the initial weights come from ``seed``, each epoch's shuffle and noise from (seed, epoch),
so a run resumed from a checkpoint continues exactly as if it had never stopped.
"""
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from symdistill.components.train_surrogate.graph_set import GraphSet, rows_of
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
    """Rows of a GraphSet as tensors, the model's inputs and the loss's target."""

    edge_x: torch.Tensor
    receiver: torch.Tensor  # [edge]: node row of the batch
    sender_body: torch.Tensor  # [edge]: the sender's body index (its latent parameters)
    node_x: torch.Tensor
    body: torch.Tensor
    target: torch.Tensor
    counted: torch.Tensor  # [node, 1]: 1 where the node's error counts in the loss, else 0
    n_units: int  # what the loss is averaged over: graphs, or (a node batch) nodes

    @classmethod
    def of(cls, graphs: GraphSet) -> "Batch":
        return cls(_tensor(graphs.edge_x), _tensor(graphs.receiver), _tensor(graphs.body[graphs.sender]),
                   _tensor(graphs.node_x), _tensor(graphs.body), _tensor(graphs.node_target),
                   _tensor(graphs.counted[:, None].astype(graphs.node_target.dtype)), len(graphs))

    def run(self, model: GraphNetwork, sample: bool = False):
        return model(self.edge_x, self.receiver, self.sender_body, self.node_x, self.body, sample=sample)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values))


def node_batches(graphs: GraphSet, batch_nodes: int, rng: np.random.Generator) -> Iterator[Batch]:
    """Mini-batches of ``batch_nodes`` counted nodes in random order, each with its incoming edges only (all a
    node's output depends on): how a catalog of one large box trains on many small steps."""
    edge_start = graphs.incoming_edge_offsets()
    order = rng.permutation(np.flatnonzero(graphs.counted))
    for start in range(0, len(order), batch_nodes):
        nodes = np.sort(order[start:start + batch_nodes])
        edges, offsets = rows_of(edge_start, nodes)
        receiver = np.repeat(np.arange(len(nodes)), np.diff(offsets))
        yield Batch(_tensor(graphs.edge_x[edges]), _tensor(receiver), _tensor(graphs.body[graphs.sender[edges]]),
                    _tensor(graphs.node_x[nodes]), _tensor(graphs.body[nodes]), _tensor(graphs.node_target[nodes]),
                    torch.ones(len(nodes), 1, dtype=torch.from_numpy(graphs.node_target[:0]).dtype), len(nodes))


def training_batches(graphs: GraphSet, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
    """One epoch's mini-batches: ``batch_size`` graphs, or with a node split ``batch_size`` nodes."""
    if graphs.per_node:
        yield from node_batches(graphs, batch_size, rng)
        return
    order = rng.permutation(len(graphs))
    for start in range(0, len(order), batch_size):
        yield Batch.of(graphs.subset(np.sort(order[start:start + batch_size])))


def steps_per_epoch(graphs: GraphSet, batch_size: int) -> int:
    return math.ceil((int(graphs.counted.sum()) if graphs.per_node else len(graphs)) / batch_size)


def batch_losses(model: GraphNetwork, batch: Batch, settings: TrainingSettings, sample: bool):
    """(data loss, regularized loss), each summed over the batch and divided by its graphs (or nodes)."""
    output, messages, kl = batch.run(model, sample=sample)
    data = ((output - batch.target).abs() * batch.counted).sum() / batch.n_units
    if model.spec.variant == "l1":
        return data, data + settings.l1_weight * messages.abs().sum() / batch.n_units
    if model.spec.variant == "kl":
        return data, data + settings.kl_weight * kl.sum() / batch.n_units
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
    """Mean summed absolute error per graph, over the nodes that count."""
    error = np.abs(predict_nodes(model, graphs) - graphs.node_target)[graphs.counted]
    return float(error.sum()) / max(len(graphs), 1)


def prediction_error(model: GraphNetwork, graphs: GraphSet) -> dict[str, float]:
    """Mean absolute error per target component over the nodes that count, and that error relative to their
    mean |target|."""
    counted = graphs.counted
    mae = float(np.abs(predict_nodes(model, graphs) - graphs.node_target)[counted].mean())
    return {"mae": mae, "relative_mae": mae / float(np.abs(graphs.node_target[counted]).mean())}


def train(spec: SurrogateSpec, settings: TrainingSettings, train_set: GraphSet, validation_set: GraphSet, *,
          resume: Checkpoint | None = None, on_checkpoint: Callable[[Checkpoint], None] | None = None,
          progress: Callable[[int, float, float], None] | None = None) -> TrainingResult:
    """Train from scratch, or from ``resume``; ``on_checkpoint`` receives a Checkpoint every few epochs."""
    torch.manual_seed(settings.seed)
    model = GraphNetwork(spec)
    # Scaling outputs to the target's spread makes training far more accurate (bottleneck spring: message-force
    # R^2 0.54 -> 0.999), but it also makes shrinking all messages at once nearly free, defeating the L1 penalty.
    model.fit_scales(train_set.edge_x, train_set.node_x, train_set.node_target[train_set.counted],
                     scale_outputs=spec.variant != "l1")
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps = steps_per_epoch(train_set, settings.batch_size)
    scheduler = _scheduler(optimizer, settings, steps)
    best, best_loss, best_epoch, start_epoch = to_arrays(model), math.inf, 0, 0
    curves = {"epoch": [], "train_loss": [], "validation_loss": [], "learning_rate": []}
    if resume is not None:
        model = from_arrays(spec, resume.model)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        _load_optimizer(optimizer, resume.optimizer)
        scheduler = _scheduler(optimizer, settings, steps)
        with warnings.catch_warnings():  # replaying the schedule is cheaper than storing it
            warnings.filterwarnings("ignore", message="Detected call of")
            for _ in range(resume.epoch * steps):
                scheduler.step()
        best, best_loss, best_epoch, start_epoch = resume.best, resume.best_loss, resume.best_epoch, resume.epoch
        curves = {k: list(v) for k, v in resume.curves.items()}
    stopped_early = False
    for epoch in range(start_epoch, settings.epochs):
        model.train()
        rng = np.random.default_rng((settings.seed, epoch))
        torch.manual_seed(settings.seed * 100_003 + epoch)
        running, seen = 0.0, 0
        for batch in training_batches(train_set, settings.batch_size, rng):
            _, loss = batch_losses(model, batch, settings, sample=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach()) * batch.n_units
            seen += batch.n_units
        model.eval()
        validation_loss = evaluate_loss(model, validation_set)
        curves["epoch"].append(epoch + 1)
        curves["train_loss"].append(running / seen)
        curves["validation_loss"].append(validation_loss)
        curves["learning_rate"].append(float(optimizer.param_groups[0]["lr"]))
        if progress is not None:
            progress(epoch + 1, running / seen, validation_loss)
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

"""The train_surrogate stage: train the graph network on the data stage's output, resumably."""
import json
import os
import time

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.store import checkpoint_ref, read_checkpoint
from symdistill.catalogs.weights import arrays_to_dataset, dataset_to_arrays
from symdistill.components import plots
from symdistill.components.train_surrogate import (
    Checkpoint, SurrogateSpec, TrainingSettings, from_arrays, prediction_error, train)
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import role_graphs

DEFAULT_MESSAGE_DIM = 100


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.train_surrogate
    data_stage = ctx.experiment.data_stage
    data = inputs[data_stage]["data"]
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    train_set, val_set, test_set = role_graphs(ctx.experiment, data, inputs["split"], "train", "validation", "test")
    spec = surrogate_spec(cfg, train_set, data.sizes["body"])
    settings = training_settings(cfg)
    resume = _load_checkpoint(ctx, ref)
    clock = time.perf_counter()
    with tqdm(total=cfg.epochs, initial=resume.epoch if resume else 0, desc="train_surrogate", unit="epoch",
              disable=None) as bar:
        def progress(epoch, train_loss, validation_loss):
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.4g}", validation=f"{validation_loss:.4g}")
        result = train(spec, settings, train_set, val_set, resume=resume,
                       on_checkpoint=lambda c: _save_checkpoint(ctx, ref, c), progress=progress)
    seconds = time.perf_counter() - clock
    model = from_arrays(spec, result.weights).eval()
    error = prediction_error(model, test_set)
    summary = {"test_mae": error["mae"], "test_relative_mae": error["relative_mae"],
               "best_epoch": result.best_epoch, "epochs_run": len(result.curves["epoch"]),
               "stopped_early": result.stopped_early, "resumed_from_epoch": result.resumed_from_epoch,
               "train_seconds_this_run": seconds, "n_train_graphs": len(train_set)}
    datasets = {
        "weights": arrays_to_dataset(result.weights, {"spec": json.dumps(spec.as_dict())}),
        "curves": xr.Dataset({k: ("epoch", np.asarray(v, dtype=float)) for k, v in result.curves.items()
                              if k != "epoch"}, coords={"epoch": result.curves["epoch"]}),
        "figures": xr.Dataset({"training_curves": ("training_curves_png", plots.training_curves(result.curves))}),
    }
    return datasets, summary


def training_settings(cfg) -> TrainingSettings:
    return TrainingSettings(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                            weight_decay=cfg.weight_decay, schedule=cfg.schedule, l1_weight=cfg.l1_weight,
                            kl_weight=cfg.kl_weight, patience=cfg.patience, seed=cfg.seed,
                            checkpoint_every=cfg.checkpoint_every)


def surrogate_spec(cfg, train_set, n_bodies: int | None = None) -> SurrogateSpec:
    """``n_bodies``: of the data (latent parameters per body); a body may be absent from every training frame."""
    message_dim = cfg.message_dim or DEFAULT_MESSAGE_DIM
    if cfg.variant == "bottleneck":
        # one message component per target component: a pair term has the target's size (a force, the
        # spatial dimension; a scalar such as an overdensity, one), and a wider message lets the network
        # spread one term over mixtures the search must then find one by one
        message_dim = len(train_set.target_names)
    return SurrogateSpec(n_edge_features=len(train_set.edge_features), n_node_features=len(train_set.node_features),
                         n_out=len(train_set.target_names), n_bodies=n_bodies or int(train_set.body.max()) + 1,
                         message_dim=message_dim, hidden=cfg.hidden, layers=cfg.layers, variant=cfg.variant,
                         n_latent=cfg.latent_per_body, latent_ends=latent_ends(cfg.edge_features))


def latent_ends(edge_features) -> tuple[str, ...]:
    """Latent parameters stand for unknown per-body properties, so an edge sees them where it would see
    known ones: both ends with ``properties``, the sender only with ``sender_properties`` (the default, so
    a message cannot carry a receiver-dependent scale that the node undoes)."""
    if "properties" in edge_features:
        return ("i", "j")
    return ("j",) if "sender_properties" in edge_features else ()


def _save_checkpoint(ctx: RunContext, ref: ArtifactRef, checkpoint: Checkpoint) -> None:
    datasets = {"model": arrays_to_dataset(checkpoint.model), "optimizer": arrays_to_dataset(checkpoint.optimizer),
                "best": arrays_to_dataset(checkpoint.best)}
    ctx.store.write(checkpoint_ref(ref), datasets, {"epoch": checkpoint.epoch, "best_loss": checkpoint.best_loss,
                                                    "best_epoch": checkpoint.best_epoch, "curves": checkpoint.curves})


def _load_checkpoint(ctx: RunContext, ref: ArtifactRef) -> Checkpoint | None:
    saved = read_checkpoint(ctx.store, ref)
    if saved is None:
        return None
    datasets, meta = saved
    ctx.log(f"train_surrogate: resuming from the checkpoint of epoch {meta['epoch']}")
    return Checkpoint(meta["epoch"], dataset_to_arrays(datasets["model"]), dataset_to_arrays(datasets["optimizer"]),
                      dataset_to_arrays(datasets["best"]), meta["best_loss"], meta["best_epoch"], meta["curves"])

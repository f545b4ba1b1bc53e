"""Surrogate training on the spring and r^-2 laws (2D, 4 bodies), every variant, beside the paper's figures.

For each law and variant: wall time of training on this machine, held-out acceleration error, the
message-force R^2 of the top-D message components (D = 2) and the number of significant components.
Uses the shipped experiments' data settings and the default [train_surrogate] settings, changing only
the variant. Run: .venv/bin/python benchmarks/surrogate.py [--epochs N]
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from symdistill.components.capture import capture, message_force_fit
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.split import split_simulations
from symdistill.components.train_surrogate import from_arrays, prediction_error, train
from symdistill.config import SplitConfig, TrainSurrogateConfig, load_experiment
from symdistill.components.capture_check import true_pair_force
from symdistill.tasks.surrogate_io import graphs_for
from symdistill.tasks.train_surrogate import surrogate_spec, training_settings

CONFIGS = Path(__file__).parent.parent / "config"
# METHOD.md §2a: R^2 of an independent PyTorch Geometric reproduction (GPU, 200 epochs x 5000 steps).
REFERENCE_R2 = {"spring": {"standard": 0.920, "bottleneck": 1.000, "l1": 0.998, "kl": 0.801},
                "r2": {"standard": 0.833, "bottleneck": 0.967, "l1": 0.830, "kl": 0.866}}


def dataset(config_name):
    cfg = load_experiment(CONFIGS / config_name).simulate
    return simulate(ForceLaw(cfg.law, softening=cfg.softening), n_bodies=cfg.n_bodies, dim=cfg.dim,
                    n_sims=cfg.n_sims, duration=cfg.duration, record_interval=cfg.record_interval, dt=cfg.dt,
                    integrator=cfg.integrator, tolerance=cfg.tolerance, fixed_masses=cfg.fixed_masses,
                    masses=cfg.masses, fixed_charges=cfg.fixed_charges, charges=cfg.charges, seed=cfg.seed,
                    units=cfg.units.model_dump())


def run(data, variant, epochs):
    overrides = {"variant": variant} | ({"epochs": epochs} if epochs else {})
    cfg = TrainSurrogateConfig(**overrides)
    split = SplitConfig()
    splits = split_simulations(data.sizes["sim"], split.validation_fraction, split.test_fraction, split.seed)
    train_set, val_set, test_set = (graphs_for(cfg, data, sims) for sims in splits)
    spec = surrogate_spec(cfg, train_set)
    settings = training_settings(cfg)
    clock = time.perf_counter()
    result = train(spec, settings, train_set, val_set)
    seconds = time.perf_counter() - clock
    model = from_arrays(spec, result.weights).eval()
    error = prediction_error(model, test_set)
    held_out = test_set.subset(np.linspace(0, len(test_set) - 1, 1000).astype(int))
    edge = capture(model, held_out, true_force=true_pair_force(data, held_out, ForceLaw.from_attrs(
        data.attrs["force_law"])))["edge"]
    fit = message_force_fit(edge, n_components=data.sizes["dim"])
    return seconds, len(result.curves["epoch"]), error["relative_mae"], fit["r2"], edge.attrs["significant_components"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument("--variants", default="standard,l1,kl,bottleneck")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"torch threads {torch.get_num_threads()}; default [train_surrogate] settings, variant changed")
    print("| law | variant | train wall (s) | epochs | held-out rel. MAE of acc | R^2 top-2 messages | "
          "reference R^2 (PyG repro) | significant components |")
    print("|---|---|---|---|---|---|---|---|")
    for law, config_name in (("spring", "spring2d.toml"), ("r2", "gravity2d.toml")):
        data = dataset(config_name)
        for variant in args.variants.split(","):
            seconds, epochs, rel, r2, n_sig = run(data, variant, args.epochs)
            print(f"| {law} | {variant} | {seconds:.0f} | {epochs} | {rel:.3f} | "
                  f"{' / '.join(f'{v:.3f}' for v in r2)} | {REFERENCE_R2[law][variant]:.3f} | {n_sig} |", flush=True)


if __name__ == "__main__":
    main()

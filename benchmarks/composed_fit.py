"""Seconds per Levenberg-Marquardt re-fit of a composed law: the engine's numba kernel Jacobian against torch's
forward mode, side by side on the same data, law and start.

The work is the compose and refit stages' trial fit (components/refit.py: TRIAL_FRAMES frames, TRIAL_ITERATIONS
iterations), on the gravity law of the discovery matrix (4 bodies, softening 0.01) with its constants
perturbed, in 2D and 3D; one full fit on every frame as the refit stage runs it. Both must land on the same
constants (the table prints the largest relative difference).

Run: .venv/bin/python benchmarks/composed_fit.py [simulations, default 60: 6,000 frames]
"""
import sys
import time

import numpy as np
import sympy
import torch

from symdistill.components import least_squares
from symdistill.components.compose import ComposedModel, Composition
from symdistill.components.refit import TRIAL_FRAMES, TRIAL_ITERATIONS, TRIAL_TOLERANCE, refit
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.sr.export import from_sympy
from symdistill.components.train_surrogate import build_graphs

AXES = "xyz"


def gravity(dim: int, scale: float, graphs) -> Composition:
    """The per-pair law as the search writes it: one message per axis (m_j d/r³), the node scales its sum."""
    names = list(graphs.edge_features)
    node_names = list(graphs.node_features) + [f"sum_message{k}" for k in range(dim)]
    d = sympy.symbols([f"d{a}" for a in AXES[:dim]], real=True)
    r, mj = sympy.symbols("r mass_j", real=True)
    sums = sympy.symbols(node_names[-dim:], real=True)
    edge = {k: from_sympy(-1.0 * scale * d[k] * mj / (r * (r + 0.01 * scale) ** 2), names) for k in range(dim)}
    node = {f"acc_{a}": from_sympy(1.0 * scale * s + 0.0, node_names) for a, s in zip(AXES, sums)}
    return Composition(edge, node, tuple(names), tuple(node_names))


def timed_fit(composition: Composition, graphs, iterations: int, tolerance: float, backend: str):
    model = ComposedModel(composition)
    original = least_squares.KernelResiduals.of
    if backend == "torch":
        least_squares.KernelResiduals.of = classmethod(lambda cls, *args: None)
    try:
        start = time.perf_counter()
        errors = refit(model, graphs, iterations, tolerance)
        seconds = time.perf_counter() - start
    finally:
        least_squares.KernelResiduals.of = original
    constants = np.concatenate([p.constants for p in model.composition_now().functions().values()])
    return seconds, errors["relative_mae_after"], constants


def seconds_per_jacobian(composition: Composition, graphs) -> tuple[float, float]:
    """Seconds per evaluation of the normal equations (one Levenberg-Marquardt iteration's Jacobian), kernel
    and torch, at the same point: the fits above stop after a few iterations from a good start, so their
    times are partly fixed costs; this is the cost of one iteration."""
    model = ComposedModel(composition)
    target = torch.as_tensor(graphs.rows(graphs.target))
    weights = torch.ones(target.shape[0], 1, 1, dtype=torch.float64)
    out = []
    for fit in (least_squares.KernelResiduals.of(model, graphs, target, weights),
                least_squares.TorchResiduals(model, graphs, target, weights)):
        theta = fit.start()
        fit.normal_equations(theta)
        repeats, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            fit.normal_equations(theta)
            repeats += 1
        out.append((time.perf_counter() - start) / repeats)
    return out[0], out[1]


def main(n_sims: int = 60) -> None:
    torch.set_num_threads(1)
    print("| law | frames | iterations | numba kernel s | torch forward mode s | speed-up | s per Jacobian "
          "(kernel / torch) | rel. MAE after (kernel / torch) | largest constant difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dim in (2, 3):
        data = simulate(ForceLaw("r2", softening=0.01), n_bodies=4, dim=dim, n_sims=n_sims, duration=10.0,
                        record_interval=0.1, seed=0)
        every = build_graphs(data, edge_features=("dx", "r", "properties"), dtype=np.float64)
        trial = every.spread(TRIAL_FRAMES)
        start = gravity(dim, 1.3, every)
        for backend in ("kernel", "torch"):  # compile the kernels, warm torch up
            timed_fit(start, trial.subset(slice(0, 5)), 2, TRIAL_TOLERANCE, backend)
        for graphs, iterations, tolerance in ((trial, TRIAL_ITERATIONS, TRIAL_TOLERANCE), (every, 200, 1e-15)):
            kernel = timed_fit(start, graphs, iterations, tolerance, "kernel")
            reference = timed_fit(start, graphs, iterations, tolerance, "torch")
            difference = np.max(np.abs(kernel[2] - reference[2]) / np.maximum(np.abs(reference[2]), 1e-12))
            per_jacobian = seconds_per_jacobian(start, graphs)
            print(f"| r2-{dim}d | {len(graphs)} | {iterations} | {kernel[0]:.3f} | {reference[0]:.3f} | "
                  f"{reference[0] / kernel[0]:.1f}x | {per_jacobian[0]:.4f} / {per_jacobian[1]:.4f} | "
                  f"{kernel[1]:.2e} / {reference[1]:.2e} | {difference:.1e} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)

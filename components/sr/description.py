"""Selecting the returned expression by the shortest two-part description of the data.

Description length (in nats; Rissanen's two-part code as used for symbolic regression by Bartlett,
Desmond and Ferreira 2023, "Exhaustive Symbolic Regression"): the residuals cost n/2 ln(mean squared
error) under a Gaussian of fitted width (n ln(mean |error|) under a Laplace one for the l1 loss), each
node of the expression ln(number of symbols it could have been) -- the operators, the features and the
constant --, and each fitted constant 1/2 ln(n), its precision being worth about 1/sqrt(n). A term that
only fits noise lowers the first part by less than it adds to the other two, so the shortest code is
the law at any noise level, where PySR's rule must guess how much loss a law may keep.

The noise model is part of the code. Measurements spanning decades usually carry an error proportional
to the value (a few percent), under which a squared-error fit lets the largest rows set the constants
and rewards stand-ins that bend to them (h/(m v + 1.7e-27) over h/(m v)). So when y keeps one sign and
the loss is l2, each candidate is also coded with its constants re-fitted for relative errors
(Gaussian of width σ|y_i|: residual cost Σ ln|y_i| + n/2 ln(mean((r_i/y_i)²))), and the shorter of the
two codes counts: the data says which noise model it has.
"""
import numpy as np

from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.evaluate import evaluate_population_serial
from symdistill.components.sr.program import Program, pack

# Below this error relative to the target's scale two fits are equally exact (float64 round-off in
# the evaluation and the constants' fit reach ~1e-13), so exactness never buys complexity.
EXACT_RELATIVE_ERROR = 1e-10


def description_lengths(complexities, losses, n_constants, n_rows: int, n_symbols: int, target_scale: float,
                        loss_kind: int = 0, log_row_scales: float = 0.0) -> np.ndarray:
    """Code length of the data under each candidate (see the module docstring). losses: mean loss per row
    (squared error for l2 and huber, absolute for l1) in units of the rows' noise scales, whose logs sum
    to ``log_row_scales`` (0 for one scale); target_scale: the target's RMS (mean |y| for l1) in those
    units, which sets the floor below which errors count as exact."""
    losses = np.asarray(losses, dtype=float)
    floor = EXACT_RELATIVE_ERROR * target_scale
    with np.errstate(invalid="ignore"):
        if loss_kind == 1:
            residual_cost = n_rows * np.log(np.maximum(losses, floor))
        else:
            residual_cost = 0.5 * n_rows * np.log(np.maximum(losses, floor ** 2))
    residual_cost = np.where(np.isfinite(losses), residual_cost + log_row_scales, np.inf)
    return (residual_cost + np.asarray(complexities, dtype=float) * np.log(n_symbols)
            + 0.5 * np.asarray(n_constants, dtype=float) * np.log(max(n_rows, 2)))


def select_by_description_length(programs: list[Program], complexities, losses, XT: np.ndarray, y: np.ndarray,
                                 weights: np.ndarray | None, n_symbols: int, *, loss_kind: int = 0,
                                 delta: float = 1.0, iterations: int = 30):
    """(index of the shortest code, code length per candidate, noise model per candidate ("absolute" or
    "relative"), candidates with the constants of their shorter code). losses: the candidates' mean
    losses on (XT, y, weights) as fitted by the search."""
    w = np.ones_like(y, dtype=float) if weights is None else np.asarray(weights, dtype=float)
    magnitude = np.abs(y) if loss_kind == 1 else y.astype(float) ** 2
    scale = float(np.sum(w * magnitude) / np.sum(w))
    scale = scale if loss_kind == 1 else float(np.sqrt(scale))
    n_constants = [p.constants.size for p in programs]
    lengths = description_lengths(complexities, losses, n_constants, y.size, n_symbols, scale, loss_kind)
    models, chosen = ["absolute"] * len(programs), list(programs)
    if weights is None and loss_kind == 0 and (np.all(y > 0) or np.all(y < 0)):
        relative_weights = 1.0 / y.astype(float) ** 2
        for i, program in enumerate(programs):
            refit, _ = fit_constants(program, XT, y, relative_weights, iterations, 0, delta)
            values, ok = evaluate_population_serial(*pack([refit]), XT)
            if not ok[0]:
                continue
            relative_loss = float(np.mean(((values[0] - y) / y) ** 2))
            length = description_lengths([complexities[i]], [relative_loss], [n_constants[i]], y.size, n_symbols,
                                         1.0, 0, float(np.sum(np.log(np.abs(y)))))[0]
            if length < lengths[i]:
                lengths[i], models[i], chosen[i] = length, "relative", refit
    return int(np.argmin(lengths)), lengths, models, chosen

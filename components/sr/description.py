"""Selecting the returned expression by the shortest two-part description of the data.

Description length (in nats; Rissanen's two-part code as used for symbolic regression by Bartlett,
Desmond and Ferreira 2023, "Exhaustive Symbolic Regression"): the residuals cost n/2 ln(mean squared
error) under a Gaussian of fitted width (n ln(mean |error|) under a Laplace one for the l1 loss), each
node of the expression ln(number of symbols it could have been) -- the operators, the features and the
constant --, and each fitted constant the digits it needs at the precision the data gives it,
ln(|θ| / Δ) with Δ = sqrt(12 / I), I its Fisher information (at least 0: a constant the data cannot
tell from 0 costs nothing more than its node). A term that only fits noise lowers the first part by
less than it adds to the others -- and an expression that nearly interpolates a small table pays for
the many digits its constants then need --, so the shortest code is the law at any noise level, where
PySR's rule must guess how much loss a law may keep.

The noise model is part of the code. Measurements spanning decades usually carry an error proportional
to the value (a few percent), under which a squared-error fit lets the largest rows set the constants
and rewards stand-ins that bend to them (h/(m v + 1.7e-27) over h/(m v)). So when y keeps one sign and
the loss is l2, each candidate is also coded with its constants re-fitted for relative errors
(Gaussian of width σ|y_i|: residual cost Σ ln|y_i| + n/2 ln(mean((r_i/y_i)²))), and the shorter of the
two codes counts: the data says which noise model it has. Relative errors wider than 25% are not
offered (``RELATIVE_NOISE_LIMIT``).
"""
import numpy as np

from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.evaluate import evaluate_with_jacobian
from symdistill.components.sr.operators import CONST
from symdistill.components.sr.program import Program

# Below this error relative to the target's scale two fits are equally exact (float64 round-off in
# the evaluation and the constants' fit reach ~1e-13), so exactness never buys complexity.
EXACT_RELATIVE_ERROR = 1e-10
# Relative errors wider than this are no measurement model: the data's one sign would not be 4 sigma sure,
# and Σ ln|y_i| alone would make the code short for any fit, however poor, on a y spanning decades.
RELATIVE_NOISE_LIMIT = 0.25


def description_lengths(complexities, losses, constant_costs, n_rows: int, n_symbols: int, target_scale: float,
                        loss_kind: int = 0, log_row_scales: float = 0.0) -> np.ndarray:
    """Code length of the data under each candidate (see the module docstring). losses: mean loss per row
    (squared error for l2 and huber, absolute for l1) in units of the rows' noise scales, whose logs sum
    to ``log_row_scales`` (0 for one scale); constant_costs: ``constant_cost`` of each candidate;
    target_scale: the target's RMS (mean |y| for l1) in those units, which sets the floor below which
    errors count as exact."""
    losses = np.asarray(losses, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        residual_cost = n_rows * np.log(exact_floor(losses, target_scale, loss_kind))
    if loss_kind != 1:
        residual_cost = 0.5 * residual_cost
    residual_cost = np.where(np.isfinite(losses), residual_cost + log_row_scales, np.inf)
    return residual_cost + np.asarray(complexities, dtype=float) * np.log(n_symbols) + np.asarray(constant_costs)


def exact_floor(losses, target_scale: float, loss_kind: int = 0):
    """Losses raised to the level below which a fit counts as exact."""
    floor = EXACT_RELATIVE_ERROR * target_scale
    return np.maximum(losses, floor if loss_kind == 1 else floor ** 2)


def constant_cost(program: Program, XT: np.ndarray, row_weights: np.ndarray, noise_variance: float) -> float:
    """Nats for the constants: Σ max(0, ln(|θ_i| / Δ_i)), Δ_i = sqrt(12 / I_ii), I_ii = Σ_r w_r (dŷ_r/dθ_i)²
    / noise_variance (Gaussian errors of variance noise_variance / w_r). inf if the program is not finite."""
    k = program.constants.size
    if k == 0:
        return 0.0
    is_constant = program.codes == CONST
    slots = np.where(is_constant, np.cumsum(is_constant) - 1, -1).astype(np.int64)
    _, jacobian, ok = evaluate_with_jacobian(program.codes, program.args, program.values.astype(np.float64), slots, k,
                                             XT)
    if not ok:
        return np.inf
    fisher = (jacobian ** 2 @ row_weights) / noise_variance
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = np.log(np.abs(program.constants) * np.sqrt(fisher / 12.0))
    return float(np.sum(np.clip(np.nan_to_num(digits, nan=0.0, neginf=0.0), 0.0, None)))


def select_by_description_length(programs: list[Program], complexities, losses, XT: np.ndarray, y: np.ndarray,
                                 weights: np.ndarray | None, n_symbols: int, *, loss_kind: int = 0,
                                 delta: float = 1.0, iterations: int = 30):
    """(index of the shortest code, code length per candidate, noise model per candidate ("absolute" or
    "relative"), candidates with the constants of their shorter code). losses: the candidates' mean
    losses on (XT, y, weights) as fitted by the search."""
    w = np.ones_like(y, dtype=float) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.mean()
    magnitude = np.abs(y) if loss_kind == 1 else y.astype(float) ** 2
    scale = float(np.mean(w * magnitude))
    scale = scale if loss_kind == 1 else float(np.sqrt(scale))
    floored = exact_floor(np.asarray(losses, dtype=float), scale, loss_kind)
    variances = floored ** 2 if loss_kind == 1 else floored  # Laplace: its Fisher information is that of width b
    costs = [constant_cost(p, XT, w, v) for p, v in zip(programs, variances)]
    lengths = description_lengths(complexities, losses, costs, y.size, n_symbols, scale, loss_kind)
    models, chosen = ["absolute"] * len(programs), list(programs)
    if weights is None and loss_kind == 0 and (np.all(y > 0) or np.all(y < 0)):
        relative_weights = 1.0 / y.astype(float) ** 2
        log_row_scales = float(np.sum(np.log(np.abs(y))))  # the rows' noise widths are proportional to |y|
        for i, program in enumerate(programs):
            refit, weighted_loss = fit_constants(program, XT, y, relative_weights, iterations, 0, delta)
            # fit_constants returns Σ w r² / Σ w; the mean squared relative error is Σ w r² / n
            relative_loss = float(exact_floor(weighted_loss * relative_weights.sum() / y.size, 1.0))
            if not relative_loss <= RELATIVE_NOISE_LIMIT ** 2:  # also a fit that is not finite
                continue
            cost = constant_cost(refit, XT, relative_weights, relative_loss)
            length = description_lengths([complexities[i]], [relative_loss], [cost], y.size, n_symbols, 1.0, 0,
                                         log_row_scales)[0]
            if length < lengths[i]:
                lengths[i], models[i], chosen[i] = length, "relative", refit
    return int(np.argmin(lengths)), lengths, models, chosen

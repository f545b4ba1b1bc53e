"""Model selection on a Pareto front of (complexity, loss): PySR's score and its "best" rule, and the
shortest two-part description of the data.

Description length (in nats; Rissanen's two-part code as used for symbolic regression by Bartlett,
Desmond and Ferreira 2023, "Exhaustive Symbolic Regression"): the residuals cost n/2 ln(mean squared
error) under a Gaussian of fitted width (n ln(mean |error|) under a Laplace one for the l1 loss), each
node of the expression ln(number of symbols it could have been) -- the operators, the features and the
constant --, and each fitted constant 1/2 ln(n), its precision being worth about 1/sqrt(n). A term that
only fits noise lowers the first part by less than it adds to the other two, so the shortest code is
the law at any noise level, where PySR's rule must guess how much loss a law may keep.
"""
import numpy as np

# Below this error relative to the target's scale two fits are equally exact (float64 round-off in
# the evaluation and the constants' fit reach ~1e-13), so exactness never buys complexity.
EXACT_RELATIVE_ERROR = 1e-10


def pareto_front(complexities: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Indices of the entries that no simpler-or-equal entry beats, sorted by complexity."""
    order = np.lexsort((losses, complexities))
    front, best = [], np.inf
    for i in order:
        if losses[i] < best:
            front.append(int(i))
            best = losses[i]
    return np.asarray(front, dtype=np.int64)


def scores(complexities: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """score_i = -d ln(loss) / d complexity between consecutive front entries (0 for the first)."""
    out = np.zeros(len(losses))
    floor = np.finfo(float).tiny
    for i in range(1, len(losses)):
        dc = complexities[i] - complexities[i - 1]
        out[i] = -(np.log(max(losses[i], floor)) - np.log(max(losses[i - 1], floor))) / max(dc, 1)
    return out


def description_lengths(complexities, losses, n_constants, n_rows: int, n_symbols: int, target_scale: float,
                        loss_kind: int = 0) -> np.ndarray:
    """Code length of the data under each front entry (see the module docstring). losses: mean loss per
    row (squared error for l2 and huber, absolute for l1); target_scale: the target's RMS (mean |y| for
    l1), which sets the floor below which errors count as exact."""
    losses = np.asarray(losses, dtype=float)
    if loss_kind == 1:
        residual_cost = n_rows * np.log(np.maximum(losses, EXACT_RELATIVE_ERROR * target_scale))
    else:
        residual_cost = 0.5 * n_rows * np.log(np.maximum(losses, (EXACT_RELATIVE_ERROR * target_scale) ** 2))
    residual_cost = np.where(np.isfinite(losses), residual_cost, np.inf)
    return (residual_cost + np.asarray(complexities, dtype=float) * np.log(n_symbols)
            + 0.5 * np.asarray(n_constants, dtype=float) * np.log(max(n_rows, 2)))


def select(complexities, losses, rule: str = "best", validation_losses=None, tolerance: float = 1.5) -> int:
    """Index into a complexity-sorted front.

    "accuracy": lowest loss. "best": highest score among entries with loss <= tolerance x the lowest
    (PySR uses 1.5).
    "validation": lowest loss on held-out data (``validation_losses``).
    """
    complexities, losses = np.asarray(complexities), np.asarray(losses, dtype=float)
    if rule == "accuracy":
        return int(np.argmin(losses))
    if rule == "validation":
        if validation_losses is None:
            raise ValueError("model_selection='validation' needs validation data")
        return int(np.nanargmin(np.where(np.isfinite(validation_losses), validation_losses, np.nan)))
    if rule != "best":
        raise ValueError(f"unknown model selection {rule!r}; choose best, accuracy or validation")
    good = losses <= tolerance * losses.min()
    s = np.where(good, scores(complexities, losses), -np.inf)
    return int(np.argmax(s))

"""Model selection on a Pareto front of (complexity, loss): PySR's score and its "best" rule."""
import numpy as np


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

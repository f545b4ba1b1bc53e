"""Figures people look at, rendered offline to PNG bytes (the store keeps them beside the numbers)."""
import io

import matplotlib

matplotlib.use("Agg")  # no screen on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def png_bytes(figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def training_curves(curves: dict) -> np.ndarray:
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.semilogy(curves["epoch"], curves["train_loss"], label="train (with regularizer)")
    axis.semilogy(curves["epoch"], curves["validation_loss"], label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss per graph")
    axis.legend()
    return png_bytes(figure)


def message_sparsity(std: np.ndarray, n_significant: int, shown: int = 20) -> np.ndarray:
    """Bar chart of the largest message-component standard deviations."""
    ordered = np.sort(std)[::-1][:shown]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    colors = ["C0" if k < n_significant else "0.7" for k in range(len(ordered))]
    axis.bar(np.arange(len(ordered)), ordered, color=colors)
    axis.set_xlabel("message component (ranked by std)")
    axis.set_ylabel("standard deviation")
    axis.set_title(f"{n_significant} significant of {len(std)}")
    return png_bytes(figure)


def message_vs_force(messages: np.ndarray, force: np.ndarray, fit: dict, max_points: int = 4000,
                     reference: str = "true force") -> np.ndarray:
    """Each top message component against its affine fit from the true force components."""
    rng = np.random.default_rng(0)
    rows = rng.choice(len(force), size=min(max_points, len(force)), replace=False)
    n = len(fit["components"])
    figure, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.2), squeeze=False)
    for axis, component, coef, r2 in zip(axes[0], fit["components"], fit["coefficients"], fit["r2"]):
        predicted = force[rows] @ np.array(coef[:-1]) + coef[-1]
        axis.scatter(predicted, messages[rows, component], s=2, alpha=0.4)
        low, high = np.percentile(predicted, [1, 99])
        axis.plot([low, high], [low, high], color="k", linewidth=0.8)
        axis.set_xlim(low, high)
        axis.set_xlabel(f"affine fit from {reference}")
        axis.set_ylabel(f"message {component}")
        axis.set_title(f"R² = {r2:.3f}")
    return png_bytes(figure)


def pareto_fronts(fronts) -> np.ndarray:
    """Loss against complexity for every searched function (a second operator set's search dotted); the
    search's own pick circled."""
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for front in fronts:
        color = None
        for k in np.unique(front.searches):
            member = front.searches == k
            line, = axis.semilogy(front.complexity[member], np.maximum(front.loss[member], 1e-300), marker="o",
                                  markersize=3, linestyle="-" if k == 0 else ":", color=color,
                                  label=front.name if k == 0 else None)
            color = line.get_color()
        axis.plot(front.complexity[front.best_index], max(front.loss[front.best_index], 1e-300), "o",
                  markersize=9, markerfacecolor="none", color=line.get_color())
    axis.set_xlabel("complexity")
    axis.set_ylabel("loss")
    axis.legend(fontsize=7)
    return png_bytes(figure)


def ood_errors(table: dict[str, dict[str, float]]) -> np.ndarray:
    """Grouped bars: relative error of each model in and out of distribution."""
    splits = list(dict.fromkeys(s for errors in table.values() for s in errors))
    figure, axis = plt.subplots(figsize=(4.5, 3.2))
    width = 0.8 / len(table)
    for n, (model, errors) in enumerate(table.items()):
        # an undefined error (named in the stage's summary) has no bar
        axis.bar(np.arange(len(splits)) + n * width, [errors.get(s, np.nan) for s in splits], width, label=model)
    axis.set_xticks(np.arange(len(splits)) + width * (len(table) - 1) / 2, splits)
    axis.set_yscale("log")
    axis.set_ylabel("relative MAE")
    axis.legend()
    return png_bytes(figure)


def equation(latex: str) -> np.ndarray | None:
    """One LaTeX line typeset by matplotlib's mathtext (no TeX install needed); None if mathtext can't."""
    figure = plt.figure(figsize=(0.01, 0.01))
    figure.text(0, 0, f"${latex}$", fontsize=13)
    try:
        return png_bytes(figure)
    except (ValueError, RuntimeError):  # a construct mathtext does not know: the report shows the source
        plt.close(figure)
        return None

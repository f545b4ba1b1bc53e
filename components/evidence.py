"""Choosing and simplifying the composed law by held-out evidence, with one rule in every experiment.

The evidence is the composed model's squared error per held-out frame: frames of the original targets
(the surrogate's validation simulations) that neither the search nor the refit has seen. The rule is
the one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL §7.10): of the
candidates whose mean held-out loss is within one standard error of the lowest, take the simplest.
It has no per-experiment knob: the noise that decides how much simpler may cost is measured on the
data. The same rule picks each function's expression from its Pareto front, prunes terms of the
re-fitted law, and snaps constants to simple numbers.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.program import Program


SELECTION_RULE = ("one-standard-error rule on held-out frames: each candidate composition's constants are "
                  "re-fitted on training frames of the original targets; of the candidates whose mean squared "
                  "error on validation frames is within one standard error of the lowest (or at float64 "
                  "precision, relative RMS error below 1e-6), the simplest")
EXACT = 1e-12  # mean squared error below this fraction of the mean squared target: exact to float64 precision


@dataclass(frozen=True)
class HeldOut:
    """Mean squared error per held-out frame and its standard error; ``undefined`` says why it is infinite."""

    mean: float
    standard_error: float
    undefined: str | None = None
    scale: float = 0.0  # mean squared target

    def bound(self) -> float:
        """What a simpler candidate may reach and still count as no worse: mean + one standard error, or
        anything exact to float64 precision (below that, differences are rounding, not evidence)."""
        return max(self.mean + self.standard_error, EXACT * self.scale)


def held_out_loss(predicted: np.ndarray, target: np.ndarray) -> HeldOut:
    """The evidence of predictions [frame, ...] against the original targets of the same frames."""
    n = len(target)
    errors = (np.asarray(predicted, dtype=float) - target) ** 2
    per_frame = errors.reshape(n, -1).mean(axis=1)
    bad = ~np.isfinite(per_frame)
    if bad.any():
        return HeldOut(np.inf, np.inf, f"{int(bad.sum())} of {n} held-out frames have non-finite predictions "
                                       f"(first: frame {int(np.flatnonzero(bad)[0])})")
    spread = float(per_frame.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return HeldOut(float(per_frame.mean()), spread, scale=float(np.mean(np.square(target))))


@dataclass(frozen=True)
class Candidate:
    complexity: int
    search_loss: float | None  # None for an expression the user gave
    program: Program


def simplest_within_noise(losses: list[HeldOut], complexities) -> int:
    """Index of the simplest candidate whose loss is within one standard error of the lowest."""
    best = min(range(len(losses)), key=lambda i: (losses[i].mean, complexities[i]))
    if not np.isfinite(losses[best].mean):
        return best
    bound = losses[best].bound()
    return min((i for i, loss in enumerate(losses) if loss.mean <= bound), key=lambda i: (complexities[i], i))


def choose_expressions(fronts: dict[str, list[Candidate]], evidence: Callable[[dict[str, Program]], HeldOut],
                       max_sweeps: int = 4) -> tuple[dict[str, int], dict[str, list[dict]]]:
    """One candidate per function, by the composed model's held-out loss.

    ``evidence`` maps programs by function to the held-out loss of their composition (memoised here).
    Starts from every function's most accurate candidate (the last of its front), then, one function
    at a time with the others fixed, takes the simplest candidate within noise of the best; sweeps
    until no choice changes. Returns the chosen index per function and, per function, its candidates
    with their held-out losses in the last sweep (what ``show compose`` reports).
    """
    choice = {name: len(front) - 1 for name, front in fronts.items()}
    tables: dict[str, list[dict]] = {}
    seen: dict[tuple, HeldOut] = {}

    def measured(programs: dict[str, Program]) -> HeldOut:
        key = tuple(programs[n].key() for n in sorted(programs))
        if key not in seen:
            with np.errstate(all="ignore"):  # a candidate that leaves its domain scores infinite
                seen[key] = evidence(programs)
        return seen[key]
    for _ in range(max_sweeps):
        changed = False
        for name, front in fronts.items():
            losses = []
            for candidate in front:
                programs = {n: fronts[n][choice[n]].program for n in fronts} | {name: candidate.program}
                losses.append(measured(programs))
            picked = simplest_within_noise(losses, [c.complexity for c in front])
            changed |= picked != choice[name]
            choice[name] = picked
            tables[name] = [{"complexity": c.complexity, "search_loss": c.search_loss,
                             "held_out_loss": _finite_or_none(loss.mean),
                             "held_out_standard_error": _finite_or_none(loss.standard_error),
                             **({"undefined": loss.undefined} if loss.undefined else {}),
                             "chosen": i == picked} for i, (c, loss) in enumerate(zip(front, losses))]
        if not changed:
            break
    return choice, tables


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def prune_terms(programs: dict[str, Program], refit: Callable[[dict[str, Program]], dict[str, Program]],
                evidence: Callable[[dict[str, Program]], HeldOut], reference: HeldOut,
                max_tries: int = 20) -> tuple[dict[str, Program], list[dict]]:
    """Remove terms one at a time while the re-fitted model stays within noise of ``reference``.

    Greedy and deterministic: the largest removal first; after an accepted removal the search starts
    again from the smaller model. Returns the pruned programs and a log of what was removed.
    """
    removed, tries = [], 0
    while tries < max_tries:
        options = sorted(((len(programs[name]) - len(smaller), name, k, smaller)
                          for name in programs for k, smaller in enumerate(mutate.term_removals(programs[name]))),
                         key=lambda option: (-option[0], option[1], option[2]))
        for _, name, _, smaller in options:
            tries += 1
            with np.errstate(all="ignore"):
                trial = refit(programs | {name: smaller})
                loss = evidence(trial)
            if loss.mean <= reference.bound():
                removed.append({"function": name, "size_before": len(programs[name]), "size_after": len(smaller),
                                "held_out_loss": loss.mean})
                programs = trial
                break
            if tries >= max_tries:
                break
        else:
            break
    return programs, removed

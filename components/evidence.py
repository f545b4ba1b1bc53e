"""Choosing and simplifying the composed law by held-out evidence, with one rule in every experiment.

The evidence is the composed model's squared error per held-out frame: frames of the original targets
(the surrogate's validation simulations) that neither the search nor the refit has seen. The rule is
the one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL §7.10): of the
candidates whose mean held-out loss is within one standard error of the lowest, take the simplest.
It has no per-experiment knob: the noise that decides how much simpler may cost is measured on the
data. The same rule picks each function's expression from its Pareto front, prunes terms of the
re-fitted law, and snaps constants to simple numbers; its converse (better beyond noise) admits an offset
on an input (``grow_offsets``).
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.program import Program


SELECTION_RULE = ("paired one-standard-error rule on held-out frames: each candidate composition's constants are "
                  "re-fitted on training frames of the original targets and its relative squared error is "
                  "measured per validation frame; of the candidates whose mean excess over the best, frame by "
                  "frame, is within one standard error of that excess (or whose error is at float64 precision), "
                  "the simplest")
HELD_OUT_FRAMES = 500  # validation frames of the evidence: one standard error is then a few percent of the mean
# an added constant must lower the held-out loss by this many standard errors of the paired difference: about a
# one-sided 0.1% test, so the best of a few dozen trials is not admitted for its noise alone
GROWTH_STANDARD_ERRORS = 3.0
EXACT = 1e-12  # mean relative squared error below this: exact to float64 precision, differences are rounding
# a frame's relative squared error above this (predictions a thousand times the target's scale; predicting 0
# scores at most 1) is a diverged model, not noise: a paired standard error cannot judge a difference that sits
# in one frame (its mean and its standard error are then equal, so any blow-up looked "within noise")
DIVERGED = 1e6


@dataclass(frozen=True, eq=False)
class HeldOut:
    """Relative squared error per held-out frame; ``undefined`` says why the errors are not finite."""

    per_frame: np.ndarray
    undefined: str | None = None

    @property
    def mean(self) -> float:
        return float(self.per_frame.mean()) if self.undefined is None else np.inf

    @property
    def standard_error(self) -> float:
        n = len(self.per_frame)
        return float(self.per_frame.std(ddof=1) / np.sqrt(n)) if self.undefined is None and n > 1 else np.inf

    def within_noise_of(self, reference: "HeldOut") -> bool:
        """Is this loss no higher than ``reference``'s beyond that loss's own noise (one standard error)?
        For simplifying a law: a change that moves the held-out loss less than its estimate's noise is
        not evidence against it."""
        return self.undefined is None and (self.mean <= EXACT or self.mean <= reference.mean + reference.standard_error)

    def clearly_better_than(self, reference: "HeldOut", standard_errors: float) -> bool:
        """Is this loss lower than ``reference``'s, frame by frame, by more than ``standard_errors`` standard
        errors of the paired difference? (For admitting a more complex law: the bar is raised above one
        standard error because the best of many trials is chosen.)"""
        if self.undefined is not None or reference.undefined is not None:
            return self.undefined is None
        gain = reference.per_frame - self.per_frame
        n = len(gain)
        spread = gain.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        return bool(gain.mean() > standard_errors * spread and gain.mean() > 0)

    def excess_over(self, reference: "HeldOut") -> float:
        """How much worse than ``reference`` beyond noise: the mean of the frame-by-frame excess minus its
        standard error (<= 0: no worse); 0 if exact to float64 precision; inf if not finite.

        Paired, because a hard frame (a close encounter) is hard for every candidate: comparing frame by frame
        removes what the candidates share, where comparing means would let one such frame hide any difference.
        """
        if self.undefined is not None:
            return np.inf
        if self.mean <= EXACT:
            return 0.0
        excess = self.per_frame - reference.per_frame
        n = len(excess)
        spread = excess.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        return float(excess.mean() - spread)


def frame_weights(target: np.ndarray) -> np.ndarray:
    """Per frame [frame, ...]: 1 / (the frame's mean squared target + the median of that over all frames)."""
    size = np.square(np.asarray(target, dtype=float)).reshape(len(target), -1).mean(axis=1)
    return 1.0 / (size + float(np.median(size)) + np.finfo(float).tiny)


def held_out_loss(predicted: np.ndarray, target: np.ndarray) -> HeldOut:
    """The evidence of predictions [frame, ...] against the original targets of the same frames.

    Per frame: the mean squared error over the frame's bodies and outputs, relative to the frame's mean
    squared target plus the median of that over all frames. Frames with huge accelerations (close
    encounters) then do not outweigh all others, and frames where nothing accelerates (a law that is 0
    at short range) are measured on the typical scale instead of their own zero.
    """
    n = len(target)
    target = np.asarray(target, dtype=float)
    errors = ((np.asarray(predicted, dtype=float) - target) ** 2).reshape(n, -1).mean(axis=1)
    per_frame = errors * frame_weights(target)
    bad = ~np.isfinite(per_frame)
    if bad.any():
        return HeldOut(per_frame, f"{int(bad.sum())} of {n} held-out frames have non-finite predictions "
                                  f"(first: frame {int(np.flatnonzero(bad)[0])})")
    wild = per_frame > DIVERGED
    if wild.any():
        first = int(np.flatnonzero(wild)[0])
        return HeldOut(per_frame, f"{int(wild.sum())} of {n} held-out frames are predicted more than "
                                  f"{DIVERGED ** 0.5:.0f} times off the target's scale (first: frame {first}, relative "
                                  f"squared error {per_frame[first]:.3g}): the expression diverges there")
    return HeldOut(per_frame)


@dataclass(frozen=True)
class Candidate:
    complexity: int
    search_loss: float | None  # None for an expression the user gave
    program: Program
    search: int = 0  # which operator set's search found it (components/search.search_operator_sets)


def simplest_within_noise(losses: list[HeldOut], complexities, fallback: int = 0) -> int:
    """Index of the simplest candidate that is no worse than the lowest-loss one beyond noise; ``fallback``
    when no loss is defined (the evidence then says nothing about these candidates)."""
    best = min(range(len(losses)), key=lambda i: (losses[i].mean, complexities[i]))
    if not np.isfinite(losses[best].mean):
        return fallback
    return min((i for i, loss in enumerate(losses) if loss.excess_over(losses[best]) <= 0),
               key=lambda i: (complexities[i], i))


def composition_key(programs: dict[str, Program]) -> tuple:
    """One composition's programs by function, as a hashable key (for memoising its evidence)."""
    return tuple(programs[n].key() for n in sorted(programs))


def choose_expressions(fronts: dict[str, list[Candidate]], evidence: Callable[[dict[str, Program]], HeldOut],
                       max_sweeps: int = 4, memo: dict[tuple, HeldOut] | None = None
                       ) -> tuple[dict[str, int], dict[str, list[dict]]]:
    """One candidate per function, by the composed model's held-out loss.

    ``evidence`` maps programs by function to the held-out loss of their composition (memoised here, in
    ``memo`` if given, so that several choices over the same candidates measure each composition once).
    Starts from every function's most accurate candidate (the last of its front), repaired if that
    composition diverges (``_repair``), then, one function at a time with the others fixed, takes the
    simplest candidate within noise of the best; sweeps until no choice changes. A function whose every
    candidate diverges keeps its choice for that sweep: the divergence is another function's, and taking its
    simplest candidate then would trap the sweeps there. Returns the chosen index per function and, per
    function, its candidates with their held-out losses in the last sweep (what ``show compose`` reports).
    """
    choice = {name: len(front) - 1 for name, front in fronts.items()}
    tables: dict[str, list[dict]] = {}
    seen = {} if memo is None else memo

    def measured(programs: dict[str, Program]) -> HeldOut:
        key = composition_key(programs)
        if key not in seen:
            with np.errstate(all="ignore"):  # a candidate that leaves its domain scores infinite
                seen[key] = evidence(programs)
        return seen[key]
    _repair(fronts, choice, measured)
    for _ in range(max_sweeps):
        changed = False
        for name, front in fronts.items():
            losses = []
            for candidate in front:
                programs = {n: fronts[n][choice[n]].program for n in fronts} | {name: candidate.program}
                losses.append(measured(programs))
            picked = simplest_within_noise(losses, [c.complexity for c in front], choice[name])
            changed |= picked != choice[name]
            choice[name] = picked
            best = losses[min(range(len(losses)), key=lambda i: losses[i].mean)]
            tables[name] = [{"complexity": c.complexity, "search": c.search, "search_loss": c.search_loss,
                             "held_out_loss": finite_or_none(loss.mean),
                             "held_out_standard_error": finite_or_none(loss.standard_error),
                             "excess_over_best": finite_or_none(loss.excess_over(best)),
                             **({"undefined": loss.undefined} if loss.undefined else {}),
                             "chosen": i == picked} for i, (c, loss) in enumerate(zip(front, losses))]
        if not changed:
            break
    return choice, tables


def _repair(fronts: dict[str, list[Candidate]], choice: dict[str, int],
            measured: Callable[[dict[str, Program]], HeldOut]) -> None:
    """While the chosen composition diverges, make the one change of one function's candidate that gives the
    lowest defined held-out loss. Visiting functions in turn instead, the first one visited would take any
    candidate that merely hides the divergence (a node output of 0 hides a diverging message)."""
    for _ in range(len(fronts)):
        programs = {n: fronts[n][choice[n]].program for n in fronts}
        if measured(programs).undefined is None:
            return
        best = None
        for name, front in fronts.items():
            for i, candidate in enumerate(front):
                loss = measured(programs | {name: candidate.program})
                if loss.undefined is None and (best is None or loss.mean < best[0]):
                    best = (loss.mean, name, i)
        if best is None:  # no single change repairs it: the sweeps keep each function's choice where all diverge
            return
        choice[best[1]] = best[2]


def finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def grow_offsets(programs: dict[str, Program], refit: Callable[[dict[str, Program]], dict[str, Program]],
                 evidence: Callable[[dict[str, Program]], HeldOut], reference: HeldOut,
                 max_tries: int = 40) -> tuple[dict[str, Program], HeldOut, list[dict]]:
    """Add a fitted offset to one input leaf at a time (v -> v + c) while that makes the re-fitted model
    better than ``reference`` beyond noise.

    The search fitted each function to the network's messages, whose error can hide a small offset such as
    a softening length: r (r² + c) and r (r + ε)² differ by less than the network's error, but not on the
    original targets, where the wrong form must bend its other constants. Each round tries every single
    offset (until ``max_tries`` trials in all) and takes the one with the lowest held-out loss among those
    better than the reference by GROWTH_STANDARD_ERRORS paired standard errors; the pruning that
    follows removes what the offset made redundant. Deterministic. Returns the programs, their held-out
    loss and a log of the offsets added.
    """
    grown, tries = [], 0
    while tries < max_tries and reference.undefined is None and reference.mean > EXACT:
        best = None
        for name in programs:
            for k, larger in enumerate(mutate.leaf_offsets(programs[name])):
                if tries >= max_tries:
                    break
                tries += 1
                with np.errstate(all="ignore"):
                    trial = refit(programs | {name: larger})
                    loss = evidence(trial)
                if loss.clearly_better_than(reference, GROWTH_STANDARD_ERRORS) and (
                        best is None or loss.mean < best[0].mean):
                    best = (loss, name, k, trial)
        if best is None:
            break
        loss, name, k, trial = best
        grown.append({"function": name, "leaf": k, "size_after": len(trial[name]), "held_out_loss": loss.mean,
                      "held_out_loss_before": reference.mean})
        programs, reference = trial, loss
    return programs, reference, grown


PRUNING_TRIALS = 300  # r2-3d's six-function law took at most 228 trials to its last step; a bound for larger laws


def prune_terms(programs: dict[str, Program], refit: Callable[[dict[str, Program]], dict[str, Program]],
                evidence: Callable[[dict[str, Program]], HeldOut], reference: HeldOut,
                max_trials: int = PRUNING_TRIALS) -> tuple[dict[str, Program], list[dict], int]:
    """Remove terms (and unwrap unary operators, f(u) -> u) one at a time while the re-fitted model stays
    within noise of ``reference``.

    Each round tries every single simplification of the current law and takes, of those within noise of
    ``reference``, the one with the lowest held-out loss: the first acceptable one could be a large removal
    that merely stays inside the noise while a smaller one (sin(c u) -> c u) makes the law right. Every
    round tries them all (a budget of 40 trials across rounds once cut the one-node unwrappings r2-2d needed
    last); only a law so large that its rounds exceed ``max_trials`` in all is cut, in its last round.
    A simplification that lowers the loss becomes the reference for the next ones. Deterministic. Returns the
    pruned programs, a log of what was removed and the number of trials.
    """
    removed, tries = [], 0
    while tries < max_trials:
        options = sorted(((len(programs[name]) - len(smaller), name, k, smaller)
                          for name in programs for k, smaller in enumerate(
                              mutate.term_removals(programs[name]) + mutate.operator_unwrappings(programs[name]))),
                         key=lambda option: (-option[0], option[1], option[2]))
        best = None
        for _, name, _, smaller in options[:max_trials - tries]:
            tries += 1
            with np.errstate(all="ignore"):
                trial = refit(programs | {name: smaller})
                loss = evidence(trial)
            if loss.within_noise_of(reference) and (best is None or loss.mean < best[0].mean):
                best = (loss, name, smaller, trial)
        if best is None:
            break
        loss, name, smaller, trial = best
        removed.append({"function": name, "size_before": len(programs[name]), "size_after": len(smaller),
                        "held_out_loss": loss.mean, "options_tried": len(options)})
        programs = trial
        if loss.mean < reference.mean:  # a better law is the standard from now on: never drift back up
            reference = loss
    return programs, removed, tries

"""Choosing the returned expression by held-out evidence: k-fold cross-validation and the one-standard-error rule.

On a small, noisy table the front's lowest training loss belongs to an expression that fits the noise,
and PySR's score (the steepest drop of log-loss per unit of complexity) can stop short of the law or
run past it. Here every front member's constants are re-fitted on k - 1 folds and scored on the fold
left out, so each row gets an out-of-fold error per candidate; of the candidates whose mean excess
over the best, row by row, is within one standard error of that excess, the simplest is returned
(Breiman et al. 1984; Hastie, Tibshirani and Friedman, ESL §7.10) -- the rule the pipeline's compose
stage uses on held-out frames. The chosen expression is then pruned by the same evidence (a term
removed or a unary operator unwrapped while its out-of-fold error stays within noise), as the pipeline
prunes a composed law: a search leaves near-zero pieces (``h/(m (v + 1.7e-27/m))``) that no selection
among front members can remove.
"""
from collections.abc import Callable

import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.evaluate import evaluate_population_serial
from symdistill.components.sr.program import Program, pack

N_FOLDS = 5


def out_of_fold_errors(programs: list[Program], XT: np.ndarray, y: np.ndarray, weights: np.ndarray, *,
                       loss_kind: int = 0, delta: float = 1.0, iterations: int = 30, n_folds: int = N_FOLDS,
                       seed: int = 0) -> np.ndarray:
    """[program, row]: the weighted loss of each row when its fold was left out of the constants' fit
    (inf where the re-fitted program is not finite there). Folds: a seeded shuffle in min(n_folds, rows) parts."""
    n = y.size
    folds = np.array_split(np.random.default_rng(seed).permutation(n), min(n_folds, n))
    out = np.full((len(programs), n), np.inf)
    for p, program in enumerate(programs):
        for held in folds:
            train = np.setdiff1d(np.arange(n), held)
            fitted, loss = fit_constants(program, XT[:, train], y[train], weights[train], iterations, loss_kind, delta)
            if not np.isfinite(loss):
                continue
            values, ok = evaluate_population_serial(*pack([fitted]), np.ascontiguousarray(XT[:, held]))
            if not ok[0]:
                continue
            residual = np.abs(values[0] - y[held])
            if loss_kind == 0:
                elementwise = residual ** 2
            elif loss_kind == 1:
                elementwise = residual
            else:
                elementwise = np.where(residual <= delta, 0.5 * residual ** 2, delta * (residual - 0.5 * delta))
            out[p, held] = weights[held] * elementwise
    return out


def simplest_within_one_standard_error(errors: np.ndarray, complexities) -> int:
    """Index of the simplest candidate whose paired mean excess over the lowest-error one, minus its
    standard error, is <= 0. errors: [candidate, row] (rows with inf count against their candidate)."""
    errors = np.asarray(errors, dtype=float)
    complexities = np.asarray(complexities)
    means = np.where(np.all(np.isfinite(errors), axis=1), errors.mean(axis=1), np.inf)
    if not np.isfinite(means).any():
        return int(np.argmin(complexities))
    best = int(np.argmin(means))
    eligible = [i for i in range(len(errors)) if np.isfinite(means[i]) and _no_worse(errors[i], errors[best])]
    return int(min(eligible, key=lambda i: (complexities[i], means[i])))


def _no_worse(errors: np.ndarray, reference: np.ndarray) -> bool:
    """Is ``errors`` (per row) no worse than ``reference`` beyond one standard error of the paired excess?"""
    if not np.isfinite(errors).all():
        return False
    excess = errors - reference
    spread = excess.std(ddof=1) / np.sqrt(excess.size) if excess.size > 1 else 0.0
    return bool(excess.mean() - spread <= 0)


def prune_by_cross_validation(program: Program, XT: np.ndarray, y: np.ndarray, weights: np.ndarray, *,
                              allowed: Callable[[Program], bool] = lambda program: True,
                              **fold_options) -> tuple[Program, list[int]]:
    """Simplify ``program`` one term or unary operator at a time while its out-of-fold errors stay within
    one standard error of the current law's. Each round scores every single simplification (no budget
    across rounds: one would cut the small unwrappings a law needs last; each accepted step shrinks the
    program, so rounds are bounded by its size) and takes the acceptable one with the lowest mean error;
    ``allowed`` filters candidates (e.g. dimensional consistency). Returns the simplified program
    (constants not yet re-fitted on all rows) and the sizes it went through."""
    reference = out_of_fold_errors([program], XT, y, weights, **fold_options)[0]
    sizes = [len(program)]
    while True:
        options = sorted(mutate.term_removals(program) + mutate.operator_unwrappings(program), key=len)
        options = [candidate for candidate in options if allowed(candidate)]
        if not options:
            break
        errors = out_of_fold_errors(options, XT, y, weights, **fold_options)
        acceptable = [i for i in range(len(options)) if _no_worse(errors[i], reference)]
        if not acceptable:
            break
        best = min(acceptable, key=lambda i: errors[i].mean())
        program = options[best]
        sizes.append(len(program))
        if errors[best].mean() < reference.mean():  # a better law is the standard from now on
            reference = errors[best]
    return program, sizes

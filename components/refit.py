"""The refit stage's science: the composed model's constants fitted on the original targets, then the
law made readable by the same held-out evidence that chose it (components/evidence.py).

``refit`` fits every constant (and per-body latent parameter) by Levenberg-Marquardt. ``readable_law`` then removes
terms and snaps constants to simple numbers (0, short rationals, multiples of π) only while the held-out
loss stays within one standard error of the re-fitted model's: a negligible 8.8e-10 term goes, a 1.98
that the data support stays 1.98.
"""
from dataclasses import dataclass

import numpy as np
import torch

from symdistill.components.compose import ComposedModel, Composition, finite_frames, numpy_model, prediction_errors
from symdistill.components.evidence import (PRUNING_TRIALS, HeldOut, composition_key, finite_or_none, frame_weights,
                                            grow_offsets, held_out_loss, prune_terms)
from symdistill.components.isotropy import adopt_sibling_chains
from symdistill.components.latent import absorb_latent_factor
from symdistill.components.least_squares import levenberg_marquardt
from symdistill.components.sr.program import Program
from symdistill.components.sr.snap import fold_constant_subtrees, snap_constants
from symdistill.components.train_surrogate import GraphSet
from symdistill.components.train_surrogate.graph_set import evenly_spread

TRIAL_FRAMES, TRIAL_ITERATIONS = 300, 50  # each candidate or pruning trial re-fits on a smaller budget
# a trial's fit stops once an iteration gains less than this share of its cost: on r2-2d and r2-3d the
# pruning took the same steps as with 1e-15 in half the time (79 s against 160 s on r2-3d)
TRIAL_TOLERANCE = 1e-6
LATENT_AGREEMENT = 1e-2  # functions whose latent factors agree this closely may share one, if the evidence agrees
TRIAL_NODES = 3000  # with a node split: nodes of that budget (a few hundred frames of a few bodies is as many)


def refit(model: ComposedModel, graphs: GraphSet, iterations: int = 200, tolerance: float = 1e-15) -> dict:
    """Fit every constant (and latent parameter) to ``graphs``' true targets by Levenberg-Marquardt on the
    squared error (L-BFGS where the Jacobian cannot be formed),
    each frame weighted as the held-out evidence weighs it (``frame_weights``), so the constants are those
    the evidence judges: a few close encounters do not bend the law's constants away from every other frame.

    Frames where the model's predictions are not finite cannot be fitted; they are left out and
    counted (``excluded_frames``). Returns the errors before and after; the constants are kept only if
    the error went down.
    """
    with torch.no_grad():
        start = graphs.rows(model(graphs).numpy())
    finite = finite_frames(start)
    excluded = int((~finite).sum())
    if not finite.any():
        errors = prediction_errors(start, graphs.rows(graphs.target))
        return {"mae_before": None, "relative_mae_before": None, "mae_after": None, "relative_mae_after": None,
                "excluded_frames": excluded, "undefined": errors["undefined"]}
    graphs = without_rows(graphs, ~finite) if excluded else graphs
    target_rows = graphs.rows(graphs.target)
    target = torch.as_tensor(target_rows, dtype=torch.float64)
    weights = torch.as_tensor(frame_weights(target_rows), dtype=torch.float64)
    weights = weights.reshape(-1, *([1] * (target.dim() - 1))) / weights.mean()
    before = prediction_errors(start[finite], target_rows)
    saved = [p.detach().clone() for p in model.parameters()]

    def weighted_error(predicted: np.ndarray) -> float:  # the objective, to keep the fit only if it improved
        return float(np.mean(weights.numpy() * (predicted - target_rows) ** 2))
    if any(p.numel() for p in model.parameters()):
        try:
            levenberg_marquardt(model, graphs, target, weights, iterations, tolerance)
        except (RuntimeError, torch.linalg.LinAlgError, np.linalg.LinAlgError):  # e.g. torch.func cannot differentiate
            _lbfgs(model, graphs, target, weights, iterations)
    with torch.no_grad():
        end = graphs.rows(model(graphs).numpy())
        after = prediction_errors(end, target_rows)
        if after["mae"] is None or not weighted_error(end) <= weighted_error(start[finite]):
            for parameter, value in zip(model.parameters(), saved):
                parameter.copy_(value)
            after = before
    return {"mae_before": before["mae"], "relative_mae_before": before["relative_mae"],
            "mae_after": after["mae"], "relative_mae_after": after["relative_mae"], "excluded_frames": excluded}


def _lbfgs(model: ComposedModel, graphs: GraphSet, target: torch.Tensor, weights: torch.Tensor,
           iterations: int) -> None:
    optimizer = torch.optim.LBFGS([p for p in model.parameters() if p.numel()], max_iter=iterations,
                                  tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (weights * (graphs.rows(model(graphs)) - target) ** 2).mean()
        if torch.isfinite(loss):
            loss.backward()
        return loss
    try:
        optimizer.step(closure)
    except (IndexError, RuntimeError):  # torch's strong-Wolfe search fails when a trial step is not finite
        pass  # what it reached is kept by the caller only if finite and better


def without_rows(graphs: GraphSet, drop: np.ndarray) -> GraphSet:
    """``graphs`` without the rows (frames, or counted nodes) ``drop`` marks."""
    if not graphs.per_node:
        return graphs.subset(np.flatnonzero(~drop))
    counted = graphs.counted.copy()
    counted[np.flatnonzero(counted)[drop]] = False
    return graphs.with_mask(counted, per_node=True)


def trial_budget(train: GraphSet) -> GraphSet:
    """What a trial re-fits on: at most TRIAL_FRAMES training frames, evenly spread (with a node split, at most
    TRIAL_NODES of their counted nodes, and only the edges into them)."""
    budget = train.spread(TRIAL_FRAMES)
    if not budget.per_node:
        return budget
    counted = np.flatnonzero(budget.counted)
    keep = np.zeros(budget.n_nodes, dtype=bool)
    keep[counted[evenly_spread(len(counted), TRIAL_NODES)]] = True
    return budget.with_mask(keep, per_node=True).trimmed()


def refitted_programs(composition: Composition, latent: np.ndarray | None,
                      budget: GraphSet) -> tuple[dict[str, Program], np.ndarray | None]:
    """The composition's programs and latent parameters re-fitted on ``budget`` (a trial's small fit)."""
    model = ComposedModel(composition, latent)
    refit(model, budget, TRIAL_ITERATIONS, TRIAL_TOLERANCE)
    fitted_latent = model.latent.detach().numpy().copy() if latent is not None else None
    return model.composition_now().functions(), fitted_latent


def refitted_evidence(composition: Composition, latent: np.ndarray | None, budget: GraphSet,
                      held_out: GraphSet) -> HeldOut:
    """Held-out loss of the composition after its constants are re-fitted on the training ``budget``.

    The search fitted each function to the network's outputs, which carry the network's own error; only
    after a fit on the original targets does the right form show its accuracy and a wrong one its bias.
    """
    programs, fitted_latent = refitted_programs(composition, latent, budget)
    fitted = composition.from_functions(programs, composition.edge_features, composition.node_features)
    with np.errstate(all="ignore"):
        predicted = numpy_model(fitted, fitted_latent)(held_out)
        return held_out_loss(held_out.rows(predicted), held_out.rows(held_out.target))


def composed_loss(composition: Composition, latent: np.ndarray | None, held_out: GraphSet) -> HeldOut:
    """Held-out loss of the composition as it stands (no fit)."""
    with np.errstate(all="ignore"):
        return held_out_loss(held_out.rows(numpy_model(composition, latent)(held_out)), held_out.rows(held_out.target))


def shared_latent_factor(composition: Composition, latent: np.ndarray | None, budget: GraphSet,
                         held_out: GraphSet) -> tuple[Composition, np.ndarray | None, str | None, bool]:
    """The composition with its latent factor taken into the parameter (``absorb_latent_factor``).

    Functions reading the very same factor g(l): the same model, taken as it is. Functions whose factors
    agree at the bodies only to LATENT_AGREEMENT (each message found its own g_k(l) for the same mass, as
    the search fits them apart): the shared factor is a different model, so it is re-fitted and kept only if
    its held-out loss stays within noise of the law's. Returns the composition, its latent parameters, the
    factor as text (None: none taken) and whether the result was re-fitted.
    """
    exact = absorb_latent_factor(composition, latent)
    if exact[2] is not None:
        return *exact, False
    shared, shared_latent, factor = absorb_latent_factor(composition, latent, LATENT_AGREEMENT)
    if factor is None:
        return composition, latent, None, False
    programs, fitted_latent = refitted_programs(shared, shared_latent, budget)
    fitted = shared.from_functions(programs, shared.edge_features, shared.node_features)
    if not composed_loss(fitted, fitted_latent, held_out).within_noise_of(composed_loss(composition, latent, held_out)):
        return composition, latent, None, False
    return fitted, fitted_latent, factor, True


def readable_law(composition: Composition, latent: np.ndarray | None, train: GraphSet, held_out: GraphSet,
                 axes: dict[str, int] | None = None) -> tuple[Composition, np.ndarray | None, dict]:
    """Prune terms and snap constants while the held-out loss stays within noise of the re-fitted law.

    First a latent parameter read through one factor g(l) everywhere becomes that factor
    (``shared_latent_factor``); then an offset on an input is added where the held-out loss
    says the law is better for it beyond noise (``grow_offsets``: a softening the messages could not show),
    and tried again once pruning has simplified the law, whose removed terms had bent to stand in for it;
    then each force component's chain (edge message and node function along one axis, ``axes``: function
    name -> axis) is offered its siblings' chains with the axes swapped (components/isotropy.py).
    Returns the simpler composition, its latent parameters, and a record: the latent factor taken in, the
    reference held-out loss, the offsets added, the removed terms, the chains adopted and the snapped
    constants.
    """
    budget = trial_budget(train)
    composition, latent, latent_factor, latent_fitted = shared_latent_factor(composition, latent, budget, held_out)
    trial_latent = {}  # the latent parameters each pruning trial's fit ended with, by its programs

    def evidence_of(programs: dict[str, Program]) -> HeldOut:
        latent_now = trial_latent.get(composition_key(programs), latent)
        return composed_loss(composition.from_functions(programs, composition.edge_features,
                                                        composition.node_features), latent_now, held_out)

    reference = evidence_of(composition.functions())
    record = {"reference_held_out_loss": finite_or_none(reference.mean), "latent_factor": latent_factor}
    if reference.undefined is not None:
        return composition, latent, record | {"undefined": reference.undefined, "grown_offsets": [],
                                              "removed_terms": [], "sibling_chains": [], "snapped": []}

    def refit_programs(programs: dict[str, Program]) -> dict[str, Program]:
        fitted, fitted_latent = refitted_programs(composition.from_functions(
            programs, composition.edge_features, composition.node_features), latent, budget)
        trial_latent[composition_key(fitted)] = fitted_latent
        return fitted

    programs, reference, grown = grow_offsets(composition.functions(), refit_programs, evidence_of, reference)
    programs, removed, pruning_trials = prune_terms(programs, refit_programs, evidence_of, reference)
    if removed:  # terms that bent to fit a missing offset hid it; once they are gone, the offset shows
        programs, reference, regrown = grow_offsets(programs, refit_programs, evidence_of, evidence_of(programs))
        if regrown:
            grown += regrown
            programs, removed_after, trials_after = prune_terms(programs, refit_programs, evidence_of, reference,
                                                                max(PRUNING_TRIALS - pruning_trials, 0))
            removed, pruning_trials = removed + removed_after, pruning_trials + trials_after
    programs, _, chains = adopt_sibling_chains(programs, axes or {}, composition.edge_features,
                                               composition.node_features, refit_programs, evidence_of,
                                               evidence_of(programs))
    if grown or removed or latent_fitted or chains:  # the final fit on the whole training budget, latent parameters too
        model = ComposedModel(composition.from_functions(programs, composition.edge_features,
                                                         composition.node_features), latent)
        refit(model, train)
        programs = model.composition_now().functions()
        latent = model.latent.detach().numpy().copy() if latent is not None else None
    # constants that cancel each other (0.72 + (-1.5 - -0.78)) cannot snap one at a time: fold them first
    programs = {name: fold_constant_subtrees(program) for name, program in programs.items()}
    names = list(programs)
    sizes = [len(programs[n].constants) for n in names]

    def with_constants(vector: np.ndarray) -> dict[str, Program]:
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        return {n: programs[n].with_constants(part) for n, part in zip(names, parts)}

    vector = np.concatenate([programs[n].constants for n in names]) if names else np.zeros(0)
    # a snap is kept while the held-out loss stays within the noise of the law being snapped (after pruning
    # and its final fit): judged against that law itself, a law already worse than the reference cannot
    # make every snap look harmless
    law_now = evidence_of(with_constants(vector))
    snapped_vector, exact = vector, [None] * len(vector)
    if law_now.undefined is None:
        snapped_vector, exact = snap_constants(
            vector, lambda v: 0.0 if evidence_of(with_constants(v)).within_noise_of(law_now) else 1.0, tolerance=0.0)
    programs = with_constants(snapped_vector)
    record |= {"grown_offsets": grown, "removed_terms": removed, "sibling_chains": chains,
               "pruning_trials": pruning_trials,
               "pruning_stopped_at_budget": pruning_trials >= PRUNING_TRIALS,
               "snapped": [{"fitted": float(v), "exact": str(e)} for v, e in zip(vector, exact) if e is not None],
               "unsnapped_held_out_loss": finite_or_none(law_now.mean),
               "unsnapped_standard_error": finite_or_none(law_now.standard_error),
               "held_out_loss": finite_or_none(evidence_of(programs).mean)}
    law = composition.from_functions(programs, composition.edge_features, composition.node_features)
    with np.errstate(all="ignore"):  # what the printed law itself scores on the training frames
        errors = prediction_errors(train.rows(numpy_model(law, latent)(train)), train.rows(train.target))
    record["law_training_errors"] = errors
    return law, latent, record


@dataclass(frozen=True)
class FinalLaw:
    """What the refit stage makes of a composition: its constants fitted (``fitted``, before any
    simplification), the readable law and its latent parameters, the fit's errors, the simplification's
    record, and the law's held-out evidence."""

    fitted: Composition
    law: Composition
    latent: np.ndarray | None
    errors: dict
    record: dict
    evidence: HeldOut


def final_law(composition: Composition, latent: np.ndarray | None, train: GraphSet, held_out: GraphSet,
              axes: dict[str, int] | None = None, iterations: int = 200) -> FinalLaw:
    """``refit`` on ``train``, then ``readable_law``: the refit stage's law, also what compose compares
    when two searches' candidates give different compositions (tasks/compose.py)."""
    model = ComposedModel(composition, latent)
    errors = refit(model, train, iterations)
    fitted = model.composition_now()
    latent = model.latent.detach().numpy().astype(np.float64) if latent is not None else None
    law, latent, record = readable_law(fitted, latent, train, held_out, axes)
    return FinalLaw(fitted, law, latent, errors, record, composed_loss(law, latent, held_out))

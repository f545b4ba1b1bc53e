"""The compose stage: one expression per function, composed into one model and checked against the network."""
import numpy as np
import sympy
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composition_to_dataset, programs_of
from symdistill.components.compose import (
    Composition, function_role, latex_text, non_affine_outputs, numpy_model, prediction_errors, sympy_model)
from symdistill.components.evidence import HELD_OUT_FRAMES, SELECTION_RULE, Candidate, choose_expressions
from symdistill.components.refit import refitted_evidence, trial_budget
from symdistill.components.sr import Program
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.parse import parse
from symdistill.components.train_surrogate import predict
from symdistill.tasks.context import RunContext, run_stage
from symdistill.tasks.surrogate_io import captured_graphs, load_surrogate, split_graphs, split_of, spread


class ComposeError(ValueError):
    pass


@task(name="compose", cache_policy=NO_CACHE)  # our keys decide what is cached, not Prefect's
def compose_stage(ctx: RunContext) -> ArtifactRef:
    cfg = ctx.experiment.compose
    data_stage = ctx.experiment.data_stage

    def compute(inputs):
        fronts = {name: ds for name, ds in inputs["search"].items() if name != "figures"}
        unknown = (set(cfg.complexity) | set(cfg.expressions)) - set(fronts)
        if unknown:
            raise ComposeError(f"[compose] names unknown function(s) {sorted(unknown)}; "
                               f"functions: {', '.join(sorted(fronts))}")
        candidates = {name: _candidates(name, front, cfg) for name, front in fronts.items()}
        features = {function_role(name)[0]: tuple(front.attrs["feature_names"]) for name, front in fronts.items()}
        data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
        network = load_surrogate(trained)
        latent = network.latent.detach().double().numpy() if network.spec.n_latent else None

        def compose(programs):
            return Composition.from_functions(programs, features.get("edge", ()), features["node"])
        # the evidence: each candidate re-fitted on training frames of the original targets, then scored on
        # validation frames, which neither the search nor any fit has seen
        held_out = spread(split_graphs(ctx.experiment, data, split_of(trained, "validation")), HELD_OUT_FRAMES)
        budget = trial_budget(split_graphs(ctx.experiment, data, split_of(trained, "train")))
        choice, table = choose_expressions(
            candidates, lambda programs: refitted_evidence(compose(programs), latent, budget, held_out))
        composition = compose({name: candidates[name][choice[name]].program for name in candidates})
        graphs = captured_graphs(ctx.experiment, data, trained)
        composed = numpy_model(composition, latent)(graphs)
        gnn = predict(network, graphs)
        model = sympy_model(composition)
        expressions = {name: str(expr) for name, expr in model.items()}
        latex = latex_text(model)
        summary = {"vs_network": prediction_errors(composed, gnn), "vs_truth": prediction_errors(composed, graphs.target),
                   "network_vs_truth": prediction_errors(gnn, graphs.target), "expressions": expressions,
                   "selection_rule": SELECTION_RULE, "non_affine_node": non_affine_outputs(composition),
                   "n_held_out_frames": len(held_out), "candidates": table,
                   "selected_complexity": {name: "given" if name in cfg.expressions else
                                           candidates[name][choice[name]].complexity for name in fronts}}
        return {"model": composition_to_dataset(composition, expressions, latex)}, summary

    return run_stage(ctx, "compose", compute)


def _given(name: str, text: str, feature_names) -> Program:
    """A user's expression for one function, parsed without evaluation into a program."""
    symbols = {n: sympy.Symbol(n, real=True) for n in feature_names}
    try:
        return from_sympy(parse(text, symbols), list(feature_names))
    except ValueError as err:
        raise ComposeError(f"[compose] expressions {name} = {text!r}: {err}") from None


def _candidates(name: str, front: xr.Dataset, cfg) -> list[Candidate]:
    """The front's members, simplest first; only the pinned one if [compose] pins the function."""
    complexity, loss = front["complexity"].values, front["loss"].values
    programs = programs_of(front)
    if name in cfg.expressions:
        given = _given(name, cfg.expressions[name], front.attrs["feature_names"])
        return [Candidate(len(given), None, given)]
    if name in cfg.complexity:
        matches = np.flatnonzero(complexity == cfg.complexity[name])
        if not matches.size:
            raise ComposeError(f"[compose] complexity {name} = {cfg.complexity[name]}: the front has sizes "
                               f"{', '.join(map(str, complexity))}")
        return [Candidate(int(complexity[matches[0]]), float(loss[matches[0]]), programs[int(matches[0])])]
    return [Candidate(int(c), float(v), p) for c, v, p in zip(complexity, loss, programs)]

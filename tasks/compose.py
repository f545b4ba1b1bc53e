"""The compose stage: one expression per function, composed into one model and checked against the network."""

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composition_to_dataset, programs_of, searches_of
from symdistill.components.compose import (
    Composition, latex_text, non_affine_outputs, numpy_model, plain_text, prediction_errors, sympy_model)
from symdistill.components.compose_choice import (
    check_function_names, choose_by_search, function_candidates, recorded_outputs)
from symdistill.components.evidence import HELD_OUT_FRAMES, SELECTION_RULE
from symdistill.components.function_names import function_role
from symdistill.components.refit import final_law, refitted_evidence, trial_budget
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import captured_graphs, load_surrogate, role_graphs


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.compose
    data_stage = ctx.experiment.data_stage
    fronts = {name: ds for name, ds in inputs["search"].items() if name != "figures"}
    check_function_names(cfg.complexity, cfg.expressions, fronts)
    candidates = {name: function_candidates(name, front["complexity"].values, front["loss"].values,
                                            programs_of(front), front.attrs["feature_names"], cfg.complexity,
                                            cfg.expressions, searches_of(front)) for name, front in fronts.items()}
    features = {function_role(name)[0]: tuple(front.attrs["feature_names"]) for name, front in fronts.items()}
    data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
    network = load_surrogate(trained)
    latent = network.latent.detach().double().numpy() if network.spec.n_latent else None

    def compose(programs):
        return Composition.from_functions(programs, features.get("edge", ()), features["node"])
    # the evidence: each candidate re-fitted on training frames of the original targets, then scored on
    # validation frames, which neither the search nor any fit has seen
    validation, train, test = role_graphs(ctx.experiment, data, inputs["split"], "validation", "train", "test")
    held_out, budget = validation.spread(HELD_OUT_FRAMES), trial_budget(train)
    # fronts of two searches: which search's candidates is decided on the final laws, as refit will make them
    axes = {name: int(front.attrs["axis"]) for name, front in fronts.items() if int(front.attrs.get("axis", -1)) >= 0}

    def law_of(programs):  # called only when the two searches' compositions differ
        law = final_law(compose(programs), latent, train.spread(ctx.experiment.refit.max_graphs), held_out, axes,
                        ctx.experiment.refit.iterations)
        return law.evidence, plain_text(sympy_model(law.law))
    choice, table, search_choice = choose_by_search(
        candidates, lambda programs: refitted_evidence(compose(programs), latent, budget, held_out), law_of)
    composition = compose({name: candidates[name][choice[name]].program for name in candidates})
    graphs = captured_graphs(ctx.experiment, test)
    composed = numpy_model(composition, latent)(graphs)
    gnn = recorded_outputs(inputs["capture"]["node"], graphs)  # what capture recorded; the network is not rerun
    model = sympy_model(composition)
    expressions = {name: str(expr) for name, expr in model.items()}
    latex = latex_text(model)
    composed, truth = graphs.rows(composed), graphs.rows(graphs.target)  # the frames (or nodes) that count
    summary = {"vs_network": prediction_errors(composed, gnn), "vs_truth": prediction_errors(composed, truth),
               "network_vs_truth": prediction_errors(gnn, truth), "expressions": expressions,
               "selection_rule": SELECTION_RULE, "non_affine_node": non_affine_outputs(composition),
               "n_held_out_frames": len(held_out), "candidates": table,
               "selected_complexity": {name: "given" if name in cfg.expressions else
                                       candidates[name][choice[name]].complexity for name in fronts},
               "selected_search": {name: candidates[name][choice[name]].search for name in fronts
                                   if name not in cfg.expressions}, "search_choice": search_choice}
    return {"model": composition_to_dataset(composition, expressions, latex, axes)}, summary

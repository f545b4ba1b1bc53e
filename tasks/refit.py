"""The refit stage: the composed model's constants re-fitted on the data stage's own targets."""
from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composition_of, composition_to_dataset, function_axes_of
from symdistill.components.compose import latex_text, plain_text, sympy_model
from symdistill.components.constant_units import law_constant_units
from symdistill.components.evidence import HELD_OUT_FRAMES
from symdistill.components.refit import final_law
from symdistill.components.train_surrogate import feature_units
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.surrogate_io import load_surrogate, role_graphs


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.refit
    data_stage = ctx.experiment.data_stage
    data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
    composition = composition_of(inputs["compose"]["model"])
    network = load_surrogate(trained)
    latent = network.latent.detach().double().numpy() if network.spec.n_latent else None
    # the original targets of the training frames, never the network's outputs
    train, validation = role_graphs(ctx.experiment, data, inputs["split"], "train", "validation")
    graphs = train.spread(cfg.max_graphs)
    axes = function_axes_of(inputs["compose"]["model"])
    result = final_law(composition, latent, graphs, validation.spread(HELD_OUT_FRAMES), axes, cfg.iterations)
    errors, readable, latent, simplification = result.errors, result.law, result.latent, result.record
    fitted_expressions = {name: str(expr) for name, expr in sympy_model(result.fitted).items()}
    law = sympy_model(readable)  # built once: its simplification is the costly part
    expressions = plain_text(law)
    units = feature_units(data, [*readable.edge_features, *readable.node_features, *readable.node],
                          data.attrs.get("target", "acc"))
    constant_units = law_constant_units(law, readable, units)
    constants = {name: p.constants.tolist() for name, p in readable.functions().items()}
    summary = {**errors, "expressions": expressions, "fitted_expressions": fitted_expressions,
               "simplification": simplification,
               # what the printed law itself scores (the errors above are the fit before offsets and pruning)
               "law_training_errors": simplification.get("law_training_errors") or {},
               "constants": constants, "constant_units": constant_units,
               "n_graphs": len(graphs)}
    dataset = composition_to_dataset(readable, expressions, latex_text(law), axes)
    if latent is not None:
        dataset["latent"] = (("body", "latent_component"), latent)
    return {"model": dataset}, summary

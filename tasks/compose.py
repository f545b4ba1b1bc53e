"""The compose stage: one expression per function, composed into one model and checked against the network."""
import numpy as np
import sympy
import torch
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composition_to_dataset, programs_of
from symdistill.components.compose import (
    ComposedModel, Composition, function_role, latex_model, prediction_errors, sympy_model)
from symdistill.components.sr import Program
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.parse import parse
from symdistill.components.sr.selection import select
from symdistill.components.train_surrogate import predict
from symdistill.tasks.context import RunContext, run_stage
from symdistill.tasks.surrogate_io import captured_graphs, load_surrogate


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
        picked = {name: _pick(name, front, cfg) for name, front in fronts.items()}
        chosen = {name: programs_of(front)[picked[name]] for name, front in fronts.items()}
        chosen |= {name: _given(name, text, fronts[name].attrs["feature_names"])
                   for name, text in cfg.expressions.items()}
        features = {function_role(name)[0]: tuple(front.attrs["feature_names"]) for name, front in fronts.items()}
        composition = Composition.from_functions(chosen, features.get("edge", ()), features["node"])
        data, trained = inputs[data_stage]["data"], inputs["train_surrogate"]
        network = load_surrogate(trained)
        graphs = captured_graphs(ctx.experiment, data, trained)
        with torch.no_grad():
            model = ComposedModel(composition, network.latent.detach().double().numpy()
                                  if network.spec.n_latent else None)
            composed = model(graphs).numpy()
        gnn = predict(network, graphs)
        expressions = {name: str(expr) for name, expr in sympy_model(composition).items()}
        latex = latex_model(composition)
        summary = {"vs_network": prediction_errors(composed, gnn), "vs_truth": prediction_errors(composed, graphs.target),
                   "network_vs_truth": prediction_errors(gnn, graphs.target), "expressions": expressions,
                   "selected_complexity": {name: "given" if name in cfg.expressions else
                                           int(fronts[name]["complexity"].values[picked[name]]) for name in fronts}}
        return {"model": composition_to_dataset(composition, expressions, latex)}, summary

    return run_stage(ctx, "compose", compute)


def _given(name: str, text: str, feature_names) -> Program:
    """A user's expression for one function, parsed without evaluation into a program."""
    symbols = {n: sympy.Symbol(n, real=True) for n in feature_names}
    try:
        return from_sympy(parse(text, symbols), list(feature_names))
    except ValueError as err:
        raise ComposeError(f"[compose] expressions {name} = {text!r}: {err}") from None


def _pick(name: str, front: xr.Dataset, cfg) -> int:
    complexity = front["complexity"].values
    if name in cfg.complexity:
        matches = np.flatnonzero(complexity == cfg.complexity[name])
        if not matches.size:
            raise ComposeError(f"[compose] complexity {name} = {cfg.complexity[name]}: the front has sizes "
                               f"{', '.join(map(str, complexity))}")
        return int(matches[0])
    return select(complexity, front["loss"].values, cfg.selection, tolerance=cfg.loss_tolerance)



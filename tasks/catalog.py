"""After validate_ood: enter the run's models into the equation catalog, with metrics and lineage.

One entry for the composed model and one per internal function (edge message components, node
outputs), each with the re-fitted program. Ids are hashes of the entries' content, so a rerun of the same
run (after a crash, say) finds its entries present and adds nothing.
"""
from datetime import datetime, timezone

import numpy as np
import sympy
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.equations import EquationCatalog, content_id
from symdistill.catalogs.fronts import composition_of
from symdistill.catalogs.programs import composition_arrays, function_expressions, render
from symdistill.components.train_surrogate import feature_units
from symdistill.components.validate_ood import VALIDATED
from symdistill.tasks.context import RunContext

LINEAGE_FIELDS = ("stage", "key", "config", "inputs", "code_version", "host", "started", "finished", "duration_s")


@task(name="catalog", cache_policy=NO_CACHE)  # the entry ids make registration idempotent
def catalog_stage(ctx: RunContext) -> list[str]:
    entries = run_entries(ctx)
    added = EquationCatalog(ctx.catalog_path).add(entries)
    ctx.log(f"catalog: {len(added)} new entr{'y' if len(added) == 1 else 'ies'}, "
            f"{len(entries) - len(added)} already present ({ctx.catalog_path})")
    return [entry["id"] for entry in entries]


def run_entries(ctx: RunContext) -> list[dict]:
    """The catalog entries of a completed run (every stage through validate_ood in the store)."""
    store, plan = ctx.store, ctx.plan
    provenance = {stage: store.provenance(spec.ref) for stage, spec in plan.items()}
    lineage = [{name: provenance[stage].get(name) for name in LINEAGE_FIELDS} for stage in plan]
    run_key = plan["validate_ood"].key
    refit_ds = store.read(plan["refit"].ref)["model"]
    composition = composition_of(refit_ds)
    latent = refit_ds["latent"].values if "latent" in refit_ds else None
    data = store.read(ArtifactRef(ctx.experiment.data_stage, plan[ctx.experiment.data_stage].key))["data"]
    target = data.attrs.get("target", "acc")
    units = feature_units(data, [*composition.edge_features, *composition.node_features, *composition.node], target)
    fronts = {name: ds for name, ds in store.read(plan["search"].ref).items() if name != "figures"}
    selected = provenance["compose"]["figures"]["selected_complexity"]
    refit_summary = provenance["refit"]["figures"]
    model_metrics = {
        "errors": provenance["validate_ood"]["figures"]["errors"],
        "relative_mae_before_refit": refit_summary.get("relative_mae_before"),
        "relative_mae_after_refit": refit_summary.get("relative_mae_after"),
        "constant_units": refit_summary.get("constant_units"),
        "composed_vs_network": provenance["compose"]["figures"].get("vs_network"),
        "complexity": int(sum(len(p.codes) for p in [*composition.edge.values(), *composition.node.values()])),
    }
    verdict = provenance["validate_ood"]["figures"].get("verdict", {})
    model_metrics["verdict"] = verdict
    # an equation less accurate than its network is never presented as a candidate discovery
    status = "candidate" if verdict.get("status") == VALIDATED else "failed_validation"
    common = {"run_key": run_key, "experiment": ctx.experiment.experiment.name, "lineage": lineage,
              "config": ctx.experiment.model_dump(mode="json"), "status": status,
              "versions": {"code": {stage: spec.code for stage, spec in plan.items()},
                           "packages": provenance["validate_ood"].get("package_versions", {})},
              # when the run's validation finished, so registering the same run again gives the same entry
              "created": provenance["validate_ood"].get("finished") or datetime.now(timezone.utc).isoformat()}
    program = composition_arrays(composition, latent)
    expression, latex = render(program, "composed")
    entries = [{**common, "function": "model", "kind": "composed",
                "program": program, "expression": expression, "latex": latex,
                "units": units, "metrics": model_metrics}]
    for function, (expression, features) in function_expressions(composition).items():
        front = fronts.get(function)
        metrics = {"model_errors": model_metrics["errors"], "complexity": selected.get(function)}
        if front is not None and isinstance(selected.get(function), int):
            row = int(np.flatnonzero(front["complexity"].values == selected[function])[0])
            metrics["search_loss"] = float(front["loss"].values[row])
        entries.append({**common, "function": function, "kind": "function",
                        "program": composition_arrays(composition, None, [function]),
                        "expression": str(expression), "latex": sympy.latex(expression),
                        "units": {name: units.get(name) for name in features}, "metrics": metrics})
    return [{**entry, "id": content_id(entry)} for entry in entries]


"""The catalog entries of a completed run: one for the composed model and one per internal function (edge
message components, node outputs), each with the re-fitted program, metrics and lineage, read from the store.
Ids are hashes of the entries' content, so registering the same run again adds nothing.
"""
from datetime import datetime, timezone

import numpy as np

from symdistill.catalogs.equations import content_id
from symdistill.catalogs.fronts import composition_of
from symdistill.catalogs.programs import composition_arrays, function_expressions, render
from symdistill.catalogs.store import ArtifactRef, ArtifactStore
from symdistill.components.sr.export import safe_latex
from symdistill.components.train_surrogate import feature_units
from symdistill.components.validate_ood import VALIDATED

LINEAGE_FIELDS = ("stage", "key", "config", "inputs", "input_keys", "code_version", "host", "started", "finished",
                  "duration_s")


def run_entries(store: ArtifactStore, refs: dict[str, ArtifactRef], code_versions: dict[str, str],
                experiment: dict, data_stage: str) -> list[dict]:
    """The catalog entries of a completed run: ``refs`` are its artifacts in stage order, through validate_ood;
    ``experiment`` is the whole config as a dict."""
    provenance = {stage: store.provenance(ref) for stage, ref in refs.items()}
    lineage = [{name: provenance[stage].get(name) for name in LINEAGE_FIELDS} for stage in refs]
    run_key = refs["validate_ood"].key
    refit_ds = store.read(refs["refit"])["model"]
    composition = composition_of(refit_ds)
    latent = refit_ds["latent"].values if "latent" in refit_ds else None
    data = store.read(refs[data_stage])["data"]
    target = data.attrs.get("target", "acc")
    units = feature_units(data, [*composition.edge_features, *composition.node_features, *composition.node], target)
    fronts = {name: ds for name, ds in store.read(refs["search"]).items() if name != "figures"}
    selected = provenance["compose"]["figures"]["selected_complexity"]
    refit_summary = provenance["refit"]["figures"]
    model_metrics = {
        "errors": provenance["validate_ood"]["figures"]["errors"],
        "relative_mae_before_refit": refit_summary.get("relative_mae_before"),
        "relative_mae_after_refit": refit_summary.get("relative_mae_after"),
        # the catalogued law itself, after offsets, pruning and snapping (the two above are the fit before them)
        "relative_mae_of_law_on_training": (refit_summary.get("law_training_errors") or {}).get("relative_mae"),
        "constant_units": refit_summary.get("constant_units"),
        "composed_vs_network": provenance["compose"]["figures"].get("vs_network"),
        "complexity": int(sum(len(p.codes) for p in [*composition.edge.values(), *composition.node.values()])),
    }
    verdict = provenance["validate_ood"]["figures"].get("verdict", {})
    model_metrics["verdict"] = verdict
    # an equation less accurate than its network is never presented as a candidate discovery
    status = "candidate" if verdict.get("status") == VALIDATED else "failed_validation"
    common = {"run_key": run_key, "experiment": experiment["experiment"]["name"], "lineage": lineage,
              "config": experiment, "status": status,
              "versions": {"code": code_versions,
                           "packages": provenance["validate_ood"].get("package_versions", {})},
              # when the run's validation finished, so registering the same run again gives the same entry
              "created": provenance["validate_ood"].get("finished") or datetime.now(timezone.utc).isoformat()}
    program = composition_arrays(composition, latent)
    expression, latex = render(program, "composed")
    entries = [{**common, "function": "model", "kind": "composed",
                "program": program, "expression": expression, "latex": latex,
                "units": units, "metrics": model_metrics}]
    moved = moved_at_refit(refit_summary)
    for function, (expression, features) in function_expressions(composition).items():
        front = fronts.get(function)
        metrics = {"model_errors": model_metrics["errors"], "complexity": selected.get(function)}
        if function in moved:  # not the form compose chose from this function's front: no search loss of its own
            metrics["origin"] = moved[function]
        elif front is not None and isinstance(selected.get(function), int):
            rows = np.flatnonzero(front["complexity"].values == selected[function])
            if rows.size:  # a stored front is not trusted to hold what compose recorded
                metrics["search_loss"] = float(front["loss"].values[int(rows[0])])
        entries.append({**common, "function": function, "kind": "function",
                        "program": composition_arrays(composition, None, [function]),
                        "expression": str(expression), "latex": safe_latex(expression),
                        "units": {name: units.get(name) for name in features}, "metrics": metrics})
    return [{**entry, "id": content_id(entry)} for entry in entries]


def moved_at_refit(refit_summary: dict) -> dict[str, str]:
    """Per function whose program refit replaced by a sibling axis's (components/isotropy.py): where it came
    from. Summaries from before refit moved chains have none."""
    chains = (refit_summary.get("simplification") or {}).get("sibling_chains") or []
    return {function: f"axis {chain['from_axis']}'s chain, moved onto axis {chain['axis']} at refit"
            for chain in chains for function in chain["functions"]}

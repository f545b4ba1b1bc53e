"""Read a finished run back for the discovery matrix: the per-pair law found, recovered or not, and why."""
from pathlib import Path

import numpy as np
import sympy

from laws import max_constant_error, pair_truth, recovered, softening_limit
from recovery import lineage, one_pair
from symdistill.catalogs.fronts import composition_of
from symdistill.components.compose import sympy_model
from symdistill.tasks.context import open_run

AXIS_OF = {"acc_x": "x", "acc_y": "y", "acc_z": "z"}


def read_run(config: Path, store: Path, law: dict) -> dict:
    ctx, _ = open_run(config, store, log=lambda _: None)
    refs = lineage(ctx)
    prov = {stage: ctx.store.provenance(ref) for stage, ref in refs.items()}
    refit_ds = ctx.store.read(refs["refit"])["model"]
    data_stage = "simulate" if "simulate" in refs else "ingest"
    data = ctx.store.read(refs[data_stage])["data"]
    n_partners = data.sizes["body"] - 1
    model = sympy_model(composition_of(refit_ds))
    row = {"stage_seconds": {s: p.get("duration_s") for s, p in prov.items()},
           "errors": prov["validate_ood"]["figures"]["errors"],
           "verdict": prov["validate_ood"]["figures"].get("verdict", {}).get("status"),
           "capture_r2": best_capture_r2(prov["capture"]["figures"]),
           "selected_complexity": prov["compose"]["figures"].get("selected_complexity"),
           "energy_drift": (data.attrs.get("diagnostics") or {}).get("max_relative_energy_drift")}
    masses = None
    if "masses" in law:  # unknown masses: latent parameters stand for the masses, up to one global scale
        masses, substitution, mass_error, reading = latent_masses(refit_ds, np.asarray(law["masses"]))
        row["mass_error_after_scale"], row["latent_read_as"] = mass_error, reading
        model = {k: v.xreplace(substitution) for k, v in model.items()}
    found, verdicts, errors = {}, [], []
    for output, expr in model.items():
        pair = sympy.N(one_pair(expr, n_partners), 4)
        found[output] = str(pair)
        axis = AXIS_OF.get(output, "x")
        ok, error = check(pair, law, axis, data.sizes["dim"])
        verdicts.append(ok)
        errors.append(error)
    row["found"] = found.get("acc_x", next(iter(found.values()), "-"))
    row["recovered"] = all(verdicts) and (masses is None or row["mass_error_after_scale"] <= 0.05)
    finite = [e for e in errors if e is not None and np.isfinite(e)]
    row["max_constant_error"] = max(finite) if finite else None
    if not row["recovered"]:
        row["why"] = why_not(row, verdicts)
    return row


def check(pair: sympy.Expr, law: dict, axis: str, dim: int) -> tuple[bool, float | None]:
    """Recovered against the truth with softening 0 or as simulated; piecewise laws piece by piece."""
    name, parameters = law["name"], law.get("parameters", {})
    best = (False, None)
    for limit in (True, False):
        truth = pair_truth(name, parameters, axis, softening_limit=limit, dim=dim)
        # softening is a numerical device: taken to 0 in the found law too when it is in the truth's
        found = softening_limit(pair) if limit else pair
        if len(truth) > 1:
            ok = all(recovered(found, expr, region=region) for region, expr in truth)
            return ok, None
        expr = truth.expression
        if recovered(found, expr):
            error = max_constant_error(found, expr)
            return True, error.value if error.measure == "constants" else None
        if best[1] is None:
            error = max_constant_error(found, expr)
            best = (False, error.value if error.measure == "constants" else None)
    return best


def latent_masses(refit_ds, true_masses: np.ndarray):
    """The latent parameters read as masses: m = s * latent, or m = s / latent where the network chose the
    inverse mass (a = F * latent: the same law, the property written the other way up), whichever fits the
    true masses better after the least-squares global scale s. Returns the masses, the substitution that
    writes the law in masses, the largest relative mass error and the reading ("mass" or "inverse mass")."""
    latent = refit_ds["latent"].values[:, 0]
    readings = []
    for power, reading in ((1, "mass"), (-1, "inverse mass")):
        if power < 0 and np.any(latent == 0):
            continue
        basis = latent ** power
        scale = float(basis @ true_masses / (basis @ basis))
        masses = scale * basis
        error = float(np.max(np.abs(masses - true_masses) / true_masses))
        readings.append((error, power, scale, masses, reading))
    error, power, scale, masses, reading = min(readings, key=lambda r: r[0])
    symbols = {"latent0_j": "mass_j", "latent0_i": "mass", "latent0": "mass"}
    # m = s * latent**power  <=>  latent = (m / s)**power (power is +-1)
    substitution = {sympy.Symbol(old, real=True): (sympy.Symbol(new, real=True) / scale) ** power
                    for old, new in symbols.items()}
    return masses, substitution, error, reading


def best_capture_r2(figures: dict) -> list[float] | None:
    """The message-force R² against the reference the messages match best: the force, or the force per
    receiver mass (or charge × mass), which is what sender-only edge features let a message carry."""
    fits = [figures.get(k) for k in ("message_force_r2", "message_force_per_receiver_mass_r2",
                                     "message_force_per_receiver_charge_mass_r2")]
    fits = [f for f in fits if f]
    return max(fits, key=lambda r2: float(np.mean(r2))) if fits else None


def why_not(row: dict, verdicts: list[bool]) -> str:
    parts = []
    r2 = row.get("capture_r2")
    if r2 is not None:
        parts.append(f"capture R² {', '.join(f'{v:.3f}' for v in r2)}")
    if row.get("verdict") != "validated":
        parts.append("equation worse than the network (failed validation)")
    if "mass_error_after_scale" in row and row["mass_error_after_scale"] > 0.05:
        parts.append(f"masses off by {row['mass_error_after_scale']:.1%} after scale")
    parts.append(f"chosen complexities {row.get('selected_complexity')}")
    return "; ".join(parts)

"""Is a halo run's law the paper's form, up to its constants? (Cranmer et al. 2020, section 4.3)

    .venv/bin/python benchmarks/halo_form.py STORE [--key REFIT_KEY]

The paper's family: delta_i = C1 + sum_{j, r_ij < R} (C4 + M_j) / (C5 + (C6 r_ij)^C7) / (C2 + C3 M_i), which
identifies C1, C4, C3/C2 and C7 (C2, C5 and C6 only in combination). The law is read from the store's refit
artifact (the latest one, or --key); its pair term is evaluated on a grid of the catalog's masses (1st to 99th
percentile) and of distances up to the graph's radius, and the family is fitted to it by least squares. The
law has the form when the family reproduces its pair term to FORM_TOLERANCE (relative, worst grid point) and
what is outside the sum is a constant. Prints the identified constants beside the generator's.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import sympy
from scipy.optimize import least_squares

from symdistill.catalogs import ArtifactRef, ArtifactStore
from symdistill.catalogs.fronts import composition_of
from symdistill.components.compose import sympy_model
from symdistill.components.halo_catalog import PAPER_CONSTANTS

FORM_TOLERANCE = 1e-6  # a fitted member of the family matches to rounding; a stand-in misses by percents
GRID = 24


def pair_term(law: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """The summand of the law's one sum over neighbours, and what is outside the sum."""
    sums = [term for term in sympy.Add.make_args(sympy.expand(law, deep=False)) if isinstance(term, sympy.Sum)]
    if len(sums) != 1:
        raise ValueError(f"the law has {len(sums)} sums over neighbours, not one: {law}")
    return sums[0].function, law - sums[0]


def family(params: np.ndarray, mass_i, mass_j, r):
    c4, ratio, scale, log_d, power = params  # ratio = C3/C2, scale = C2 C5, d = C6^C7 / C5
    return (c4 + mass_j) / (scale * (1 + ratio * mass_i) * (1 + 10.0 ** log_d * r ** power))


def check(law: sympy.Expr, masses: np.ndarray, radius: float) -> dict:
    term, outside = pair_term(law)
    mass_i, mass_j, r = (sympy.Symbol(n, real=True) for n in ("mass", "mass_j", "r_ij"))
    unknown = term.free_symbols - {mass_i, mass_j, r}
    if unknown or outside.free_symbols:
        return {"form": False, "why": f"the law reads {sorted(map(str, unknown | outside.free_symbols))} "
                                      "beyond M_i, M_j and r_ij inside the sum and nothing outside it"}
    low, high = np.percentile(masses, [1, 99])
    grid = np.meshgrid(np.linspace(low, high, GRID), np.linspace(low, high, GRID),
                       np.linspace(0.05 * radius, radius, GRID), indexing="ij")
    values = np.broadcast_to(sympy.lambdify((mass_i, mass_j, r), term, "numpy")(*grid), grid[0].shape)
    c = PAPER_CONSTANTS

    def misfit(p):
        return (family(p, *grid) / values - 1).ravel()
    # the cut-off's scale d depends on the length unit: start from the best of a scan of its decades
    starts = [np.array([c["C4"], c["C3"] / c["C2"], 1.0, log_d, c["C7"]]) for log_d in np.arange(-10.0, 61.0, 1.0)]
    for start in starts:  # the overall scale that fits each start best, so the scan compares shapes
        start[2] = float(np.median(family(start, *grid) / values))
    start = min(starts, key=lambda p: float(np.sum(misfit(p) ** 2)))
    fit = least_squares(misfit, start, x_scale="jac", max_nfev=5000)
    worst = float(np.max(np.abs(fit.fun)))
    c4, ratio, _, _, power = fit.x
    return {"form": worst <= FORM_TOLERANCE, "worst_relative_misfit": worst,
            "C1": float(outside), "C4": float(c4), "C3/C2": float(ratio), "C7": float(power)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path)
    parser.add_argument("--key", help="the refit artifact's key (default: the latest)")
    args = parser.parse_args()
    store = ArtifactStore(args.store)
    key = args.key or store.artifacts("refit")[-1]["key"]
    provenance = store.provenance(ArtifactRef("refit", key))
    law = sympy_model(composition_of(store.read(ArtifactRef("refit", key))["model"]))
    (target, expression), = law.items()
    masses = store.read(ArtifactRef("ingest", provenance["input_keys"]["ingest"]))["data"]["mass"].values.ravel()
    trained = ArtifactRef("train_surrogate", provenance["input_keys"]["train_surrogate"])
    radius = store.provenance(trained)["config"]["radius"]
    result = check(expression, masses, radius)
    print(f"{target} = {expression}")
    if "why" in result:
        print(f"form: no ({result['why']})")
        return 1
    print(f"form: {'yes' if result['form'] else 'no'} (worst relative misfit of the paper's family "
          f"{result['worst_relative_misfit']:.2g}, tolerance {FORM_TOLERANCE:g})")
    c = PAPER_CONSTANTS
    for name, truth in (("C1", c["C1"]), ("C4", c["C4"]), ("C3/C2", c["C3"] / c["C2"]), ("C7", c["C7"])):
        print(f"  {name:<6} {result[name]:.4g}  (generator: {truth:.4g})")
    return 0 if result["form"] else 1


if __name__ == "__main__":
    sys.exit(main())

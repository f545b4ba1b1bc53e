"""Did a finished run recover the simulator's force law? One row per experiment, read from its store.

For each config: the re-fitted composed model's per-pair term (terms that do not depend on the pair, a
constant message offset and the node's constant, shared out over the partners; with a fixed number of
bodies only their total is identifiable), constants rounded to 3 significant digits
(a constant that vanishes, below 1e-6, becomes 0, as in SRBench), beside the simulated law; whether the
two are symbolically equal, which also means every constant matches the truth to 0.5%; the GNN's and
the symbolic model's errors in and out of distribution; and each stage's wall time.
Run each experiment first (`symdistill run config/<name>.toml`), then:
    .venv/bin/python benchmarks/recovery.py config/spring2d.toml config/gravity2d.toml [--store PATH]
"""
import argparse
from pathlib import Path

import sympy

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import composition_of
from symdistill.catalogs.provenance import input_keys
from symdistill.components.compose import sympy_model
from symdistill.tasks.context import open_run
from symdistill.tasks.stages import STAGE_ORDER

STAGES = STAGE_ORDER


def true_acceleration(law: dict, dim_symbol: str = "dx") -> sympy.Expr:
    """One pair's term of the simulated law's acceleration component along ``dim_symbol`` (METHOD.md §2a).

    The force on body i from j is coef(r') d / |d| with d = x_i - x_j and r' = |d| + softening.
    """
    d, r = sympy.symbols(f"{dim_symbol}_ij r_ij", real=True)
    mass, mass_j, charge, charge_j = sympy.symbols("mass mass_j charge charge_j", real=True)
    softening = sympy.Rational(str(law.get("parameters", {}).get("softening", 0.01)))
    r_soft = r + softening
    coefficient = {"r2": -mass * mass_j / r_soft ** 2, "r1": -mass * mass_j / r_soft,
                   "spring": -2 * (r_soft - 1), "charge": charge * charge_j / r_soft ** 2}.get(law["name"])
    if coefficient is None:
        raise SystemExit(f"no closed-form truth here for the {law['name']!r} law")
    return sympy.simplify(coefficient * d / r / mass)


def rounded(expr: sympy.Expr) -> sympy.Expr:
    return expr.xreplace({f: 0 if abs(f) < 1e-6 else sympy.Rational(f"{float(f):.3g}") for f in expr.atoms(sympy.Float)})


def one_pair(expr: sympy.Expr, n_partners: int) -> sympy.Expr:
    """One pair's contribution: each sum over partners replaced by its summand, and what does not depend
    on the pair (a sum of constants, the node's own terms) shared out over the ``n_partners`` pairs."""
    pair = sympy.Integer(0)
    rest = sympy.Integer(0)
    for term in sympy.Add.make_args(expr):
        if isinstance(term, sympy.Sum) and any(str(s).endswith(("_ij", "_j")) for s in term.args[0].free_symbols):
            pair += term.args[0]
        elif isinstance(term, sympy.Sum):
            rest += n_partners * term.args[0]
        else:
            rest += term
    return pair + rest / n_partners


def lineage(ctx) -> dict:
    """Each stage's artifact behind this config's validate_ood: the current plan's if complete, else the
    newest complete one of this experiment in the store (code changed since), followed through its inputs."""
    current = ctx.plan["validate_ood"].ref
    if ctx.store.is_complete(current):
        end = current
    else:
        runs = [p for p in ctx.store.artifacts("validate_ood") if p.get("experiment") == ctx.experiment.experiment.name]
        if not runs:
            raise SystemExit(f"{ctx.experiment.experiment.name}: no finished run in {ctx.store.root}; run it first")
        end = ArtifactRef("validate_ood", runs[-1]["key"])
        print(f"(the current code's run is not in the store; reading the newest finished one, {end.key})")
    refs, todo = {}, [end]
    while todo:
        ref = todo.pop()
        refs[ref.stage] = ref
        todo += [ArtifactRef(stage, key) for stage, key in input_keys(ctx.store.provenance(ref)).items()
                 if stage not in refs]
    return {stage: refs[stage] for stage in STAGES if stage in refs}


def report(config: Path, store: Path | None) -> None:
    ctx, _ = open_run(config, store, log=lambda _: None)
    refs = lineage(ctx)
    simulated = ctx.store.read(refs["simulate"])["data"]
    law, n_partners = simulated.attrs["force_law"], simulated.sizes["body"] - 1
    model = sympy_model(composition_of(ctx.store.read(refs["refit"])["model"]))
    print(f"\n## {ctx.experiment.experiment.name}: law {law['name']}, softening "
          f"{law.get('parameters', {}).get('softening')}")
    for output, expr in model.items():
        truth = true_acceleration(law, {"acc_x": "dx", "acc_y": "dy", "acc_z": "dz"}[output])
        found = one_pair(expr, n_partners)
        equal = sympy.simplify(rounded(found) - truth) == 0
        print(f"{output}: found (one pair) {sympy.N(found, 6)}")
        print(f"{'':{len(output)}}  3 digits        {rounded(found)}")
        print(f"{'':{len(output)}}  truth           {truth}")
        print(f"{'':{len(output)}}  recovered (symbolically equal, constants within 0.5%): {'yes' if equal else 'NO'}")
    errors = ctx.store.provenance(refs["validate_ood"])["figures"]["errors"]
    print("\n| model | in distribution (rel. MAE) | OOD (rel. MAE) |\n|---|---|---|")
    for name in ("gnn", "symbolic"):
        e = errors[name]
        print(f"| {name} | {e['in_distribution']['relative_mae']:.3g} | {e['out_of_distribution']['relative_mae']:.3g} |")
    print("\n| stage | seconds |\n|---|---|")
    for stage, ref in refs.items():
        print(f"| {stage} | {ctx.store.provenance(ref).get('duration_s', float('nan')):.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--store", type=Path, default=None, help="artifact store (default: beside each config)")
    args = parser.parse_args()
    for config in args.configs:
        report(config, args.store)


if __name__ == "__main__":
    main()

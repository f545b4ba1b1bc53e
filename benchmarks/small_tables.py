"""Small noisy tables with real SI constants: is the returned model the law? symdistill beside pyoperon.

Real measurement tables have 6-100 rows, a few percent of noise and constants from 1e-11 to 1e26. Twelve
laws: six from the Feynman dev list written with their SI constants, six textbook laws outside astronomy
(none of the PySR paper's EmpiricalBench, kept as an independent check). Inputs are drawn uniformly in
realistic SI ranges; the noise is relative, y (1 + level N(0, 1)), as a measurement's error scales with it.

"The returned model is the law" when it has the truth's form: its constants (every Float of the returned
expression, fitted values kept apart) can be moved so that it equals the noiseless truth to 1e-6 of the
truth's RMS at 200 points of the table's ranges, without any constant going to 0 (a spurious term). The
table also gives the largest relative constant error of those that match.

    pip install pyoperon==0.6.2            # benchmark only
    .venv/bin/python benchmarks/small_tables.py --budget 20    # every tool of DEFAULT_TOOLS, same run
    .venv/bin/python benchmarks/small_tables.py --table
Rows are appended to benchmarks/results/small_tables.jsonl; a rerun skips what is there.
"""
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core per run
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import sympy  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from symdistill.components.sr.parse import parse  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "small_tables.jsonl"
EPS0, C, HBAR, H = 8.8541878128e-12, 299792458.0, 1.054571817e-34, 6.62607015e-34
KB, G, SIGMA, WIEN, R_GAS, E = 1.380649e-23, 6.67430e-11, 5.670374419e-8, 2.897771955e-3, 8.314462618, 1.602176634e-19

# name: (source, formula in the variables (SymPy syntax, real constants as numbers), {variable: (low, high)})
LAWS = {
    "coulomb_potential": ("Feynman II.4.23", f"q/(4*pi*{EPS0}*r)", {"q": (1e-9, 1e-8), "r": (0.01, 0.1)}),
    "bose_occupation": ("Feynman III.4.32", f"1/(exp({HBAR}*omega/({KB}*T)) - 1)",
                        {"omega": (1e13, 1e14), "T": (100.0, 1000.0)}),
    "localization_mass": ("Feynman III.15.14", f"{HBAR}**2/(2*E_n*d**2)", {"E_n": (1e-20, 1e-19), "d": (1e-10, 5e-10)}),
    "energy_flux": ("Feynman II.27.16", f"{EPS0}*{C}*Ef**2", {"Ef": (1e2, 1e4)}),
    "orientation_polarization": ("Feynman II.11.20", f"n_rho*p_d**2*Ef/(3*{KB}*T)",
                                 {"n_rho": (1e25, 1e26), "p_d": (1e-30, 6e-30), "Ef": (1e4, 1e6), "T": (200.0, 400.0)}),
    "potential_energy": ("Feynman I.13.12", f"{G}*m1*m2*(1/r2 - 1/r1)",
                         {"m1": (1e22, 1e24), "m2": (1e22, 1e24), "r1": (2e8, 4e8), "r2": (1e8, 2e8)}),
    "stefan_boltzmann": ("radiated power per area, j = sigma T^4", f"{SIGMA}*T**4", {"T": (300.0, 3000.0)}),
    "wien_displacement": ("peak wavelength, lambda = b / T", f"{WIEN}/T", {"T": (300.0, 6000.0)}),
    "arrhenius": ("reaction rate, k = A exp(-E_a / (R T)), A = 1e13 /s", f"1e13*exp(-E_a/({R_GAS}*T))",
                  {"E_a": (4e4, 6e4), "T": (350.0, 450.0)}),
    "de_broglie": ("matter wavelength, lambda = h / (m v)", f"{H}/(m*v)", {"m": (9.1e-31, 1e-29), "v": (1e4, 1e6)}),
    "debye_length": ("plasma screening length, sqrt(eps0 k_B T / (n e^2))", f"sqrt({EPS0}*{KB}*T/(n*{E}**2))",
                     {"T": (1e4, 1e6), "n": (1e16, 1e20)}),
    "sound_speed": ("ideal-gas sound speed, sqrt(gamma R T / M), gamma = 1.4", f"sqrt(1.4*{R_GAS}*T/M)",
                    {"T": (200.0, 1000.0), "M": (0.002, 0.05)}),
}
ROWS = (6, 10, 20, 30, 50, 100)
NOISE = (0.01, 0.02, 0.03, 0.05)


def table(name: str, seed: int = 0):
    """(X, y, truth, symbols, rows, noise) of one law; rows and noise level cycle through ROWS and NOISE."""
    index = list(LAWS).index(name)
    rows, noise = ROWS[index % len(ROWS)], NOISE[index % len(NOISE)]
    _, formula, ranges = LAWS[name]
    symbols = {v: sympy.Symbol(v, real=True) for v in ranges}
    truth = parse(formula, symbols)
    rng = np.random.default_rng([seed, index])
    X = np.column_stack([rng.uniform(low, high, rows) for low, high in ranges.values()])
    clean = np.asarray(sympy.lambdify(list(symbols.values()), truth, "numpy")(*X.T), float) * np.ones(rows)
    return X, clean * (1 + noise * rng.normal(size=rows)), truth, list(symbols.values()), rows, noise


def same_form(model: sympy.Expr, truth: sympy.Expr, symbols, ranges, n_points: int = 200):
    """(is the law, largest relative constant move): see the module docstring."""
    floats = sorted(model.atoms(sympy.Float), key=str)
    rng = np.random.default_rng(1)
    points = [rng.uniform(low, high, n_points) for low, high in ranges.values()]
    target = np.asarray(sympy.lambdify(symbols, truth, "numpy")(*points), float) * np.ones(n_points)
    scale = float(np.sqrt(np.mean(target ** 2))) or 1.0
    if not model.free_symbols <= set(symbols):
        return False, None
    parameters = sympy.symbols(f"c0:{len(floats)}")
    form = sympy.lambdify(list(symbols) + list(parameters), model.xreplace(dict(zip(floats, parameters))), "numpy")
    start = np.array([float(f) for f in floats])

    def residual(relative):
        with np.errstate(all="ignore"):
            values = np.asarray(form(*points, *(start * (1 + relative))), float) * np.ones(n_points)
        out = (values - target) / scale
        return np.where(np.isfinite(out), out, 1e6)
    if not len(floats):
        return bool(np.max(np.abs(residual(np.zeros(0)))) < 1e-6), 0.0
    fit = least_squares(residual, np.zeros(len(floats)), xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=2000)
    exact = np.max(np.abs(fit.fun)) < 1e-6 and np.all(np.abs(1 + fit.x) > 1e-6)
    return bool(exact), float(np.max(np.abs(fit.x))) if exact else None


def fit_symdistill(X, y, names, budget, seed, selection, scale_features=True, weights=None):
    from symdistill.components.sr import SymbolicRegressor

    est = SymbolicRegressor(unary_operators=("sqrt", "square", "exp", "log", "sin", "cos"), max_size=30,
                            n_islands=8, n_iterations=10 ** 6, timeout_seconds=budget, random_state=seed,
                            model_selection=selection, options={"scale_features": scale_features})
    est.fit(X, y, feature_names=names, sample_weight=weights)
    return est.sympy(snapped=False)


def fit_operon(X, y, names, budget, seed, _selection):
    from pyoperon.sklearn import SymbolicRegressor

    est = SymbolicRegressor(allowed_symbols="add,sub,mul,div,exp,log,sin,cos,sqrt,square,constant,variable",
                            max_time=int(budget), n_threads=1, random_state=seed, optimizer_iterations=10,
                            generations=10 ** 6, max_evaluations=10 ** 9)
    est.fit(X, y)
    safe = [f"v{i}" for i in range(len(names))]
    symbols = {s: sympy.Symbol(n, real=True) for s, n in zip(safe, names)}
    return parse(est.get_model_string(est.model_, 16, safe), symbols)


def fit_symdistill_absolute(X, y, names, budget, seed, selection):
    """Rows weighed alike, which fixes the noise model at absolute errors: the ablation of choosing it."""
    return fit_symdistill(X, y, names, budget, seed, selection, weights=np.ones_like(y))


def fit_symdistill_unscaled(X, y, names, budget, seed, selection):
    """The engine searching on the features as given: the ablation of ``scale_features``."""
    return fit_symdistill(X, y, names, budget, seed, selection, scale_features=False)


TOOLS = {"symdistill-best": (fit_symdistill, "best"), "symdistill-cv": (fit_symdistill, "cross_validation"),
         "symdistill-mdl": (fit_symdistill, "description_length"),
         "symdistill-mdl-absolute": (fit_symdistill_absolute, "description_length"),
         "symdistill-best-unscaled": (fit_symdistill_unscaled, "best"),
         "symdistill-cv-unscaled": (fit_symdistill_unscaled, "cross_validation"), "operon": (fit_operon, None)}


# description length (the default rule), its absolute-errors ablation, the other rules, the peer
DEFAULT_TOOLS = "symdistill-mdl,symdistill-mdl-absolute,symdistill-best,symdistill-cv,operon"


def run_one(tool: str, name: str, budget: float, seed: int) -> dict:
    X, y, truth, symbols, rows, noise = table(name, seed)
    fit, selection = TOOLS[tool]
    key = {"tool": tool, "law": name, "budget": budget, "seed": seed, "rows": rows, "noise": noise}
    start = time.perf_counter()
    try:
        model = fit(X, y, [s.name for s in symbols], budget, seed, selection)
    except Exception as err:  # a tool failing on a table is a result
        return key | {"error": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - start, "law_found": False}
    seconds = time.perf_counter() - start
    try:
        found, constant_error = same_form(model, truth, symbols, LAWS[name][2])
    except Exception as err:  # an expression the checker cannot evaluate is not the law
        found, constant_error = False, None
    return key | {"seconds": seconds, "law_found": found, "constant_error": constant_error, "model": str(model)[:300]}


def read_results(path: Path = RESULTS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def summarize(results: list[dict]) -> None:
    tools = sorted({r["tool"] for r in results})
    print("| law | source | rows | noise | " + " | ".join(tools) + " |")
    print("|---|---|---|---|" + "---|" * len(tools))
    for name in LAWS:
        cells = []
        for tool in tools:
            rows = [r for r in results if r["tool"] == tool and r["law"] == name]
            if not rows:
                cells.append("-")
                continue
            r = rows[-1]
            mark = "law" if r["law_found"] else "no"
            cells.append(f"{mark} ({r['constant_error']:.1%})" if r["law_found"] else f"{mark}: `{r.get('model', r.get('error', ''))[:50]}`")
        rows_noise = table(name)[4:6]
        print(f"| {name} | {LAWS[name][0]} | {rows_noise[0]} | {rows_noise[1]:.0%} | " + " | ".join(cells) + " |")
    for tool in tools:
        rows = {r["law"]: r for r in results if r["tool"] == tool}
        print(f"{tool}: the returned model is the law on {sum(r['law_found'] for r in rows.values())} "
              f"of {len(rows)} tables")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per table and tool, one core")
    parser.add_argument("--tools", default=DEFAULT_TOOLS)
    parser.add_argument("--laws", default=",".join(LAWS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="only print the summary of the results file")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (rows of earlier code: another file)")
    args = parser.parse_args()
    if args.table:
        summarize(read_results(args.out))
        return
    unknown = set(args.laws.split(",")) - set(LAWS) | set(args.tools.split(",")) - set(TOOLS)
    if unknown:
        sys.exit(f"unknown law or tool {sorted(unknown)}; laws: {', '.join(LAWS)}; tools: {', '.join(TOOLS)}")
    done = {(r["tool"], r["law"], r["budget"], r["seed"]) for r in read_results(args.out)}
    jobs = [(t, n) for n in args.laws.split(",") for t in args.tools.split(",")
            if (t, n, args.budget, args.seed) not in done]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_one, t, n, args.budget, args.seed) for t, n in jobs]
        for k, future in enumerate(as_completed(futures), 1):
            row = future.result()
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"[{k}/{len(jobs)}] {row['tool']:<16} {row['law']:<26} law={row['law_found']} "
                  f"{row['seconds']:.0f}s {row.get('model', row.get('error', ''))[:70]}", flush=True)
    summarize(read_results(args.out))


if __name__ == "__main__":
    main()

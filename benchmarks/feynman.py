"""Feynman dev problems: symdistill against gplearn 0.4.3 and pyoperon 0.6.2 at the same time budget.

Protocol (../shared/benchmarks/feynman/README.md): N = 1000 uniform training points, noise 0 and 0.01
(Gaussian, std = level x RMS of y, training target only), a fresh 1000-point test set; exact recovery by
SRBench's rule with constants rounded to 3 significant digits, on the domain the data are drawn from: every
variable's range is non-negative, so the check declares each symbol positive (sqrt(a) sqrt(b) = sqrt(ab),
|h| = h there; with real symbols SymPy cannot apply either). Every run gets one core.

With ``--units MODE`` symdistill is also given every input's and the output's dimension from
``units.csv`` (exponents of m, s, kg, T, V, as AI Feynman writes them; T and V are read by pint in SI):
MODE "penalty" adds a cost to inconsistent candidates, "reject" drops them; ``--dimensionless-constants``
makes constants dimensionless instead of free. The peers have no units option and run without.

Each run is appended to a JSON-lines results file as it finishes; a rerun skips the runs already there
(same tool, problem, noise, seed, budget and units), so the benchmark runs in parts:

    pip install gplearn==0.4.3 pyoperon==0.6.2      # benchmark only, not runtime dependencies
    .venv/bin/python benchmarks/feynman.py --budget 35 --seeds 0,1,2 --units penalty --tools symdistill
    .venv/bin/python benchmarks/feynman.py --budget 35 --seeds 0,1,2 --tools symdistill,gplearn,operon
    .venv/bin/python benchmarks/feynman.py --table          # the summary of everything in the file
"""
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core per run; set before numba is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import sympy  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from symdistill.components.sr.parse import parse  # noqa: E402

TABLES = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "feynman"
UNARY = ("sqrt", "square", "exp", "log", "sin", "cos")


def load_problems() -> dict[str, dict]:
    problems = {}
    for name in ("FeynmanEquations.csv", "BonusEquations.csv"):
        with open(TABLES / name, encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if not row.get("Filename"):
                    continue
                variables = [(row[f"v{i}_name"], float(row[f"v{i}_low"]), float(row[f"v{i}_high"]))
                             for i in range(1, 11) if row.get(f"v{i}_name")]
                problems[row["Filename"]] = {"formula": row["Formula"], "variables": variables,
                                             "output": row["Output"]}
    return problems


UNIT_BASES = ("m", "s", "kg", "T", "V")  # the columns of units.csv


def load_units() -> dict[str, str]:
    """Variable name -> pint unit string, from units.csv's exponents."""
    units = {}
    with open(TABLES / "units.csv", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            powers = [f"{base}**{int(float(row[base]))}" for base in UNIT_BASES if float(row[base])]
            units[row["Variable"]] = "*".join(powers) or "dimensionless"
    return units


def problem_units(problem) -> tuple[list[str], str]:
    """Units of a problem's inputs, in order, and of its output; KeyError names a variable units.csv lacks."""
    units = load_units()
    return [units[name] for name, _, _ in problem["variables"]], units[problem["output"]]


def dev_ids() -> list[str]:
    lines = (TABLES / "dev.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def truth_of(problem):
    symbols = {name: sympy.Symbol(name, real=True) for name, _, _ in problem["variables"]}
    return parse(problem["formula"], symbols), [symbols[name] for name, _, _ in problem["variables"]]


def sample(problem, n, seed, noise):
    rng = np.random.default_rng(seed)
    truth, symbols = truth_of(problem)
    X = np.column_stack([rng.uniform(low, high, n) for _, low, high in problem["variables"]])
    y = np.asarray(sympy.lambdify(symbols, truth, "numpy")(*X.T), dtype=float) * np.ones(n)
    if noise:
        y = y + rng.normal(0, noise * np.sqrt(np.mean(y ** 2)), n)
    return X, y


def round_constants(expr):
    def one(value):
        return 0 if abs(value) < 1e-4 else sympy.Rational(f"{value:.3g}")
    return expr.xreplace({f: one(float(f)) for f in expr.atoms(sympy.Float)})


class _Timeout(Exception):
    pass


def on_domain(expr, variables):
    """``expr`` with each variable whose sampling range is non-negative as a positive symbol of its name."""
    positive = {name: sympy.Symbol(name, positive=True) for name, low, _ in variables if low >= 0}
    return expr.xreplace({s: positive[s.name] for s in expr.free_symbols if s.name in positive})


def is_exact(model, truth, seconds=30, variables=()) -> bool:
    """SRBench: truth - model simplifies to a constant, or model / truth does; ``variables`` (name, low,
    high) makes the check hold on their ranges (``on_domain``)."""
    def alarm(*_):
        raise _Timeout

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        model, truth = on_domain(round_constants(model), variables), on_domain(truth, variables)
        if not sympy.simplify(truth - model).free_symbols:
            return True
        ratio = sympy.simplify(model / truth)
        return not ratio.free_symbols and ratio != 0
    except _Timeout:
        return False
    finally:
        signal.alarm(0)


def fit_symdistill(X, y, names, budget, seed, noise, units=None, mode="none", free_constants=True, options=None,
                   selection=None):
    from symdistill.components.sr import SymbolicRegressor

    threshold = 1e-16 * float(np.var(y)) if noise == 0 else None
    chosen = {} if selection is None else {"model_selection": selection}  # None: the estimator's default
    est = SymbolicRegressor(unary_operators=UNARY, max_size=30, n_islands=8, n_iterations=10**6,
                            timeout_seconds=budget, loss_threshold=threshold, random_state=seed,
                            units_reject=mode == "reject", free_constants=free_constants, options=options, **chosen)
    if units is None:
        est.fit(X, y, feature_names=names)
    else:
        est.fit(X, y, feature_names=names, units=units[0], y_units=units[1])
    return est.predict, est.sympy()


def fit_gplearn(X, y, names, budget, seed, noise, **_):
    from gplearn.genetic import SymbolicRegressor

    est = SymbolicRegressor(population_size=1000, generations=1, warm_start=True, random_state=seed, n_jobs=1,
                            function_set=("add", "sub", "mul", "div", "sqrt", "log", "sin", "cos"),
                            parsimony_coefficient=0.001)
    start, generations = time.perf_counter(), 1
    while True:
        est.set_params(generations=generations)
        est.fit(X, y)
        generations += 1
        if time.perf_counter() - start >= budget or est.run_details_["best_fitness"][-1] < 1e-10:
            break
    symbols = {f"X{i}": sympy.Symbol(n, real=True) for i, n in enumerate(names)}
    return est.predict, parse(str(est._program), symbols)


def fit_operon(X, y, names, budget, seed, noise, **_):
    from pyoperon.sklearn import SymbolicRegressor

    est = SymbolicRegressor(allowed_symbols="add,sub,mul,div,exp,log,sin,cos,sqrt,square,constant,variable",
                            max_time=int(budget), n_threads=1, random_state=seed, optimizer_iterations=10,
                            generations=10**6, max_evaluations=10**9)
    est.fit(X, y)
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    safe = [f"v{i}" for i in range(len(names))]  # plain names: Feynman ones can clash with string syntax
    text = est.get_model_string(est.model_, 16, safe)
    return est.predict, parse(text, {s: symbols[n] for s, n in zip(safe, names)})


def _with_options(**options):
    """symdistill with engine options other than its defaults: an ablation of those defaults."""
    def fit(*args, **kwargs):
        return fit_symdistill(*args, **kwargs, options=options)
    return fit


# Ablations, each one default changed: to the value before it was chosen, or to PySR's default.
ABLATIONS = {"unscaled": {"scale_features": False}, "uniform-children": {"child_optimizer_tail": 0.0},
             **{f"dimensionless-{share:g}": {"dimensionless_share": share} for share in (0, 0.25, 0.75)},
             "cycles-380": {"cycles_per_iteration": 380}, "tournament-0.982": {"tournament_p": 0.982},
             "parsimony-scaling-1040": {"adaptive_parsimony_scaling": 1040.0}}


def _with_selection(rule):
    """symdistill returning the model chosen by another ``model_selection`` rule."""
    def fit(*args, **kwargs):
        return fit_symdistill(*args, **kwargs, selection=rule)
    return fit


SELECTIONS = {"selection-best": "best", "selection-description-length": "description_length"}
TOOLS = {"symdistill": fit_symdistill, "gplearn": fit_gplearn, "operon": fit_operon,
         **{f"symdistill-{name}": _with_options(**options) for name, options in ABLATIONS.items()},
         **{f"symdistill-{name}": _with_selection(rule) for name, rule in SELECTIONS.items()}}


def run_one(tool, problem_id, noise, budget, seed, units_mode="none", free_constants=True):
    problem = load_problems()[problem_id]
    truth, symbols = truth_of(problem)
    names = [s.name for s in symbols]
    X, y = sample(problem, 1000, seed, noise)
    X_test, y_test = sample(problem, 1000, seed + 1000, 0.0)
    key = run_key(tool, problem_id, noise, budget, seed, units_mode, free_constants)
    extra = {}
    if tool.startswith("symdistill") and units_mode != "none":
        extra = {"units": problem_units(problem), "mode": units_mode, "free_constants": free_constants}
    start = time.perf_counter()
    try:
        predict, model = TOOLS[tool](X, y, names, budget, seed, noise, **extra)
    except Exception as err:  # a peer failing on a problem is a result, not a crash
        return key | {"error": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - start,
                      "r2": None, "exact": False}
    seconds = time.perf_counter() - start
    with np.errstate(all="ignore"):
        pred = np.asarray(predict(X_test), dtype=float)
    r2 = 1 - np.sum((y_test - pred) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    r2 = float(r2) if np.isfinite(r2) else None
    exact = bool(r2 is not None and r2 > 0.5 and is_exact(model, truth, variables=problem["variables"]))
    return key | {"seconds": seconds, "r2": r2, "exact": exact, "model": str(model)[:300]}


def run_key(tool, problem_id, noise, budget, seed, units_mode, free_constants) -> dict:
    """What identifies a run in the results file; units apply to symdistill only."""
    units = units_mode if tool.startswith("symdistill") else "none"
    return {"tool": tool, "problem": problem_id, "noise": noise, "budget": budget, "seed": seed, "units": units,
            "free_constants": free_constants if units != "none" else True}


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rescore(path: Path) -> None:
    """Re-check every row's stored model with this file's rule (a model cut at 300 characters stays as it was)."""
    problems, rows = load_problems(), read_results(path)
    for row in rows:
        problem = problems[row["problem"]]
        truth, symbols = truth_of(problem)
        model = row.get("model", "")
        if row["r2"] is None or row["r2"] <= 0.5 or not model or len(model) >= 300:
            continue
        try:
            expr = parse(model, {s.name: s for s in symbols})
        except ValueError:
            continue
        row["exact"] = bool(is_exact(expr, truth, variables=problem["variables"]))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def summarize(results):
    """Per tool, units mode, noise and budget: exact recovery as the mean over seeds and its spread."""
    print("| tool | units | noise | budget s | seeds | exact recovery, mean (min-max over seeds) | "
          "R^2 > 0.999 | median s | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups = {}
    for row in results:
        units = row["units"] + ("" if row.get("free_constants", True) else ", dimensionless constants")
        groups.setdefault((row["tool"], units, row["noise"], row["budget"]), []).append(row)
    for (tool, units, noise, budget), rows in sorted(groups.items(), key=lambda item: str(item[0])):
        seeds = sorted({r["seed"] for r in rows})
        per_seed = [np.mean([r["exact"] for r in rows if r["seed"] == seed]) for seed in seeds]
        accurate = np.mean([r["r2"] is not None and r["r2"] > 0.999 for r in rows])
        print(f"| {tool} | {units} | {noise:g} | {budget:g} | {len(seeds)} | {np.mean(per_seed):.0%} "
              f"({min(per_seed):.0%}-{max(per_seed):.0%}) | {accurate:.0%} | "
              f"{np.median([r['seconds'] for r in rows]):.1f} | {len(rows)} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=35.0, help="seconds per problem and tool, one core")
    parser.add_argument("--tools", default="symdistill,gplearn,operon")
    parser.add_argument("--noise", default="0,0.01")
    parser.add_argument("--problems", default="dev", help="'dev' or comma-separated ids (dev ids only)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--units", default="none", choices=("none", "penalty", "reject"),
                        help="give symdistill the dimensions of units.csv, and how it uses them")
    parser.add_argument("--dimensionless-constants", action="store_true",
                        help="with --units: constants are dimensionless (default: free)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "feynman_dev.jsonl")
    parser.add_argument("--table", action="store_true", help="only print the summary of the results file")
    parser.add_argument("--rescore", action="store_true",
                        help="re-check the exactness of every row of --out with this checker, then summarize")
    args = parser.parse_args()
    if args.rescore:
        rescore(args.out)
    if args.table or args.rescore:
        summarize(read_results(args.out))
        return
    ids = dev_ids() if args.problems == "dev" else args.problems.split(",")
    unknown = set(ids) - set(dev_ids())
    if unknown:
        sys.exit(f"not dev problems: {sorted(unknown)} (tuning uses only dev.txt)")
    tools, noises = args.tools.split(","), [float(n) for n in args.noise.split(",")]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    free = not args.dimensionless_constants
    done = {json.dumps(run_key(r["tool"], r["problem"], r["noise"], r["budget"], r["seed"], r["units"],
                               r.get("free_constants", True)), sort_keys=True) for r in read_results(args.out)}
    jobs = [(t, p, n, s) for s in seeds for n in noises for p in ids for t in tools
            if json.dumps(run_key(t, p, n, args.budget, s, args.units, free), sort_keys=True) not in done]
    print(f"{len(jobs)} runs to do ({len(done)} in {args.out})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_one, t, p, n, args.budget, s, args.units, free) for t, p, n, s in jobs]
        for k, future in enumerate(as_completed(futures), 1):
            result = future.result()
            with args.out.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
            r2 = "-" if result["r2"] is None else f"{result['r2']:.6f}"
            print(f"[{k}/{len(jobs)}] {result['tool']:<10} {result['problem']:<10} noise={result['noise']:<5} "
                  f"seed={result['seed']} units={result['units']} R2={r2} exact={result['exact']} "
                  f"{result['seconds']:.0f}s {result.get('error', result.get('model', ''))[:80]}", flush=True)
    print(f"\nbudget {args.budget:g} s per run, one core each, {args.workers} runs at a time")
    summarize(read_results(args.out))


if __name__ == "__main__":
    main()

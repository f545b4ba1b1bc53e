"""Node-rows per second per core of the numba evaluator against a numpy-per-node reference, side by side.

Run: .venv/bin/python benchmarks/evaluate.py
"""
import time

import numba
import numpy as np

from symdistill.components.sr.evaluate import evaluate_population, evaluate_population_serial
from symdistill.components.sr.mutate import Grammar, random_program
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.program import make_program, pack
from symdistill.components.sr.reference import reference_evaluate


def timed(fn, min_seconds=0.5):
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def case(name, programs, X, rng, count_valid_only=False):
    """One row: our kernel on one core against the numpy-per-node reference, on the same programs and rows."""
    n_rows = X.shape[0]
    XT = np.ascontiguousarray(X.T)
    packed = pack(programs)
    numba.set_num_threads(1)
    kernel = evaluate_population_serial if len(programs) < 8 else evaluate_population
    _, ok = kernel(*packed, XT)
    ours = timed(lambda: kernel(*packed, XT))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    with np.errstate(all="ignore"):
        reference = timed(lambda: [reference_evaluate(p, X) for p in programs])
    # an invalid program stops at its first NaN/Inf: its node-rows are not all evaluated, so they are only
    # an upper bound; the all-valid rows count exactly what ran
    node_rows = sum(len(p) for p in programs) * n_rows
    bound = "" if ok.all() else " (at most)"
    print(f"| {name} | {len(programs)} | {n_rows} | {ok.mean():.2f} | {node_rows / ours:.3g}{bound} | "
          f"{node_rows / reference:.3g}{bound} | {reference / ours:.1f}x |")


def main():
    rng = np.random.default_rng(0)
    x1cos = make_program([VAR, VAR, CONST, CODE_OF["sub"], CODE_OF["cos"], CODE_OF["mul"]],
                         [0, 1, 0, 0, 0, 0], [0, 0, 3.2, 0, 0, 0])
    x1x2cos = make_program([VAR, VAR, CODE_OF["mul"], VAR, CODE_OF["cos"], CODE_OF["add"]],
                           [0, 1, 0, 2, 0, 0], [0.0] * 6)
    grammar = Grammar(binary=tuple(CODE_OF[n] for n in ("add", "sub", "mul", "div")),
                      unary=tuple(CODE_OF[n] for n in ("sin", "cos", "exp")), n_features=5)
    population = [random_program(grammar, int(rng.integers(10, 41)), rng) for _ in range(1000)]
    data = {n: rng.uniform(-2, 2, size=(n, 5)) for n in (100, 1000, 10000)}
    # the same kind of population, every program valid on every data size: node-rows counted exactly
    valid = []
    while len(valid) < 1000:
        program = random_program(grammar, int(rng.integers(10, 41)), rng)
        if all(evaluate_population_serial(*pack([program]), np.ascontiguousarray(X.T))[1][0] for X in data.values()):
            valid.append(program)
    print("one core (numba threads = 1); node-rows/s = nodes x rows / time; float64")
    print("| case | programs | rows | valid | symdistill (node-rows/s) | numpy per node | speed-up |")
    print("|---|---|---|---|---|---|---|")
    case("x1*cos(x2-3.2)", [x1cos], rng.uniform(-2, 2, size=(100, 2)), rng)
    case("x1*x2+cos(x3)", [x1x2cos], rng.uniform(-2, 2, size=(200, 3)), rng)
    for n_rows, X in data.items():
        case("random 10-40 nodes, sin/cos/exp", population, X, rng)
    for n_rows, X in data.items():
        case("the same, all valid", valid, X, rng)


if __name__ == "__main__":
    main()

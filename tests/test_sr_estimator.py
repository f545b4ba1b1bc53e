"""SymbolicRegressor: planted laws recovered and checked symbolically, determinism, errors, units."""
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
import sympy

from symdistill.components.sr import OptionsError, SymbolicRegressor
from symdistill.components.sr.units import UnitsError

FAST = dict(n_islands=4, population_size=30, n_iterations=40, loss_threshold=1e-20, random_state=0)


def rounded(expr, digits=3):
    """SRBench-style: constants that vanish (here below 1e-8) become 0, the rest keep 3 significant digits."""
    def round_one(value):
        return 0 if abs(value) < 1e-8 else sympy.Rational(f"{value:.{digits}g}")
    return expr.xreplace({f: round_one(float(f)) for f in expr.atoms(sympy.Float)})


def assert_equivalent(found, truth):
    assert sympy.simplify(rounded(found) - truth) == 0, f"found {found}, expected {truth}"


def test_recovers_a_product_with_cosine():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    y = 2.5 * X[:, 0] ** 2 * np.cos(X[:, 1])
    est = SymbolicRegressor(unary_operators=("cos",), **FAST).fit(X, y)
    x0, x1 = sympy.symbols("x0 x1", real=True)
    assert_equivalent(est.sympy(), sympy.Rational(5, 2) * x0 ** 2 * sympy.cos(x1))
    assert est.score(X, y) > 1 - 1e-12


def test_recovers_a_rational_function_with_named_features():
    rng = np.random.default_rng(1)
    X = rng.uniform(-3, 3, size=(300, 2))
    y = X[:, 0] / (1 + X[:, 1] ** 2)
    est = SymbolicRegressor(**FAST).fit(X, y, feature_names=["q", "r"])
    q, r = sympy.symbols("q r", real=True)
    assert_equivalent(est.sympy(), q / (1 + r ** 2))
    assert list(est.pareto_front_.columns) == ["complexity", "loss", "score", "expression", "snapped", "origin", "units",
                                               "description_length", "noise_model"]
    assert set(est.pareto_front_["origin"]) == {"search"}  # only cross-validation adds a pruned row
    assert "q" in est.latex()


def test_same_seed_same_front_whatever_the_executor():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(100, 2))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 0])
    params = dict(unary_operators=("sin",), n_islands=3, population_size=20, n_iterations=4, random_state=7)
    fronts = []
    for executor in (None, ThreadPoolExecutor(2), ProcessPoolExecutor(2)):
        est = SymbolicRegressor(**params).fit(X, y, executor=executor)
        fronts.append(est.pareto_front_[["complexity", "loss", "expression"]].to_dict("list"))
        if executor is not None:
            executor.shutdown()
    assert fronts[0] == fronts[1] == fronts[2]
    other = SymbolicRegressor(**{**params, "random_state": 8}).fit(X, y)
    assert other.pareto_front_[["complexity", "loss", "expression"]].to_dict("list") != fronts[0]


def test_model_selection_rules():
    rng = np.random.default_rng(3)
    X = rng.uniform(1, 3, size=(200, 1))
    y = 2.0 * X[:, 0] + 0.05 * X[:, 0] ** 3
    params = dict(n_islands=2, population_size=20, n_iterations=10, random_state=0)
    accurate = SymbolicRegressor(model_selection="accuracy", **params).fit(X, y)
    assert accurate.best_index_ == int(np.argmin(accurate.pareto_front_["loss"]))
    best = SymbolicRegressor(model_selection="best", **params).fit(X, y)
    front = best.pareto_front_
    assert front["loss"][best.best_index_] <= 1.5 * front["loss"].min()
    Xv = rng.uniform(1, 3, size=(50, 1))
    validated = SymbolicRegressor(model_selection="validation", **params).fit(X, y, X_val=Xv, y_val=2.0 * Xv[:, 0] + 0.05 * Xv[:, 0] ** 3)
    assert 0 <= validated.best_index_ < len(validated.pareto_front_)


def test_units_pick_the_dimensionally_correct_law():
    rng = np.random.default_rng(4)
    n = 300
    mass = rng.uniform(1, 3, n)
    acc = rng.uniform(1, 3, n)
    noise = 0.05 * rng.normal(size=n)
    force = mass * acc + noise
    speed = acc + 0.95 * noise / mass  # a velocity that happens to track the noise: m*v fits slightly better
    X = np.column_stack([mass, acc, speed])
    params = dict(binary_operators=("add", "mul"), n_islands=3, population_size=30, n_iterations=15,
                  model_selection="accuracy", max_size=3, random_state=0)
    m, a, v = sympy.symbols("m a v", real=True)
    plain = SymbolicRegressor(**params).fit(X, force, feature_names=["m", "a", "v"])
    assert plain.sympy().free_symbols == {m, v}
    physical = SymbolicRegressor(**params).fit(X, force, feature_names=["m", "a", "v"],
                                               units=["kg", "m/s**2", "m/s"], y_units="N")
    assert physical.sympy().free_symbols == {m, a}
    assert "length^1 mass^1 time^-2" in physical.pareto_front_["units"].iloc[-1]


def test_mini_batches_handle_100k_rows_in_bounded_memory():
    import tracemalloc

    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(100_000, 2))
    y = 3.0 * X[:, 0] - X[:, 1]
    tracemalloc.start()
    est = SymbolicRegressor(n_islands=2, population_size=20, n_iterations=5, batch_size=256,
                            random_state=0).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert est.score(X, y) > 0.999
    assert peak < 40e6  # the data is 1.6 MB; predictions for the population on all rows would be ~16x that


@pytest.mark.parametrize("X, y, message", [
    (np.ones((5, 2)), np.ones(4), "X has 5 rows but y has 4"),
    (np.ones((0, 2)), np.ones(0), "X has no rows"),
    (np.ones(5), np.ones(5), "X must be 2-D"),
    (np.array([[1.0, np.nan], [1.0, 2.0]]), np.ones(2), "X has 1 NaN/Inf value\\(s\\); first at row 0, column 1"),
    (np.ones((2, 2)), np.array([1.0, np.inf]), "y has 1 NaN/Inf value\\(s\\); first at index 1"),
])
def test_bad_data(X, y, message):
    with pytest.raises(ValueError, match=message):
        SymbolicRegressor(n_iterations=1).fit(X, y)


def test_bad_options():
    X, y = np.ones((10, 1)), np.ones(10)
    with pytest.raises(ValueError, match="unknown operator 'sinh'; valid operators: add, sub"):
        SymbolicRegressor(unary_operators=("sinh",)).fit(X, y)
    with pytest.raises(OptionsError, match="'sin' is unary; list it in unary_operators"):
        SymbolicRegressor(binary_operators=("sin",)).fit(X, y)
    with pytest.raises(OptionsError, match="unknown loss 'l3'"):
        SymbolicRegressor(loss="l3").fit(X, y)
    with pytest.raises(OptionsError, match="unknown option\\(s\\) \\['colour'\\]"):
        SymbolicRegressor(options={"colour": 1}).fit(X, y)
    with pytest.raises(OptionsError, match="n_islands must be a positive integer"):
        SymbolicRegressor(n_islands=0).fit(X, y)
    with pytest.raises(UnitsError, match="unknown unit 'parsec2'"):
        SymbolicRegressor(n_iterations=1).fit(X, y, units=["parsec2"], y_units="m")
    with pytest.raises(ValueError, match="give both units"):
        SymbolicRegressor(n_iterations=1).fit(X, y, units=["m"])
    with pytest.raises(RuntimeError, match="not fitted yet"):
        SymbolicRegressor().predict(X)


def test_sklearn_conventions():
    est = SymbolicRegressor(max_size=12, options={"constraints": {"pow": [-1, 1]}})
    params = est.get_params()
    assert params["max_size"] == 12 and params["options"] == {"constraints": {"pow": [-1, 1]}}
    clone = SymbolicRegressor(**params)
    assert clone.get_params() == params
    assert clone.set_params(max_size=5).max_size == 5
    with pytest.raises(ValueError, match="invalid parameter 'size'"):
        est.set_params(size=3)
    assert repr(est) == "SymbolicRegressor(max_size=12, options={'constraints': {'pow': [-1, 1]}})"
    assert not hasattr(est, "program_")


def test_save_and_resume_continue_exactly():
    import json

    rng = np.random.default_rng(6)
    X = rng.uniform(-2, 2, size=(120, 2))
    y = X[:, 0] ** 2 - 0.5 * X[:, 1]
    params = dict(n_islands=2, population_size=20, random_state=3)
    whole = SymbolicRegressor(n_iterations=6, **params).fit(X, y)
    first = SymbolicRegressor(n_iterations=3, **params).fit(X, y)
    saved = json.loads(json.dumps(first.checkpoint_, allow_nan=False))  # plain JSON, no pickle
    resumed = SymbolicRegressor(n_iterations=6, **params).fit(X, y, resume_from=saved)
    columns = ["complexity", "loss", "expression"]
    assert resumed.pareto_front_[columns].to_dict("list") == whole.pareto_front_[columns].to_dict("list")
    assert resumed.history_["n_rounds"] == 6
    broken = json.loads(json.dumps(saved))
    broken["islands"][0]["nodes"][0] = "system"
    with pytest.raises(ValueError, match="unknown operator 'system'"):
        SymbolicRegressor(n_iterations=6, **params).fit(X, y, resume_from=broken)
    with pytest.raises(ValueError, match="not a search checkpoint"):
        SymbolicRegressor(n_iterations=6, **params).fit(X, y, resume_from={"format": "pickle"})


def test_initial_guess_is_used():
    rng = np.random.default_rng(7)
    X = rng.uniform(0.5, 2, size=(200, 2))
    y = 1.7 * np.exp(-X[:, 0] * X[:, 1]) + 0.3
    a, b = sympy.symbols("a b", real=True)
    est = SymbolicRegressor(unary_operators=("exp",), n_islands=2, population_size=20, n_iterations=1,
                            random_state=0).fit(X, y, feature_names=["a", "b"],
                                                initial_guesses=[sympy.Float(1.0) * sympy.exp(-a * b) + sympy.Float(0.1)])
    assert est.score(X, y) > 1 - 1e-10  # one round is far too short to find this without the guess
    assert_equivalent(est.sympy(), sympy.Rational(17, 10) * sympy.exp(-a * b) + sympy.Rational(3, 10))


def test_operand_size_and_nesting_constraints_hold_on_the_front():
    from symdistill.components.sr.constraints import Constraints
    from symdistill.components.sr.export import from_sympy
    from symdistill.components.sr.options import SearchOptions

    options = SearchOptions(binary_operators=("add", "mul", "pow"), unary_operators=("sin",),
                            constraints={"pow": [-1, 1]}, nested_constraints={"sin": {"sin": 0}})
    check = Constraints(options.validate())
    x, z = sympy.symbols("x z", real=True)
    assert check.allows(from_sympy(sympy.Pow(x + z, z, evaluate=False), ["x", "z"]))
    assert not check.allows(from_sympy(sympy.Pow(x, x + z, evaluate=False), ["x", "z"]))
    assert check.allows(from_sympy(sympy.sin(x) * sympy.sin(z), ["x", "z"]))
    assert not check.allows(from_sympy(sympy.sin(sympy.sin(x)), ["x", "z"]))

    rng = np.random.default_rng(8)
    X = rng.uniform(0.5, 2, size=(150, 2))
    y = np.sin(np.sin(X[:, 0])) + X[:, 0] ** (X[:, 1] + 1)
    est = SymbolicRegressor(binary_operators=("add", "mul", "pow"), unary_operators=("sin",), n_islands=2,
                            population_size=20, n_iterations=5, random_state=0,
                            options={"constraints": {"pow": [-1, 1]}, "nested_constraints": {"sin": {"sin": 0}}})
    est.fit(X, y)
    for program in est.programs_:
        assert check.allows(program), program.to_dict()

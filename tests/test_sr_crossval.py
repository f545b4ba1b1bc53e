"""Cross-validated selection: out-of-fold errors and the one-standard-error rule."""
import numpy as np
import pytest
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.crossval import (out_of_fold_errors, prune_by_cross_validation,
                                               simplest_within_one_standard_error)
from symdistill.components.sr.export import from_sympy, to_sympy
from symdistill.components.sr.options import OptionsError

x = sympy.Symbol("x", real=True)


def noisy_square_table(rows=20, noise=0.03, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 3, size=(rows, 1))
    return X, 2.5 * X[:, 0] ** 2 * (1 + noise * rng.normal(size=rows))


def test_the_law_is_chosen_over_a_simpler_bias_and_a_longer_fit_to_the_noise():
    X, y = noisy_square_table()
    candidates = [1.0 * x, 1.0 * x ** 2, 1.0 * x ** 2 + 0.1 * x ** 5 + 0.1 * sympy.sin(7.0 * x) + 0.1 * x]
    programs = [from_sympy(expr, ["x"]) for expr in candidates]
    errors = out_of_fold_errors(programs, np.ascontiguousarray(X.T), y, np.ones_like(y))
    assert errors.shape == (3, len(y)) and np.isfinite(errors).all()
    assert simplest_within_one_standard_error(errors, [3, 3 + 2, 3 + 12]) == 1


def test_out_of_fold_errors_refit_without_the_held_rows():
    """A row far off the law is fitted when it is in training, not when it is held out: its own
    out-of-fold error is the full size of its offset."""
    X = np.linspace(1, 2, 10)[:, None]
    y = 3.0 * X[:, 0]
    y[4] += 5.0
    errors = out_of_fold_errors([from_sympy(1.0 * x, ["x"])], np.ascontiguousarray(X.T), y, np.ones_like(y),
                                n_folds=10)
    assert errors[0, 4] > 16.0  # the held-out fit (slope near 3) misses the row by about 5
    assert np.median(errors[0]) < 1.0


def test_one_standard_error_rule_on_paired_errors():
    rng = np.random.default_rng(1)
    hard = np.where(np.arange(100) == 3, 50.0, 1.0) * rng.uniform(0.5, 1.5, 100)
    best = hard * 0.01
    tie = best + rng.normal(0, 1e-5, 100)  # within noise of the best
    worse = best + 0.002  # worse on every row
    broken = np.full(100, np.inf)
    assert simplest_within_one_standard_error(np.array([broken, worse, tie, best]), [1, 2, 3, 9]) == 2


def test_the_estimator_returns_the_cross_validated_choice_and_refuses_unknown_rules():
    X, y = noisy_square_table(rows=30, seed=2)
    est = SymbolicRegressor(n_iterations=8, model_selection="cross_validation", random_state=0).fit(X, y)
    expression = est.sympy(snapped=False)
    fitted = sympy.lambdify(sympy.Symbol("x0", real=True), expression)(X[:, 0])
    assert np.sqrt(np.mean((fitted - 2.5 * X[:, 0] ** 2) ** 2)) < 0.05 * np.sqrt(np.mean(y ** 2))
    assert sympy.degree(sympy.expand(expression), sympy.Symbol("x0", real=True)) == 2, expression
    with pytest.raises(OptionsError, match="cross_validation"):
        SymbolicRegressor(model_selection="bic").fit(X, y)


def test_a_negligible_term_and_a_bent_argument_are_pruned_away():
    """De Broglie on a small noisy table: the front's h/(m (v + 1.7e-27/m)) and sin(c/m)/v are the law
    with a piece the data cannot support; pruning by out-of-fold evidence returns h'/(m v)."""
    rng = np.random.default_rng(3)
    m, v = rng.uniform(1, 3, 30), rng.uniform(1, 3, 30)
    y = 6.6 / (m * v) * (1 + 0.02 * rng.normal(size=30))
    XT = np.ascontiguousarray(np.stack([m, v]))
    msym, vsym = sympy.symbols("m v", real=True)
    for noisy in (6.6 / (msym * (vsym + 0.001 / msym)), 0.01 * sympy.sin(660.0 / msym) / vsym):
        pruned, sizes = prune_by_cross_validation(from_sympy(noisy, ["m", "v"]), XT, y, np.ones_like(y))
        fitted, _ = fit_constants(pruned, XT, y)
        law = to_sympy(fitted, ["m", "v"])
        assert len(sizes) > 1 and sympy.simplify(law * msym * vsym).is_number, law


def test_a_term_the_data_needs_is_kept():
    X, y = noisy_square_table(rows=40, noise=0.01)
    program = from_sympy(2.5 * x ** 2 + 3.0 * x, ["x"])
    y = y + 3.0 * X[:, 0]
    pruned, sizes = prune_by_cross_validation(program, np.ascontiguousarray(X.T), y, np.ones_like(y))
    assert sizes == [len(program)] and len(pruned) == len(program)


def test_the_estimator_appends_the_pruned_law_to_its_front():
    rng = np.random.default_rng(4)
    X = rng.uniform(1, 3, size=(30, 2))
    y = 6.6 / (X[:, 0] * X[:, 1]) * (1 + 0.02 * rng.normal(size=30))
    est = SymbolicRegressor(n_iterations=6, model_selection="cross_validation", random_state=0).fit(X, y)
    front = est.pareto_front_
    assert set(front["origin"][:-1]) == {"search"} or set(front["origin"]) == {"search"}
    assert est.best_index_ < len(front) and np.isfinite(front["score"]).all()
    if front["origin"].iloc[-1] != "search":
        assert est.best_index_ == len(front) - 1
        assert front["complexity"].iloc[-1] < int(front["origin"].iloc[-1].split()[-1])

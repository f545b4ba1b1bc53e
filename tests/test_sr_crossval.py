"""Cross-validated selection: out-of-fold errors and the one-standard-error rule."""
import numpy as np
import pytest
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.crossval import out_of_fold_errors, simplest_within_one_standard_error
from symdistill.components.sr.export import from_sympy
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

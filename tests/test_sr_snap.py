"""Constant snapping: simple candidates, data-decided acceptance, exact printing of engine programs."""
import numpy as np
import pytest
import sympy

from symdistill.components.sr import Program, SymbolicRegressor
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.reference import reference_evaluate
from symdistill.components.sr.snap import (description_length, fold_constant_subtrees, simple_candidates,
                                           snap_constants, snap_expression, snap_program)

x = sympy.Symbol("x", real=True)
GRID = np.linspace(-3.0, 3.0, 200)


def test_candidates_hold_the_simple_numbers_simplest_first():
    assert 3 * sympy.pi / 2 in simple_candidates(4.71238898)
    assert sympy.Rational(99, 50) in simple_candidates(1.98000000004)
    assert simple_candidates(8.8e-10) == [0]
    assert simple_candidates(3.14159)[:3] == [0, 3, sympy.pi]
    assert simple_candidates(-0.5)[:2] == [0, sympy.Rational(-1, 2)]
    assert simple_candidates(float("nan")) == []
    assert [description_length(n) for n in (sympy.Integer(2), sympy.Rational(1, 2), sympy.Integer(100),
                                             sympy.pi, 3 * sympy.pi / 2, sympy.Rational(99, 50))] == [1, 2, 2, 2, 3, 4]
    assert all(abs(float(c) - 4.71238898) <= 0.05 * 4.71238898 for c in simple_candidates(4.71238898)[1:])


def squared_error_of_slope(y):
    return lambda c: float(np.mean((c[0] * GRID - y) ** 2))


def test_a_constant_snaps_only_as_far_as_the_data_allow():
    exact = squared_error_of_slope(1.98 * GRID)
    values, symbolic = snap_constants(np.array([1.98000000004]), exact, tolerance=1e-12)
    assert symbolic == [sympy.Rational(99, 50)] and values[0] == 1.98  # not 2: that costs 4e-4 * mean(x^2)

    measured = squared_error_of_slope(1.9812345 * GRID)
    values, symbolic = snap_constants(np.array([1.9812345]), measured, tolerance=1e-12)
    assert symbolic == [None] and values[0] == 1.9812345

    noisy = squared_error_of_slope(1.98 * GRID)  # a caller whose noise cannot tell 1.98 from 2
    _, symbolic = snap_constants(np.array([1.98]), noisy, tolerance=0.01)
    assert symbolic == [2]


def test_a_non_finite_candidate_is_rejected():
    y = 2.0 * GRID

    def loss(c):  # x / c * c: exact for every c but 0, where it is NaN
        with np.errstate(all="ignore"):
            return float(np.mean((GRID / c[0] * c[0] * c[1] - y) ** 2))
    values, symbolic = snap_constants(np.array([5e-10, 2.0000000001]), loss, tolerance=0.0)
    assert symbolic[0] is None and values[0] == 5e-10 and np.isfinite(values).all()
    assert symbolic[1] == 2


def test_snapping_happens_in_reading_order_against_the_original_loss():
    a, b = 1.5043, 0.5043  # what the data say
    loss = lambda c: float(np.mean((c[0] * GRID + c[1] - (a * GRID + b)) ** 2))  # noqa: E731
    cost_a = loss(np.array([1.5, b]))  # each snap's rise over the exact fit (loss 0)
    cost_b = loss(np.array([a, 0.5]))
    slack = cost_a + 0.5 * cost_b  # room for a -> 3/2 or b -> 1/2, not both
    _, symbolic = snap_constants(np.array([a, b]), loss, tolerance=slack)
    # a, first, takes 3/2; b may then only take a reading within what is left: 0.504, not 1/2.
    assert symbolic == [sympy.Rational(3, 2), sympy.Rational(63, 125)]
    _, reversed_order = snap_constants(np.array([b, a]), lambda c: loss(c[::-1]), tolerance=slack)
    assert reversed_order[0] == sympy.Rational(1, 2) and reversed_order[1] != sympy.Rational(3, 2)


def test_a_fitted_shifted_cosine_prints_as_sine():
    X = GRID[:, None]
    start = from_sympy(-sympy.cos(x - sympy.Float(4.6)), ["x"])
    y = np.sin(GRID) + 1e-9 * np.random.default_rng(0).normal(size=GRID.size)  # a measurement's last digits
    fitted, loss = fit_constants(start, X.T, y)
    assert loss < 1e-17 and -3 * np.pi / 2 not in fitted.constants.tolist()  # close, not the exact double
    snapped, expr = snap_program(fitted, X, y, feature_names=["x"])
    assert expr == sympy.sin(x)
    assert -3 * np.pi / 2 in snapped.constants.tolist()


def test_a_negligible_term_vanishes_and_a_needed_one_stays():
    X = GRID[:, None]
    y = 2.0 * GRID ** 2 + 0.3 * GRID
    program = from_sympy(sympy.Float(2.0000000001) * x ** 2 + sympy.Float(8.8e-10) * x ** 3 + sympy.Float(0.3) * x,
                         ["x"])
    snapped, expr = snap_program(program, X, y, feature_names=["x"])
    assert expr == 2 * x ** 2 + sympy.Rational(3, 10) * x
    assert 0.0 in snapped.constants.tolist()
    needed = from_sympy(sympy.Float(2.0) * x ** 2 + sympy.Float(1e-3) * x ** 3 + sympy.Float(0.3) * x, ["x"])
    _, kept = snap_program(needed, X, y + 1e-3 * GRID ** 3, feature_names=["x"])
    assert kept == 2 * x ** 2 + x ** 3 / 1000 + sympy.Rational(3, 10) * x


def test_cancelling_constants_fold_and_vanish():
    # A search's best program: cos(315.7)·(0.72 + (-1.50 - -0.78)) - cos(π/2 + x), the product ~1e-17.
    found = Program.from_dict({"postfix": [
        ["const", 315.7295152922302], ["cos"], ["const", 0.7225291476740991], ["const", -1.5032937729530997],
        ["const", -0.7807646252790238], ["sub"], ["add"], ["mul"], ["const", 1.5707963267948966], ["var", 0],
        ["add"], ["cos"], ["sub"]]})
    folded = fold_constant_subtrees(found)
    assert len(folded) == 6 and abs(folded.constants[0]) < 1e-16  # c - cos(c + x)
    X = GRID[:, None]
    np.testing.assert_array_equal(reference_evaluate(folded, X)[0], reference_evaluate(found, X)[0])
    _, expr = snap_program(found, X, np.sin(GRID), feature_names=["x"])
    assert expr == sympy.sin(x)


def test_snap_expression_restores_only_snapped_doubles():
    expr = -sympy.cos(x - sympy.Float(float(3 * sympy.pi / 2))) + sympy.Float(0.0) * x + sympy.Float(1.2345678) * x
    assert snap_expression(expr) == sympy.sin(x) + sympy.Float(1.2345678) * x


def test_estimator_prints_the_snapped_law_and_keeps_the_fitted_one():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.sin(X[:, 0])
    est = SymbolicRegressor(binary_operators=("add", "sub", "mul"), unary_operators=("cos",), n_islands=2,
                            population_size=20, n_iterations=3, random_state=0)
    est.fit(X, y, feature_names=["x"], initial_guesses=[-sympy.cos(x - sympy.Float(4.6))])
    assert est.score(X, y) > 1 - 1e-12
    assert est.sympy() == sympy.sin(x)
    assert est.sympy(snapped=False).atoms(sympy.Float)  # as fitted: cos with a float phase
    best = est.pareto_front_.iloc[est.best_index_]
    assert best["snapped"] == "sin(x)" and best["expression"] != "sin(x)"


def test_tolerance_must_be_a_slack():
    with pytest.raises(ValueError, match="non-negative"):
        snap_constants(np.array([1.0]), lambda c: 0.0, tolerance=-1.0)

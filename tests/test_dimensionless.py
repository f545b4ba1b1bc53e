"""Buckingham-Π reduction: the groups and monomial found, lifting back to the features, and the estimator's use."""
from fractions import Fraction

import numpy as np
import pytest
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.dimensionless import find_reduction, lift
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.options import OptionsError
from symdistill.components.sr.reference import reference_evaluate
from symdistill.components.sr.units import dimension_of


def _dims(*units):
    return [dimension_of(u) for u in units]


def test_relativistic_momentum_reduces_to_one_small_group():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(1, 5, 50), rng.uniform(1, 2, 50), rng.uniform(3, 10, 50)])  # m, v, c
    reduction = find_reduction(_dims("kg", "m/s", "m/s"), dimension_of("kg*m/s"), X)
    assert reduction.monomial == (1, 1, 0)
    assert reduction.groups == ((0, 1, -1),)  # v/c, the orientation below 1 on these data, not c/v
    assert reduction.describe(["m", "v", "c"]) == ("m·v", ["v·c^-1"])


def test_dimensionless_features_stay_as_given_and_half_powers_are_allowed():
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 3, (40, 3))  # E, m, theta
    reduction = find_reduction(_dims("J", "kg", "dimensionless"), dimension_of("m/s"), X)
    assert reduction.monomial == (Fraction(1, 2), Fraction(-1, 2), 0)  # sqrt(E / m)
    assert reduction.groups == ((0, 0, 1),)
    assert reduction.describe(["E", "m", "theta"]) == ("E^(1/2)·m^(-1/2)", ["theta"])


def test_no_reduction_when_the_law_needs_a_dimensional_constant_or_nothing_is_gained():
    X = np.random.default_rng(2).uniform(1, 2, (20, 2))
    assert find_reduction(_dims("kg", "m"), dimension_of("s"), X) is None  # seconds from kg and m: a constant's
    assert find_reduction(_dims("dimensionless", "dimensionless"), dimension_of("dimensionless"), X) is None


def test_no_reduction_when_the_monomial_is_not_finite_on_the_data():
    X = np.array([[1.0, 2.0], [0.0, 3.0], [2.0, 1.0]])  # a zero mass under M = 1/m
    assert find_reduction(_dims("kg", "m"), dimension_of("1/kg"), X) is None


def test_lift_evaluates_as_the_monomial_times_the_function_of_the_groups():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.uniform(1, 5, 30), rng.uniform(1, 2, 30), rng.uniform(3, 10, 30),
                         rng.uniform(0.5, 2, 30)])  # m, v, c, E (J)
    reduction = find_reduction(_dims("kg", "m/s", "m/s", "J"), dimension_of("kg**2*m**3/s**3"), X)
    M, groups = reduction.evaluate(X)
    pi = sympy.symbols("pi0:%d" % groups.shape[1], real=True)
    f = 0.7 / sympy.sqrt(1 - pi[0] ** 2) + sympy.sin(sum(pi))
    program = from_sympy(f, [p.name for p in pi])
    lifted, _ = reference_evaluate(lift(program, reduction), X)
    expected = M * reference_evaluate(program, groups)[0]
    np.testing.assert_allclose(lifted, expected, rtol=1e-12)


def test_units_search_recovers_a_law_through_its_dimensionless_group():
    rng = np.random.default_rng(4)
    n0, mu, B, T = (rng.uniform(1, 3, 300) for _ in range(4))
    X = np.column_stack([n0, mu, B, T])
    y = n0 / (np.exp(mu * B / T) + np.exp(-mu * B / T))
    units = ["1/m**3", "J/tesla", "tesla", "J"]  # T here is an energy, k_B T
    est = SymbolicRegressor(unary_operators=("exp",), n_iterations=20, random_state=0)
    est.fit(X, y, feature_names=["n0", "mu", "B", "T"], units=units, y_units="1/m**3")
    assert est.dimensionless_["monomial"] == "n0"
    n0s, mus, Bs, Ts = sympy.symbols("n0 mu B T", real=True)
    truth = n0s / (sympy.exp(mus * Bs / Ts) + sympy.exp(-mus * Bs / Ts))
    assert sympy.simplify(est.sympy() - truth) == 0
    assert "dimensionless search" in set(est.pareto_front_["origin"])


def test_dimensionless_share_is_validated():
    with pytest.raises(OptionsError, match="dimensionless_share"):
        SymbolicRegressor(options={"dimensionless_share": 1.0}).fit(np.ones((5, 1)), np.ones(5))

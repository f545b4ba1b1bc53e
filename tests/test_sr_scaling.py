"""Searching on features of unit scale: the mapping back is the same function, and it finds what needs it."""
import numpy as np
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.export import from_sympy, to_sympy
from symdistill.components.sr.mutate import Grammar, random_program
from symdistill.components.sr.operators import CODE_OF
from symdistill.components.sr.program import complexity
from symdistill.components.sr.reference import reference_evaluate
from symdistill.components.sr.scaling import feature_scales, rescale_variables


def test_only_features_far_from_unit_scale_are_scaled_by_a_power_of_two_near_their_median():
    rng = np.random.default_rng(0)
    small = rng.uniform(0.05, 0.1, 1000)
    si_mass = rng.uniform(1e-31, 3e-31, 1000)
    near_one = rng.uniform(5.0, 6.0, 1000)
    large = rng.uniform(40.0, 50.0, 1000)
    heavy_tail = rng.standard_cauchy(1000)  # median |x| ~ 1, RMS huge: a gravitational dx
    tiny_median = np.where(rng.random(1000) < 0.05, 3.0, 1e-3)  # median 1e-3, RMS 0.7: summed 1/r^2 messages
    X = np.column_stack([small, si_mass, near_one, large, heavy_tail, tiny_median, np.zeros(1000)])
    scales = feature_scales(X)
    assert np.all(np.log2(scales) == np.round(np.log2(scales)))
    np.testing.assert_array_equal(scales[[2, 4, 5, 6]], 1.0)  # near unit scale, or not by both measures, or zero
    median = np.median(np.abs(X[:, :4]), axis=0)
    assert np.all(np.abs(np.log2(scales[[0, 1, 3]] / median[[0, 1, 3]])) <= 0.5)


def test_a_rescaled_program_is_the_same_function_on_random_programs():
    rng = np.random.default_rng(1)
    grammar = Grammar(tuple(CODE_OF[n] for n in ("add", "sub", "mul", "div", "pow")),
                      tuple(CODE_OF[n] for n in ("neg", "inv", "sqrt", "square", "cube", "abs")), 3)
    X = rng.uniform(0.5, 2.0, (50, 3))
    factors = np.array([0.25, 8.0, 1.0])
    compared = 0
    for _ in range(1500):
        program = random_program(grammar, int(rng.integers(1, 25)), rng)
        expected, ok = reference_evaluate(program, X * factors)
        if not ok:
            continue
        got, ok = reference_evaluate(rescale_variables(program, factors), X)
        assert ok
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(expected).max()))
        compared += 1
    assert compared > 500


def test_a_factor_that_overflows_through_a_tiny_exponent_is_written_as_a_product_instead():
    """(x + c)^1e-5 + y with x scaled by 4 and y by 1/2: the sum's factors differ, and taking the ratio into
    the power's base needs 2^(1e5), beyond float64 (the pow second search crashed a run on it); the program
    becomes x -> (x * 4), y -> (y * 0.5), the same function."""
    X = np.random.default_rng(3).uniform(0.5, 2.0, (40, 2))
    program = from_sympy(sympy.Pow(sympy.Symbol("x") + sympy.Float(1.7), sympy.Float(1e-5)) + sympy.Symbol("y"),
                         ["x", "y"])
    factors = np.array([4.0, 0.5])
    rescaled = rescale_variables(program, factors)
    expected, ok = reference_evaluate(program, X * factors)
    got, ok_rescaled = reference_evaluate(rescaled, X)
    assert ok and ok_rescaled and np.isfinite(rescaled.values).all()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_the_scale_goes_into_constants_so_a_law_keeps_its_complexity():
    dx, r, m = sympy.symbols("dx r m")
    names = ["dx", "r", "m"]
    spring = dx * (1.98 - 2.0 * r) / (m * r)
    program = from_sympy(spring, names)
    rescaled = rescale_variables(program, [0.5, 4.0, 2.0])
    assert complexity(rescaled) == complexity(program)
    values = np.array([[0.3, 1.7, 2.5], [-1.1, 0.4, 0.7]])
    expected, _ = reference_evaluate(program, values * [0.5, 4.0, 2.0])
    np.testing.assert_allclose(reference_evaluate(rescaled, values)[0], expected, rtol=1e-14)
    # no constant can take x's scale in exp(x): the factor is written out, once
    x = sympy.Symbol("x")
    rescaled = rescale_variables(from_sympy(sympy.exp(x), ["x"]), [0.25])
    assert str(to_sympy(rescaled, ["x"])) == "exp(0.25*x)"


def _rounded(expr):
    """Constants to 3 significant digits, powers of products split: (15.5 r)^20.3 -> 1.46e24 r^20.3."""
    expr = sympy.expand(sympy.expand_power_base(sympy.expand(expr), force=True))
    return expr.xreplace({n: sympy.Float(float(f"{float(n):.3g}")) for n in expr.atoms(sympy.Float)})


def test_search_finds_a_steep_power_cutoff_of_a_small_feature():
    # the paper's halo pair term: r spans 0..0.08, so C6 r is O(1) only with C6 near 15
    rng = np.random.default_rng(0)
    r = 1.25 / 15.5 * rng.uniform(0, 1, 1000) ** (1 / 3)
    M = rng.lognormal(0, 1, 1000)
    y = (0.438 + M) / (7.06 + (15.5 * r) ** 20.3)
    model = SymbolicRegressor(binary_operators=("add", "sub", "mul", "div", "pow"), unary_operators=("exp",),
                              max_size=15, n_iterations=30, loss_threshold=1e-20, random_state=0)
    model.fit(np.c_[r, M], y, feature_names=["r", "M"])
    assert model.feature_scales_[0] == 2.0 ** -4  # the search saw r * 16
    found = model.sympy(snapped=False)
    R, Mass = sorted(found.free_symbols, key=lambda s: s.name == "M")  # the exporter's symbols
    numerator, denominator = sympy.fraction(sympy.together(found))
    lead = sympy.expand(numerator).coeff(Mass)
    assert sympy.expand(_rounded(numerator / lead) - _rounded(Mass + 0.438)) == 0
    assert sympy.expand(_rounded(denominator / lead) - _rounded(7.06 + (15.5 * R) ** 20.3)) == 0

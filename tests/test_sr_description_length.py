"""Selection by the shortest two-part description of the data."""
import numpy as np
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.description import (constant_cost, description_lengths,
                                                   select_by_description_length)
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.island import losses_of
from symdistill.components.sr.options import SearchOptions

x = sympy.Symbol("x", real=True)


def front(noise, rows=30, seed=0):
    """A bias (c x), the law (c x^2) and the law plus a polynomial fitted to this table's noise, their
    constants fitted; returns (programs, losses, XT, y)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 3, size=(rows, 1))
    y = 2.5 * X[:, 0] ** 2 * (1 + noise * rng.normal(size=rows))
    XT = np.ascontiguousarray(X.T)
    coefficients = np.polyfit(X[:, 0], y - 2.5 * X[:, 0] ** 2, 4)
    overfit = 2.5 * x ** 2 + sum(float(c) * x ** k for k, c in enumerate(coefficients[::-1]))
    programs = [fit_constants(from_sympy(expr, ["x"]), XT, y)[0] for expr in (7.0 * x, 2.5 * x ** 2, overfit)]
    return programs, losses_of(programs, XT, y, np.ones(rows), SearchOptions()), XT, y


def test_the_law_has_the_shortest_code_at_any_noise_level():
    for noise in (1e-4, 0.01, 0.1):
        programs, losses, XT, y = front(noise)
        assert losses[2] < losses[1] < losses[0]  # the longer fit is the most accurate on its own table
        best, lengths, models, _ = select_by_description_length(programs, [3, 5, 24], losses, XT, y, np.ones_like(y),
                                                                6)
        assert best == 1 and set(models) == {"absolute"}, (noise, lengths)  # weights given: absolute errors


def test_interpolating_a_tiny_table_pays_for_the_digits_of_its_constants():
    """Six rows, six constants: a quintic goes through every point (the loss is at the exactness floor),
    but each of its constants must then be written to ~10 digits, far more than c x^4 needs at 3% noise."""
    rng = np.random.default_rng(7)
    X = rng.uniform(300, 3000, size=(6, 1)) / 1000
    y = 5.7 * X[:, 0] ** 4 * (1 + 0.03 * rng.normal(size=6))
    XT = np.ascontiguousarray(X.T)
    quintic = sum(float(c) * x ** k for k, c in enumerate(np.polyfit(X[:, 0], y, 5)[::-1]))
    programs = [fit_constants(from_sympy(expr, ["x"]), XT, y)[0] for expr in (5.0 * x ** 4, quintic)]
    losses = losses_of(programs, XT, y, np.ones(6), SearchOptions())
    assert losses[1] < 1e-12 * losses[0]
    best, lengths, _, _ = select_by_description_length(programs, [5, 26], losses, XT, y, np.ones(6), 6)
    assert best == 0, lengths


def test_exact_fits_are_equal_so_the_simpler_wins():
    lengths = description_lengths([5, 9], [1e-28, 1e-31], [0.0, 0.0], 1000, 12, 1.0)
    assert lengths[0] < lengths[1]
    # ... but an approximation that is not exact does not beat an exact law
    lengths = description_lengths([5, 9], [1e-12, 1e-28], [0.0, 0.0], 1000, 12, 1.0)
    assert lengths[1] < lengths[0]


def test_a_constant_costs_the_digits_the_data_resolves():
    """A noise 100 times smaller (variance 1e4 times) resolves 100 times more of c: ln(100) nats more; a
    constant the data cannot tell from 0 costs nothing."""
    XT = np.ascontiguousarray(np.linspace(1, 2, 50)[None, :])
    program = from_sympy(2.5 * x, ["x"])
    coarse, fine = constant_cost(program, XT, np.ones(50), 1e-2), constant_cost(program, XT, np.ones(50), 1e-6)
    assert coarse > 0 and np.isclose(fine - coarse, np.log(100))
    assert constant_cost(from_sympy(1e-9 * x, ["x"]), XT, np.ones(50), 1.0) == 0.0


def test_an_infinite_loss_is_never_chosen_and_l1_counts_residuals_per_row():
    lengths = description_lengths([1, 3], [np.inf, 2.0], [0.0, 1.0], 10, 6, 1.0)
    assert np.isinf(lengths[0]) and np.isfinite(lengths[1])
    l2 = description_lengths([3], [0.04], [1.0], 10, 6, 1.0, loss_kind=0)
    l1 = description_lengths([3], [0.2], [1.0], 10, 6, 1.0, loss_kind=1)
    assert np.isclose(l2[0] - 0.5 * 10 * np.log(0.04), l1[0] - 10 * np.log(0.2))


def test_errors_proportional_to_the_value_are_coded_as_such_and_the_law_wins():
    """De Broglie's h/(m v) over two decades with 2% relative noise: under squared error the largest rows
    set the constants and h/(m v + d) fits them better; coded with relative errors the law is shorter."""
    rng = np.random.default_rng(5)
    m, v = np.exp(rng.uniform(np.log(0.1), np.log(10), (2, 30)))
    y = 6.6 / (m * v) * (1 + 0.02 * rng.normal(size=30))
    XT = np.ascontiguousarray(np.stack([m, v]))
    msym, vsym = sympy.symbols("m v", real=True)
    programs = [from_sympy(1.0 / msym, ["m", "v"]), from_sympy(6.0 / (msym * vsym), ["m", "v"]),
                from_sympy(6.0 / (msym * vsym + 0.01), ["m", "v"])]
    fitted = [fit_constants(p, XT, y)[0] for p in programs]
    losses = losses_of(fitted, XT, y, np.ones(30), SearchOptions())
    best, lengths, models, chosen = select_by_description_length(fitted, [3, 5, 7], losses, XT, y, None, 4 + 2 + 1)
    assert best == 1 and models[1] == "relative", (lengths, models)
    assert abs(chosen[1].constants[0] / 6.6 - 1) < 0.02
    # a constant sign is required: with a row of the other sign only the absolute code is tried
    flipped = y.copy()
    flipped[0] = -flipped[0]
    assert set(select_by_description_length(fitted, [3, 5, 7], losses, XT, flipped, None, 7)[2]) == {"absolute"}


def test_the_estimator_returns_the_law_and_shows_each_code_length():
    rng = np.random.default_rng(2)
    X = rng.uniform(1, 3, size=(30, 1))
    y = 2.5 * X[:, 0] ** 2 * (1 + 0.03 * rng.normal(size=30))
    est = SymbolicRegressor(n_iterations=8, model_selection="description_length", random_state=0).fit(X, y)
    front = est.pareto_front_
    assert np.isfinite(front["description_length"]).all()
    assert est.best_index_ == int(np.argmin(front["description_length"]))
    expression = est.sympy(snapped=False)
    x0 = sympy.Symbol("x0", real=True)
    assert sympy.degree(sympy.expand(expression), x0) == 2 and len(sympy.expand(expression).args) <= 3, expression

"""Selection by the shortest two-part description of the data."""
import numpy as np
import sympy

from symdistill.components.sr import SymbolicRegressor
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.island import losses_of
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.description import description_lengths, select_by_description_length

x = sympy.Symbol("x", real=True)


def front_losses(noise, rows=30, seed=0):
    """Losses of a bias (c x), the law (c x^2) and the law plus terms fitted to this table's noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 3, size=(rows, 1))
    y = 2.5 * X[:, 0] ** 2 * (1 + noise * rng.normal(size=rows))
    XT = np.ascontiguousarray(X.T)
    bias = from_sympy(7.0 * x, ["x"])
    law = from_sympy(2.5 * x ** 2, ["x"])
    # the longer candidate: the law plus a polynomial fitted to the residual (fits noise, by construction)
    coefficients = np.polyfit(X[:, 0], y - 2.5 * X[:, 0] ** 2, 4)
    overfit = from_sympy(2.5 * x ** 2 + sum(float(c) * x ** k for k, c in enumerate(coefficients[::-1])), ["x"])
    programs = [bias, law, overfit]
    losses = losses_of(programs, XT, y, np.ones(rows), SearchOptions())
    return programs, losses, y


def test_the_law_has_the_shortest_code_at_any_noise_level():
    for noise in (1e-4, 0.01, 0.1):
        programs, losses, y = front_losses(noise)
        assert losses[2] < losses[1] < losses[0]  # the longer fit is the most accurate on its own table
        lengths = description_lengths([3, 5, 24], losses, [p.constants.size for p in programs], len(y), 4 + 1 + 1,
                                      float(np.sqrt(np.mean(y ** 2))))
        assert int(np.argmin(lengths)) == 1, (noise, lengths)


def test_exact_fits_are_equal_so_the_simpler_wins():
    lengths = description_lengths([5, 9], [1e-28, 1e-31], [1, 3], 1000, 12, 1.0)
    assert lengths[0] < lengths[1]
    # ... but an approximation that is not exact does not beat an exact law
    lengths = description_lengths([5, 9], [1e-12, 1e-28], [1, 3], 1000, 12, 1.0)
    assert lengths[1] < lengths[0]


def test_an_infinite_loss_is_never_chosen_and_l1_counts_residuals_per_row():
    lengths = description_lengths([1, 3], [np.inf, 2.0], [0, 1], 10, 6, 1.0)
    assert np.isinf(lengths[0]) and np.isfinite(lengths[1])
    l2 = description_lengths([3], [0.04], [1], 10, 6, 1.0, loss_kind=0)
    l1 = description_lengths([3], [0.2], [1], 10, 6, 1.0, loss_kind=1)
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

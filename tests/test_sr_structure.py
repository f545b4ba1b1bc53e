"""Structural moves: expand_power (square and cube as explicit products) and the local search around the front."""
import numpy as np
import pytest

from symdistill.components.sr import mutate
from symdistill.components.sr.export import to_numpy
from symdistill.components.sr.island import make_data
from symdistill.components.sr.options import OptionsError, SearchOptions
from symdistill.components.sr.refine import neighbourhood
from symdistill.components.sr.search import run_search
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.program import make_program

C = CODE_OF
# m / (r + 0.5)^3 on features [r, m], in postfix
INVERSE_CUBE = make_program([VAR, VAR, CONST, C["add"], C["cube"], C["div"]], [1, 0, 0, 0, 0, 0],
                            [0, 0, 0.5, 0, 0, 0])
X = np.random.default_rng(0).uniform(0.1, 3, size=(50, 2))  # rows, [r, m]


def values(program):
    return to_numpy(program)(X)


@pytest.mark.parametrize("unary", [("square", "cube"), ("cube",)])
def test_the_rewrite_keeps_the_function_and_spells_out_the_factors(unary):
    grammar = mutate.Grammar((C["add"], C["mul"], C["div"]), tuple(C[u] for u in unary), 2)
    expanded = mutate.expand_power(INVERSE_CUBE, grammar, np.random.default_rng(0))
    np.testing.assert_allclose(values(expanded), values(INVERSE_CUBE), rtol=1e-14)
    assert C["cube"] not in expanded.codes and (expanded.codes == C["mul"]).sum() >= 1
    assert (expanded.codes == C["add"]).sum() == (2 if unary == ("square", "cube") else 3)
    # replacing the first factor (r + 0.5) by r gives r (r + 0.5)^2: the form a single deletion reaches
    first_add = int(np.flatnonzero(expanded.codes == C["add"])[0])
    r = make_program([VAR], [0], [0.0])
    reached = mutate.replace_subtree(expanded, first_add, r)
    r_, m = X.T
    np.testing.assert_allclose(values(reached), m / (r_ * (r_ + 0.5) ** 2), rtol=1e-13)


def test_square_becomes_a_product_and_nothing_else_applies():
    grammar = mutate.Grammar((C["mul"],), (C["square"],), 2)
    square = make_program([VAR, C["square"]], [0, 0], [0.0, 0.0])
    product = mutate.expand_power(square, grammar, np.random.default_rng(0))
    assert list(product.codes) == [VAR, VAR, C["mul"]]
    no_power = make_program([VAR, VAR, C["mul"]], [0, 1, 0], [0.0, 0.0, 0.0])
    assert mutate.expand_power(no_power, grammar, np.random.default_rng(0)) is None
    without_mul = mutate.Grammar((C["add"],), (C["square"],), 2)
    assert mutate.expand_power(square, without_mul, np.random.default_rng(0)) is None


def softened_inverse_square():
    """y = m / (r (r + 0.3)^2) and the near miss m / (r + 0.2)^3, two edits away."""
    rng = np.random.default_rng(2)
    X = np.stack([rng.uniform(0.2, 3, 500), rng.uniform(0.5, 2, 500)], axis=1)
    y = X[:, 1] / (X[:, 0] * (X[:, 0] + 0.3) ** 2)
    near_miss = make_program([VAR, VAR, CONST, C["add"], C["cube"], C["div"]], [1, 0, 0, 0, 0, 0],
                             [0, 0, 0.2, 0, 0, 0])
    return X, y, near_miss


def test_the_neighbourhood_of_the_near_miss_holds_the_true_form():
    X, y, near_miss = softened_inverse_square()
    grammar = mutate.Grammar((C["add"], C["mul"], C["div"]), (C["square"], C["cube"]), 2)
    true_form = make_program([VAR, VAR, VAR, CONST, C["add"], C["square"], C["mul"], C["div"]],
                             [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0.2, 0, 0, 0, 0])
    keys = {p.structure_key() for p in neighbourhood(near_miss, grammar)}
    assert true_form.structure_key() in keys


@pytest.mark.parametrize("refine_every", [0, 1])
def test_the_local_search_finds_what_one_round_of_evolution_does_not(refine_every):
    X, y, near_miss = softened_inverse_square()
    options = SearchOptions(binary_operators=("add", "mul", "div"), unary_operators=("square", "cube"),
                            n_islands=1, population_size=20, n_iterations=1, max_size=12,
                            refine_every=refine_every).validate()
    result = run_search(make_data(X.T, y, None, options), options, seed=0, initial_guesses=[near_miss])
    best = min(loss for _, loss, _ in result.front)
    if refine_every:
        assert best < 1e-20  # r (r + c)^2 with c fitted to 0.3
    else:
        assert best > 1e-6


def test_refine_every_must_be_a_count():
    with pytest.raises(OptionsError, match="refine_every must be a non-negative integer"):
        SearchOptions(refine_every=-1).validate()

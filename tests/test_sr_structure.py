"""Structural moves: single deletions, term removals, and the local search around the front."""
import numpy as np
import pytest

from symdistill.components.sr import mutate
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.export import to_numpy
from symdistill.components.sr.island import make_data
from symdistill.components.sr.options import OptionsError, SearchOptions
from symdistill.components.sr.refine import neighbourhood
from symdistill.components.sr.search import run_search
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.program import make_program

C = CODE_OF
X = np.random.default_rng(0).uniform(0.1, 3, size=(50, 2))  # rows, [r, m]


def values(program):
    return to_numpy(program)(X)


def test_term_removals_drop_one_operand_of_each_sum_or_difference():
    # (r + m) - 0.5 on features [r, m]: removals give r - 0.5, m - 0.5, r + m and 0.5
    program = make_program([VAR, VAR, C["add"], CONST, C["sub"]], [0, 1, 0, 0, 0], [0, 0, 0, 0.5, 0])
    r, m = X.T
    got = sorted(tuple(np.round(values(p), 12)) for p in mutate.term_removals(program))
    want = sorted(tuple(np.round(v, 12)) for v in (r - 0.5, m - 0.5, r + m, np.full_like(r, 0.5)))
    assert got == want
    assert mutate.term_removals(make_program([VAR, VAR, C["mul"]], [0, 1, 0], [0, 0, 0])) == []


def test_operator_unwrappings_replace_one_unary_operator_by_its_operand():
    # sin(0.5 * r) / cos(m) on features [r, m]: unwrapping gives 0.5 r / cos(m) and sin(0.5 r) / m
    program = make_program([CONST, VAR, C["mul"], C["sin"], VAR, C["cos"], C["div"]], [0, 0, 0, 0, 1, 0, 0],
                           [0.5, 0, 0, 0, 0, 0, 0])
    r, m = X.T
    got = sorted(tuple(np.round(values(p), 12)) for p in mutate.operator_unwrappings(program))
    want = sorted(tuple(np.round(v, 12)) for v in (0.5 * r / np.cos(m), np.sin(0.5 * r) / m))
    assert got == want
    assert mutate.operator_unwrappings(make_program([VAR, VAR, C["mul"]], [0, 1, 0], [0, 0, 0])) == []


def softened_inverse_square_with_a_spurious_term():
    """y = m / (r (r + 0.3)^2); the near miss carries a spurious 0.4*r in the denominator."""
    rng = np.random.default_rng(2)
    X = np.stack([rng.uniform(0.2, 3, 500), rng.uniform(0.5, 2, 500)], axis=1)
    y = X[:, 1] / (X[:, 0] * (X[:, 0] + 0.3) ** 2)
    # m / (r * (r + 0.2)^2 + 0.4 * r)
    near_miss = make_program(
        [VAR, VAR, VAR, CONST, C["add"], C["square"], C["mul"], CONST, VAR, C["mul"], C["add"], C["div"]],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0.2, 0, 0, 0, 0.4, 0, 0, 0, 0])
    return X, y, near_miss


def test_the_neighbourhood_holds_every_single_deletion():
    X, y, near_miss = softened_inverse_square_with_a_spurious_term()
    grammar = mutate.Grammar((C["add"], C["mul"], C["div"]), (C["square"],), 2)
    true_form = make_program([VAR, VAR, VAR, CONST, C["add"], C["square"], C["mul"], C["div"]],
                             [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0.2, 0, 0, 0, 0])
    found = neighbourhood(near_miss, grammar)
    assert true_form.structure_key() in {p.structure_key() for p in found}
    assert len(found) == 2 * 5 + 1  # five binary nodes, one unary


def test_the_local_search_reaches_the_law_from_a_near_miss_in_one_round():
    X, y, near_miss = softened_inverse_square_with_a_spurious_term()
    # with its constants fitted the near miss is exact (0 r) and the front's only exact member, at complexity 12
    near_miss, loss = fit_constants(near_miss, np.ascontiguousarray(X.T), y, max_iterations=100)
    assert loss < 1e-20
    true_form = make_program([VAR, VAR, VAR, CONST, C["add"], C["square"], C["mul"], C["div"]],
                             [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0.2, 0, 0, 0, 0])
    options = SearchOptions(binary_operators=("add", "mul", "div"), unary_operators=("square",),
                            n_islands=1, population_size=20, n_iterations=1, max_size=14,
                            refine_every=1).validate()
    for seed in range(3):
        result = run_search(make_data(X.T, y, None, options), options, seed=seed, initial_guesses=[near_miss])
        exact = {program.structure_key() for _, loss, program in result.front if loss < 1e-20}
        assert true_form.structure_key() in exact  # the spurious term deleted, m / (r (r + c)^2) re-fitted


def test_refine_every_must_be_a_count():
    with pytest.raises(OptionsError, match="refine_every must be a non-negative integer"):
        SearchOptions(refine_every=-1).validate()

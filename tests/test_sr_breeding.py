"""The breeding loop's fast paths against plain references: compiled tree shape, the mutation draw,
the population's tournament cost and the cached tail ranking of the child-fit rows."""
import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.island import _Evolution, child_rows, init_island, make_data
from symdistill.components.sr.mutate import Grammar
from symdistill.components.sr.operators import CODE_OF, arity_of_code
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.program import depth, subtree_sizes

GRAMMAR = Grammar(tuple(CODE_OF[n] for n in ("add", "mul", "div", "pow")),
                  tuple(CODE_OF[n] for n in ("sin", "exp", "square")), n_features=3)


def plain_sizes_and_depth(codes):
    """One stack pass in plain Python: (subtree size per node, depth of the tree)."""
    sizes, depths, stack = [], [], []
    for code in codes.tolist():
        operands = [stack.pop() for _ in range(arity_of_code(code))]
        node = (1 + sum(s for s, _ in operands), 1 + max((d for _, d in operands), default=0))
        sizes.append(node[0])
        stack.append(node)
    return sizes, stack[-1][1]


def test_compiled_subtree_sizes_and_depth_match_a_plain_stack_pass_on_random_programs():
    rng = np.random.default_rng(0)
    for size in [1, 2, 3, 5, 8, 13, 21, 30] * 25:
        program = mutate.random_program(GRAMMAR, size, rng)
        sizes, tree_depth = plain_sizes_and_depth(program.codes)
        assert subtree_sizes(program.codes).tolist() == sizes
        assert depth(program.codes) == tree_depth


def test_the_mutation_draw_is_the_stream_of_rng_choice_with_the_weights():
    options = SearchOptions()
    data = make_data(np.random.default_rng(1).normal(size=(3, 50)), np.ones(50), None, options)
    work = _Evolution(init_island(data, options, 0), data, options, np.random.default_rng(7))
    names = list(options.mutation_weights)
    weights = np.array([options.mutation_weights[n] for n in names])
    reference = np.random.default_rng(7)
    for _ in range(2000):
        assert work.draw_mutation() == names[reference.choice(len(names), p=weights / weights.sum())]


def test_the_population_tournament_cost_is_each_members_own_cost_times_its_crowding_factor():
    options = SearchOptions(population_size=30)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 200))
    data = make_data(X, X[0] * X[1] + 0.1 * rng.normal(size=200), None, options)
    work = _Evolution(init_island(data, options, 3), data, options, rng)
    frequency = work.frequency()
    cost = work.selection_cost(frequency)
    for i in range(len(work.programs)):
        one = work.cost(work.losses[i:i + 1], work.complexities[i:i + 1], work.programs[i:i + 1])[0]
        expected = one * np.exp(options.adaptive_parsimony_scaling * frequency[work.complexities[i]])
        assert cost[i] == expected or (np.isinf(cost[i]) and np.isinf(expected))


def test_a_cached_tail_ranking_gives_the_same_rows_as_ranking_afresh():
    rng = np.random.default_rng(4)
    x, r = rng.uniform(-1, 1, 3000), 10 ** rng.uniform(-3, 1, 3000)
    data = make_data(np.vstack([x, r]), x / r ** 2, None, SearchOptions())
    cache = {}
    for seed in range(4):
        fresh = child_rows(data, 128, 0.25, np.random.default_rng(seed))
        cached = child_rows(data, 128, 0.25, np.random.default_rng(seed), cache)
        np.testing.assert_array_equal(fresh.y, cached.y)
        np.testing.assert_array_equal(fresh.weights, cached.weights)
    assert list(cache) == [32]

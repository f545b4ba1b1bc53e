"""Rows the children's constants are fitted on: a stratified sample that always holds the heavy tail."""
import numpy as np

from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.island import child_rows, make_data
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.program import make_program


def heavy_tailed(n=2000, seed=0):
    """A pair-force-like target: c x / r^2 with r spread over four decades, plus noise of a few percent."""
    rng = np.random.default_rng(seed)
    x, r = rng.uniform(-1, 1, n), 10 ** rng.uniform(-3, 1, n)
    y = 0.1 * x / r ** 2 * (1 + 0.05 * rng.standard_normal(n)) + 0.01 * rng.standard_normal(n)
    return make_data(np.vstack([x, r]), y, None, SearchOptions()), x / r ** 2


def test_the_rows_farthest_from_the_median_are_always_in_and_the_rest_stands_for_the_others():
    data, _ = heavy_tailed()
    tail = np.argsort(-np.abs(data.y - np.median(data.y)))[:32]
    for seed in range(5):
        sample = child_rows(data, 128, 0.25, np.random.default_rng(seed))
        assert sample.y.size == 128
        assert set(data.y[tail]) <= set(sample.y)
        # 32 rows stand for themselves, 96 for the other 1968
        np.testing.assert_allclose(np.sort(sample.weights)[[0, -1]], [1.0, 1968 / 96])
        np.testing.assert_allclose(sample.weights.sum(), data.y.size)


def test_small_data_and_no_tail_share_fall_back_to_all_rows_or_a_uniform_sample():
    data, _ = heavy_tailed(n=100)
    assert child_rows(data, 128, 0.25, np.random.default_rng(0)) is data
    big, _ = heavy_tailed()
    uniform = child_rows(big, 128, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(uniform.weights, 1.0)
    # a sample too small to hold its tail share keeps one uniform row that stands for all the others
    two = child_rows(big, 2, 0.75, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(two.weights), [1.0, big.y.size - 1])


def test_a_child_fitted_on_the_sample_gets_the_constant_of_all_rows():
    data, feature = heavy_tailed()
    best = np.sum(feature * data.y) / np.sum(feature ** 2)  # least squares on every row (plain reference)
    # c * x / square(r), starting from c = 1
    program = make_program([CONST, VAR, VAR, CODE_OF["square"], CODE_OF["div"], CODE_OF["mul"]],
                           [0, 0, 1, 0, 0, 0], [1.0, 0, 0, 0, 0, 0])
    for seed in range(10):
        sample = child_rows(data, 128, 0.25, np.random.default_rng(seed))
        fitted, _ = fit_constants(program, sample.XT, sample.y, sample.weights, max_iterations=4)
        assert abs(fitted.values[0] / best - 1) < 0.015

"""The numba evaluator equals the numpy-per-node reference, including NaN/Inf detection."""
import numpy as np
import pytest

from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.evaluate import (
    evaluate_population, evaluate_population_serial, evaluate_with_jacobian, population_losses)
from symdistill.components.sr.mutate import Grammar, random_program
from symdistill.components.sr.operators import BUILTINS, CODE_OF, CONST, VAR
from symdistill.components.sr.program import make_program, pack
from symdistill.components.sr.reference import reference_evaluate

ALL_BINARY = tuple(CODE_OF[op.name] for op in BUILTINS if op.arity == 2)
ALL_UNARY = tuple(CODE_OF[op.name] for op in BUILTINS if op.arity == 1)


ARITHMETIC_UNARY = tuple(CODE_OF[n] for n in ("neg", "inv", "sqrt", "square", "cube", "abs"))


def random_population(n, n_features, seed, min_size=1, max_size=30, unary=ALL_UNARY):
    rng = np.random.default_rng(seed)
    grammar = Grammar(ALL_BINARY, unary, n_features)
    return [random_program(grammar, int(rng.integers(min_size, max_size + 1)), rng) for _ in range(n)]


@pytest.mark.parametrize("kernel", [evaluate_population, evaluate_population_serial])
@pytest.mark.parametrize("unary, max_size, rtol", [
    (ARITHMETIC_UNARY, 30, 1e-12),  # the same IEEE operations in the same order
    (ALL_UNARY, 8, 1e-8),  # our exp/sin/cos and numpy's differ by up to 1 ulp (tests/test_sr_vectormath.py)
])
def test_population_matches_reference_including_invalid_programs(kernel, unary, max_size, rtol):
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 3))  # 300 rows: several blocks, the last one partial
    programs = random_population(400, 3, seed=1, max_size=max_size, unary=unary)
    values, ok = kernel(*pack(programs), np.ascontiguousarray(X.T))
    n_invalid, compared, rows = 0, 0, 0
    for i, program in enumerate(programs):
        expected, expected_ok = reference_evaluate(program, X)
        assert ok[i] == expected_ok, program.to_dict()
        if expected_ok:
            # a 1-ulp difference inside sin(exp(exp(x))) becomes 1e-5 outside: compare the rows where the
            # program itself is well conditioned (inputs moved by 1e-12 move it by at most 1e-9)
            with np.errstate(all="ignore"):
                nearby, _ = reference_evaluate(program, X * (1 + 1e-12))
            well = np.abs(nearby - expected) <= 1e-9 * (1 + np.abs(expected))
            np.testing.assert_allclose(values[i][well], expected[well], rtol=rtol, atol=rtol)
            compared, rows = compared + int(well.sum()), rows + well.size
        n_invalid += not expected_ok
    assert 0 < n_invalid < len(programs)  # the sample really exercises both outcomes
    assert compared > 0.98 * rows  # and nearly every row of the valid ones is compared


def test_masked_infinity_still_invalidates():
    # tanh(1/x0) is finite even where 1/x0 is inf; an Inf anywhere must still reject the program.
    program = make_program([VAR, CODE_OF["inv"], CODE_OF["tanh"]], [0, 0, 0], [0.0, 0.0, 0.0])
    X = np.array([[1.0], [0.0], [2.0]])
    _, ok = evaluate_population_serial(*pack([program]), np.ascontiguousarray(X.T))
    assert not ok[0]
    assert not reference_evaluate(program, X)[1]


def test_losses_match_predictions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(257, 2))
    y = rng.normal(size=257)
    weights = rng.uniform(0.5, 2.0, size=257)
    programs = random_population(50, 2, seed=3)
    packed, XT = pack(programs), np.ascontiguousarray(X.T)
    values, ok = evaluate_population(*packed, XT)
    for kind, elementwise in [(0, lambda r: r ** 2), (1, np.abs),
                              (2, lambda r: np.where(np.abs(r) <= 0.7, 0.5 * r ** 2, 0.7 * (np.abs(r) - 0.35)))]:
        losses = population_losses(*packed, XT, y, weights, kind, 0.7)
        with np.errstate(all="ignore"):  # invalid programs hold NaN/Inf; they are masked just below
            expected = np.where(ok, np.average(elementwise(values - y), axis=1, weights=weights), np.inf)
        np.testing.assert_allclose(losses, expected, rtol=1e-12)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(4)
    X = rng.uniform(0.5, 2.0, size=(40, 2))
    checked = 0
    for program in random_population(200, 2, seed=5, min_size=5, max_size=15):
        is_const = program.codes == CONST
        k = int(is_const.sum())
        if k == 0:
            continue
        slots = np.where(is_const, np.cumsum(is_const) - 1, -1)
        values, jac, ok = evaluate_with_jacobian(program.codes, program.args, program.values, slots, k, X.T.copy())
        if not ok or np.abs(values).max() > 1e6:
            continue
        for j in range(k):
            step = 1e-6 * max(1.0, abs(program.constants[j]))
            bumped = program.constants.copy()
            bumped[j] += step
            up, ok_up = reference_evaluate(program.with_constants(bumped), X)
            bumped[j] -= 2 * step
            down, ok_down = reference_evaluate(program.with_constants(bumped), X)
            if ok_up and ok_down:
                np.testing.assert_allclose(jac[j], (up - down) / (2 * step), rtol=1e-4, atol=1e-5)
                checked += 1
    assert checked > 50


def test_levenberg_marquardt_beats_eight_bfgs_iterations():
    from scipy.optimize import minimize

    rng = np.random.default_rng(6)
    X = rng.uniform(0.1, 3.0, size=(200, 2))
    y = 3.7 * np.exp(-0.8 * X[:, 0]) + 1.3 * np.sin(2.1 * X[:, 1])
    # c0 * exp(c1 * x0) + c2 * sin(c3 * x1), from poor starting constants
    program = make_program(
        [CONST, CONST, VAR, CODE_OF["mul"], CODE_OF["exp"], CODE_OF["mul"], CONST, CONST, VAR, CODE_OF["mul"],
         CODE_OF["sin"], CODE_OF["mul"], CODE_OF["add"]],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], [1.0, -0.1, 0, 0, 0, 0, 0.5, 1.8, 0, 0, 0, 0, 0])

    def mse(constants):
        values, ok = reference_evaluate(program.with_constants(constants), X)
        return np.mean((values - y) ** 2) if ok else 1e300

    bfgs = minimize(mse, program.constants, method="BFGS", options={"maxiter": 8})
    _, lm_loss = fit_constants(program, X.T.copy(), y, max_iterations=8)
    assert lm_loss < 1e-12 < bfgs.fun


@pytest.mark.parametrize("loss_kind", [1, 2])
def test_constants_are_fitted_for_the_search_loss_l1_and_huber(loss_kind):
    """IRLS around LM reaches the optimum of the l1 or Huber loss itself (checked against scipy on that loss),
    and returns that loss of the returned constants."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 2, 400)
    y = 2.0 * x + 1.0 + rng.normal(0, 1e-2, 400)
    y[::10] += rng.uniform(20, 40, 40)  # one-sided gross outliers: the squared error's optimum is far off
    program = make_program([CONST, VAR, CODE_OF["mul"], CONST, CODE_OF["add"]], [0, 0, 0, 0, 0],
                           [0.5, 0, 0, 0.0, 0])

    def loss_of(constants):
        residual = np.abs(constants[0] * x + constants[1] - y)
        return residual.mean() if loss_kind == 1 else np.where(residual <= 0.1, 0.5 * residual ** 2,
                                                               0.1 * (residual - 0.05)).mean()
    fitted, loss = fit_constants(program, x[None, :].copy(), y, max_iterations=60, loss_kind=loss_kind, delta=0.1)
    best = minimize(loss_of, [2.0, 1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14})
    np.testing.assert_allclose(fitted.constants, best.x, atol=2e-3)
    assert loss == pytest.approx(loss_of(fitted.constants), rel=1e-9)
    assert loss <= best.fun * (1 + 1e-3)
    assert loss_of([2.0, 1.0] if loss_kind == 1 else best.x) < loss_of(np.polyfit(x, y, 1))  # not l2's answer

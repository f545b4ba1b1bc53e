"""Custom operators work wherever builtins do; float32 evaluation agrees with float64."""
import math

import numpy as np
import pytest
import sympy
import torch

from symdistill.components.sr import OperatorRegistrationError, Program, SymbolicRegressor, register_operator
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.evaluate import (
    evaluate_population, evaluate_population_serial, evaluate_with_jacobian, population_losses)
from symdistill.components.sr.export import ProgramModule, from_sympy, to_sympy
from symdistill.components.sr.mutate import Grammar, random_program
from symdistill.components.sr.operators import CODE_OF, CONST, OPERATOR_OF_CODE, VAR
from symdistill.components.sr.program import make_program, pack
from symdistill.components.sr.reference import reference_evaluate
from symdistill.components.sr.units import UnitSpec, is_consistent


def _sinc(x):
    return math.sin(x) / x if x != 0.0 else 1.0


def _sinc_slope(x):
    return (x * math.cos(x) - math.sin(x)) / (x * x) if x != 0.0 else 0.0


def _register_once(name, *args, **kwargs):
    return OPERATOR_OF_CODE[CODE_OF[name]] if name in CODE_OF else register_operator(name, *args, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def custom_operators():
    # The registry is per process, like PySR's: tests register under names no other test uses.
    _register_once("test_sinc", 1, _sinc, sympy_fn=sympy.Function("test_sinc"), derivative=_sinc_slope,
                   torch_fn=lambda a: torch.sinc(a / math.pi))
    _register_once("test_hypot", 2, lambda a, b: math.hypot(a, b), sympy_fn=lambda a, b: sympy.sqrt(a ** 2 + b ** 2), units="preserve")


def test_custom_population_matches_reference_in_parallel_and_serially():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    grammar = Grammar((CODE_OF["add"], CODE_OF["mul"], CODE_OF["test_hypot"]), (CODE_OF["test_sinc"], CODE_OF["exp"]), 2)
    programs = [random_program(grammar, int(rng.integers(1, 15)), rng) for _ in range(150)]
    assert sum(int(p.codes.max()) >= 32 for p in programs) > 50
    for kernel in (evaluate_population, evaluate_population_serial):
        values, ok = kernel(*pack(programs), np.ascontiguousarray(X.T))
        for i, program in enumerate(programs):
            expected, expected_ok = reference_evaluate(program, X)
            assert ok[i] == expected_ok
            if expected_ok:
                np.testing.assert_allclose(values[i], expected, rtol=1e-9, atol=1e-9)


def test_custom_operator_invalidates_non_finite_results():
    program = make_program([VAR, CODE_OF["inv"], CODE_OF["test_sinc"]], [0, 0, 0], [0.0, 0.0, 0.0])
    _, ok = evaluate_population_serial(*pack([program]), np.array([[1.0, 0.0, 2.0]]))
    assert not ok[0]  # sinc(1/0) = sinc(inf) = 0 would hide the infinity


def test_custom_derivatives_drive_constant_fitting():
    # y = 2 * test_hypot(1.5 * x0, x1): constants enter through both the kernel and its finite-difference slopes.
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 2.0, size=(200, 2))
    y = 2.0 * np.hypot(1.5 * X[:, 0], X[:, 1])
    codes = [CONST, CONST, VAR, CODE_OF["mul"], VAR, CODE_OF["test_hypot"], CODE_OF["mul"]]
    program = make_program(codes, [0, 0, 0, 0, 1, 0, 0], [1.0, 1.0, 0, 0, 0, 0, 0])
    slots = np.where(program.codes == CONST, np.cumsum(program.codes == CONST) - 1, -1)
    values, jac, ok = evaluate_with_jacobian(program.codes, program.args, program.values, slots, 2, X.T.copy())
    assert ok
    step = 1e-6
    for k in range(2):
        bumped = program.values.copy()
        bumped[np.flatnonzero(program.codes == CONST)[k]] += step
        shifted, _ = reference_evaluate(make_program(program.codes, program.args, bumped), X)
        np.testing.assert_allclose(jac[k], (shifted - values) / step, rtol=1e-4, atol=1e-6)
    fitted, loss = fit_constants(program, X.T.copy(), y)
    assert loss < 1e-16
    assert abs(fitted.constants[0] * fitted.constants[1]) == pytest.approx(3.0, rel=1e-6)


def test_custom_operators_round_trip_through_names_sympy_and_torch():
    codes = [VAR, CODE_OF["test_sinc"], CONST, CODE_OF["mul"]]
    program = make_program(codes, [0, 0, 0, 0], [0.0, 0.0, 2.0, 0.0])
    stored = program.to_dict()
    assert ["test_sinc"] in stored["postfix"]  # stored by name, never by code
    assert Program.from_dict(stored).structure_key() == program.structure_key()
    X = np.linspace(-3, 3, 50)[:, None]
    back = from_sympy(to_sympy(program, ["x"]), ["x"])  # SymPy may reorder the product
    assert CODE_OF["test_sinc"] in back.codes
    np.testing.assert_allclose(reference_evaluate(back, X)[0], reference_evaluate(program, X)[0], rtol=1e-15)
    module = ProgramModule(program).double()
    torch_values = module(torch.tensor(X)).detach().numpy()
    np.testing.assert_allclose(torch_values, reference_evaluate(program, X)[0], rtol=1e-12, atol=1e-12)


def test_search_recovers_a_law_with_a_custom_operator():
    rng = np.random.default_rng(0)
    X = rng.uniform(-4, 4, size=(300, 2))
    y = 2.5 * np.sinc(X[:, 0] / np.pi) + X[:, 1]
    est = SymbolicRegressor(binary_operators=("add", "mul"), unary_operators=("test_sinc",), n_islands=4,
                            population_size=30, n_iterations=20, random_state=0).fit(X, y)
    assert est.score(X, y) > 1 - 1e-12
    x0, x1 = sympy.symbols("x0 x1", real=True)
    found = est.sympy()
    assert sympy.simplify(found - (2.5 * sympy.Function("test_sinc")(x0) + x1)) == 0, found


def test_units_rules_of_custom_operators():
    spec = UnitSpec.from_strings(["m", "s"], "m")
    hypot_of = make_program([VAR, VAR, CODE_OF["test_hypot"]], [0, 0, 0], [0.0, 0.0, 0.0])
    mixed = make_program([VAR, VAR, CODE_OF["test_hypot"]], [0, 1, 0], [0.0, 0.0, 0.0])
    sinc_of_length = make_program([VAR, CODE_OF["test_sinc"]], [0, 0], [0.0, 0.0])
    assert is_consistent(hypot_of, spec)  # "preserve": hypot(m, m) is in m
    assert not is_consistent(mixed, spec)
    assert not is_consistent(sinc_of_length, UnitSpec.from_strings(["m"], "dimensionless"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="add", arity=2, kernel=lambda a, b: a + b), "already exists"),
    (dict(name="bad op", arity=1, kernel=abs), "must be an identifier"),
    (dict(name="ternary", arity=3, kernel=abs), "arity of 'ternary' must be 1 or 2"),
    (dict(name="texty", arity=1, kernel=lambda x: "a" + x), "does not compile with numba"),
    (dict(name="unitless", arity=1, kernel=abs, units="metres"), "units of 'unitless' must be one of"),
])
def test_registration_errors_are_clear(kwargs, message):
    with pytest.raises(OperatorRegistrationError, match=message):
        register_operator(kwargs.pop("name"), kwargs.pop("arity"), kwargs.pop("kernel"), sympy_fn=sympy.sin, **kwargs)
    assert "texty" not in CODE_OF and "ternary" not in CODE_OF  # a refused operator leaves no trace


def test_float32_evaluation_agrees_with_float64():
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, size=(500, 3))
    grammar = Grammar(tuple(CODE_OF[n] for n in ("add", "sub", "mul")), tuple(CODE_OF[n] for n in ("sin", "cos")), 3)
    programs = [random_program(grammar, int(rng.integers(1, 15)), rng) for _ in range(100)]
    v64, ok64 = evaluate_population(*pack(programs), np.ascontiguousarray(X.T))
    v32, ok32 = evaluate_population(*pack(programs), np.ascontiguousarray(X.T, dtype=np.float32))
    assert v32.dtype == np.float32 and (ok32 == ok64).all()
    np.testing.assert_allclose(v32[ok64], v64[ok64], rtol=1e-4, atol=1e-4)
    y = v64[0]
    l32 = population_losses(*pack(programs), np.ascontiguousarray(X.T, dtype=np.float32), y.astype(np.float32),
                            np.ones(500, dtype=np.float32), 0, 1.0)
    assert l32[0] < 1e-10


def test_float32_search_recovers_a_law():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    y = 3.0 * X[:, 0] * X[:, 1] + X[:, 1]
    est = SymbolicRegressor(binary_operators=("add", "mul"), n_islands=3, population_size=30, n_iterations=15,
                            options={"precision": "float32"}, random_state=0).fit(X, y)
    x0, x1 = sympy.symbols("x0 x1", real=True)
    found = est.sympy().xreplace({f: sympy.Rational(f"{float(f):.3g}") for f in est.sympy().atoms(sympy.Float)})
    assert sympy.simplify(found - (3 * x0 * x1 + x1)) == 0, est.sympy()

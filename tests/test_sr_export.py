"""Programs survive every conversion: names, SymPy, numpy, torch; bad programs are refused clearly."""
import numpy as np
import pytest
import sympy
import torch

from symdistill.components.sr import Program, ProgramError
from symdistill.components.sr.export import ExportError, ProgramModule, from_sympy, to_latex, to_numpy, to_sympy
from symdistill.components.sr.mutate import Grammar, random_program
from symdistill.components.sr.operators import BUILTINS, CODE_OF
from symdistill.components.sr.reference import reference_evaluate

GRAMMAR = Grammar(tuple(CODE_OF[o.name] for o in BUILTINS if o.arity == 2),
                  tuple(CODE_OF[o.name] for o in BUILTINS if o.arity == 1), 3)


def valid_programs(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 2.0, size=(50, 3))
    found = []
    while len(found) < n:
        program = random_program(GRAMMAR, int(rng.integers(1, 16)), rng)
        values, ok = reference_evaluate(program, X)
        nudged, _ = reference_evaluate(program, X * (1 + 1e-13))
        # Skip ill-conditioned programs (e.g. cos of a huge power), where reordering alone changes the value.
        if ok and np.abs(values).max() < 1e8 and np.allclose(nudged, values, rtol=1e-10, atol=1e-10):
            found.append(program)
    return found, X


def test_names_round_trip_exactly():
    programs, _ = valid_programs(100, 0)
    for program in programs:
        back = Program.from_dict(program.to_dict(), n_features=3)
        assert back.key() == program.key()


@pytest.mark.parametrize("data, message", [
    ({"postfix": [["var", 0], ["sinh"]]}, "unknown operator 'sinh'; valid operators"),
    ({"postfix": [["var", 0], ["add"]]}, "operator without enough operands"),
    ({"postfix": [["var", 0], ["var", 1]]}, "leaves 2 values"),
    ({"postfix": [["var", 7]]}, "feature index 7 outside 0..2"),
    ({"postfix": [["const", "1.0"]]}, "bad program node"),
    ({"postfix": []}, "non-empty 'postfix' list"),
    ("__import__('os')", "non-empty 'postfix' list"),
])
def test_bad_stored_programs_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        Program.from_dict(data, n_features=3)


def test_program_sympy_program_evaluates_the_same():
    programs, X = valid_programs(100, 1)
    names = ["a", "b", "c"]
    for program in programs:
        expr = to_sympy(program, names)
        back = from_sympy(expr, names)
        expected, _ = reference_evaluate(program, X)
        got, ok = reference_evaluate(back, X)
        assert ok
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=str(expr))
        lambdified = sympy.lambdify(sympy.symbols("a b c", real=True), expr, "numpy")
        np.testing.assert_allclose(np.broadcast_to(lambdified(*X.T), expected.shape), expected, rtol=1e-9)


def test_numpy_and_torch_exports_agree_and_torch_trains_constants():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(200, 2))
    program = from_sympy(sympy.Float(0.5) * sympy.Symbol("x0") + sympy.sin(sympy.Float(1.5) * sympy.Symbol("x1")),
                         ["x0", "x1"])
    module = ProgramModule(program)
    np.testing.assert_allclose(module(torch.tensor(X)).detach().numpy(), to_numpy(program)(X), rtol=1e-12)
    y = torch.tensor(2.0 * X[:, 0] + np.sin(0.7 * X[:, 1]))
    optimizer = torch.optim.LBFGS(module.parameters(), max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        optimizer.zero_grad()
        loss = torch.mean((module(torch.tensor(X)) - y) ** 2)
        loss.backward()
        return loss

    optimizer.step(closure)
    np.testing.assert_allclose(module.to_program(program).constants, [2.0, 0.7], rtol=1e-5)


def test_latex_and_sympy_refuse_strings():
    program = from_sympy(sympy.Symbol("r") ** 2 / sympy.Float(3.14159265), ["r"])
    assert to_latex(program, ["r"]) == "0.3183 r^{2}"
    with pytest.raises(ExportError, match="strings are never parsed"):
        from_sympy("r**2", ["r"])
    with pytest.raises(ExportError, match="cannot express"):
        from_sympy(sympy.sinh(sympy.Symbol("r")), ["r"])
    with pytest.raises(ExportError, match="unknown symbol 'q'"):
        from_sympy(sympy.Symbol("q"), ["r"])
    with pytest.raises(ProgramError):
        Program.from_dict({"postfix": [["const", float("nan")]]})

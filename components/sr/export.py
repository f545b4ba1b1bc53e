"""Programs as SymPy expressions, LaTeX, numpy callables and torch modules, and SymPy back to programs.

SymPy is built by walking the postfix array with each operator's builder; no string is ever parsed.
"""
from collections.abc import Sequence

import numpy as np
import sympy
import torch
from sympy.core.function import AppliedUndef

from symdistill.components.sr.operators import CODE_OF, CONST, CUSTOM_UNARY, OPERATOR_OF_CODE, VAR, arity_of_code
from symdistill.components.sr.program import Program, make_program
from symdistill.components.sr.reference import reference_evaluate

TORCH_FUNCTIONS = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "neg": torch.neg, "inv": torch.reciprocal, "sqrt": torch.sqrt, "square": torch.square,
    "cube": lambda a: a * a * a, "exp": torch.exp, "log": torch.log, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "abs": torch.abs,
}


class ExportError(ValueError):
    pass


def default_names(n_features: int) -> list[str]:
    return [f"x{i}" for i in range(n_features)]


def to_sympy(program: Program, feature_names: Sequence[str] | None = None) -> sympy.Expr:
    n_features = int(program.args[program.codes == VAR].max()) + 1 if (program.codes == VAR).any() else 0
    names = list(feature_names) if feature_names is not None else default_names(n_features)
    symbols = [sympy.Symbol(name, real=True) for name in names]
    stack = []
    for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
        if code == CONST:
            stack.append(sympy.Float(value))
        elif code == VAR:
            stack.append(symbols[arg])
        else:
            op = OPERATOR_OF_CODE[code]
            operands = [stack.pop() for _ in range(op.arity)][::-1]
            stack.append(op.sympy_fn(*operands))
    return stack[0]


def to_latex(program: Program, feature_names=None, precision: int = 4) -> str:
    expr = to_sympy(program, feature_names)
    expr = expr.xreplace({f: sympy.Float(f, precision) for f in expr.atoms(sympy.Float)})
    return safe_latex(expr)


def safe_latex(expr: sympy.Expr) -> str:
    """``expr`` in LaTeX with every non-numeric exponent (and exp argument) held unevaluated: to put a factor with a
    negative exponent under the fraction bar, SymPy's LaTeX printer asks whether the exponent is constant,
    which simplifies it; on a fitted exp(-c / (exp(exp(r)) - d)^2) term of the discontinuous law that
    factoring ran for over ten minutes. Held opaque, such a factor prints as e^{...} in the numerator."""
    def opaque(node):
        if isinstance(node, sympy.exp) and not node.args[0].is_Number:
            return sympy.exp(sympy.UnevaluatedExpr(node.args[0]), evaluate=False)
        if isinstance(node, sympy.Pow) and not node.exp.is_Number:
            return sympy.Pow(node.base, sympy.UnevaluatedExpr(node.exp), evaluate=False)
        return node
    return sympy.latex(expr.replace(lambda node: isinstance(node, (sympy.exp, sympy.Pow)), opaque))


def to_numpy(program: Program):
    """A function of X [n_rows, n_features] -> [n_rows]; NaN/Inf are returned as computed."""
    def evaluate(X):
        values, _ = reference_evaluate(program, np.asarray(X, dtype=float))
        return values
    return evaluate


class ProgramModule(torch.nn.Module):
    """A program as a torch module whose constants are trainable parameters."""

    def __init__(self, program: Program):
        super().__init__()
        self.codes = program.codes.tolist()
        self.args = program.args.tolist()
        self.constants = torch.nn.Parameter(torch.tensor(program.constants, dtype=torch.float64))
        self.functions = {}
        for code in set(self.codes) - {CONST, VAR}:
            op = OPERATOR_OF_CODE[code]
            function = TORCH_FUNCTIONS.get(op.name) or op.torch_fn
            if function is None:
                raise ExportError(f"operator {op.name!r} has no torch function; register it with torch_fn=...")
            self.functions[op.name] = function

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        stack, k = [], 0
        for code, arg in zip(self.codes, self.args):
            if code == CONST:
                stack.append(self.constants[k].expand(X.shape[0]).to(X.dtype))
                k += 1
            elif code == VAR:
                stack.append(X[:, arg])
            else:
                op = OPERATOR_OF_CODE[code]
                operands = [stack.pop() for _ in range(op.arity)][::-1]
                stack.append(self.functions[op.name](*operands))
        return stack[0]

    def to_program(self, program: Program) -> Program:
        """``program`` with this module's (trained) constants."""
        return program.with_constants(self.constants.detach().cpu().numpy().astype(float))


def from_sympy(expr: sympy.Expr, feature_names: Sequence[str]) -> Program:
    """Translate a SymPy expression built from the supported operators into a program."""
    index = {name: i for i, name in enumerate(feature_names)}
    codes, args, values = [], [], []

    def emit(code, arg=0, value=0.0):
        codes.append(code), args.append(arg), values.append(value)

    def chain(operands, name):
        walk(operands[0])
        for operand in operands[1:]:
            walk(operand)
            emit(CODE_OF[name])

    def walk(node):
        if node.is_number:  # also E, pi, sqrt(2): any closed-form real number becomes a constant
            if not node.is_real:
                raise ExportError(f"{node} is not a real number")
            emit(CONST, value=float(node))
        elif node.is_Symbol:
            if node.name not in index:
                raise ExportError(f"unknown symbol {node.name!r}; known: {', '.join(feature_names)}")
            emit(VAR, arg=index[node.name])
        elif node.is_Add:
            chain(list(node.args), "add")
        elif node.is_Mul:
            chain(list(node.args), "mul")
        elif node.is_Pow:
            base, exponent = node.args
            special = {-1: "inv", 2: "square", 3: "cube", sympy.Rational(1, 2): "sqrt"}
            name = special.get(exponent) if exponent in special else None
            walk(base)
            if name is None:
                walk(exponent)
                name = "pow"
            emit(CODE_OF[name])
        elif isinstance(node, AppliedUndef) and CODE_OF.get(type(node).__name__, 0) >= CUSTOM_UNARY:
            code = CODE_OF[type(node).__name__]  # a registered custom operator, built by its sympy_fn
            if len(node.args) != arity_of_code(code):
                raise ExportError(f"{node} has {len(node.args)} arguments; {type(node).__name__} takes "
                                  f"{arity_of_code(code)}")
            for operand in node.args:
                walk(operand)
            emit(code)
        elif isinstance(node, (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tanh, sympy.Abs)):
            if len(node.args) != 1:
                raise ExportError(f"unsupported call {node}")
            walk(node.args[0])
            emit(CODE_OF[{"Abs": "abs"}.get(type(node).__name__, type(node).__name__)])
        else:
            raise ExportError(f"cannot express {type(node).__name__} ({node}) with the operator table")

    if not isinstance(expr, sympy.Basic):
        raise ExportError(f"expected a SymPy expression, got {type(expr).__name__}; strings are never parsed")
    walk(expr)
    return make_program(codes, args, values)

"""The operator table: every operator by name, with its arity, complexity, numpy and SymPy builders.

Programs store small integer codes for speed; artifacts store names, mapped to codes on load, so the
table can grow without corrupting old results. Codes 0 and 1 are reserved for constants and variables;
binary operators come first so arity follows from the code. The numba kernels that implement each
builtin operator live in ``evaluate.py`` under the same code.

Users add operators with ``register_operator``: a scalar Python function compiled by numba, called
through a function table by the evaluator (slower than a builtin, but no kernel is rewritten). Custom
unary operators take codes 32..47, custom binary ones 48..63, in registration order. A process that
loads a program naming a custom operator must have registered it first (a Dask worker too).
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy

CONST, VAR = 0, 1
CUSTOM_UNARY, CUSTOM_BINARY, MAX_CUSTOM = 32, 48, 16
N_CODES = CUSTOM_BINARY + MAX_CUSTOM


@dataclass(frozen=True)
class Operator:
    name: str
    arity: int
    complexity: int
    numpy_fn: Callable
    sympy_fn: Callable
    latex: str = ""
    units: str = "builtin"  # custom operators: "dimensionless" (like sin) or "preserve" (like abs, add)
    torch_fn: Callable | None = None  # custom operators only; builtins are in export.TORCH_FUNCTIONS


def _sympy_pow(a, b):
    return sympy.Pow(a, b)


BUILTINS = (
    Operator("add", 2, 1, np.add, lambda a, b: a + b),
    Operator("sub", 2, 1, np.subtract, lambda a, b: a - b),
    Operator("mul", 2, 1, np.multiply, lambda a, b: a * b),
    Operator("div", 2, 1, np.divide, lambda a, b: a / b),
    Operator("pow", 2, 1, np.power, _sympy_pow),
    Operator("neg", 1, 1, np.negative, lambda a: -a),
    Operator("inv", 1, 1, lambda a: 1.0 / a, lambda a: 1 / a),
    Operator("sqrt", 1, 1, np.sqrt, sympy.sqrt),
    Operator("square", 1, 1, np.square, lambda a: a ** 2),
    Operator("cube", 1, 1, lambda a: a * a * a, lambda a: a ** 3),
    Operator("exp", 1, 1, np.exp, sympy.exp),
    Operator("log", 1, 1, np.log, sympy.log),
    Operator("sin", 1, 1, np.sin, sympy.sin),
    Operator("cos", 1, 1, np.cos, sympy.cos),
    Operator("tanh", 1, 1, np.tanh, sympy.tanh),
    Operator("abs", 1, 1, np.abs, sympy.Abs),
)
N_BINARY = sum(op.arity == 2 for op in BUILTINS)
CODE_OF = {op.name: CONST + 2 + i for i, op in enumerate(BUILTINS)}
OPERATOR_OF_CODE = {code: op for op, code in zip(BUILTINS, CODE_OF.values())}
# Named codes for the numba kernels (module globals are compile-time constants there, so naming costs nothing).
(ADD, SUB, MUL, DIV, POW, NEG, INV, SQRT, SQUARE, CUBE, EXP, LOG, SIN, COS, TANH,
 ABS) = (CODE_OF[name] for name in ("add", "sub", "mul", "div", "pow", "neg", "inv", "sqrt", "square", "cube",
                                    "exp", "log", "sin", "cos", "tanh", "abs"))
assert POW == CONST + 1 + N_BINARY, "binary builtins come first, so a code <= POW is binary"
FIRST_UNARY = 2 + N_BINARY


class UnknownOperatorError(ValueError):
    pass


def operator_code(name: str) -> int:
    """Code of a builtin operator; raise naming the valid operators otherwise."""
    try:
        return CODE_OF[name]
    except KeyError:
        raise UnknownOperatorError(f"unknown operator {name!r}; valid operators: {', '.join(CODE_OF)}") from None


def arity_of_code(code: int) -> int:
    if code in (CONST, VAR):
        return 0
    return 2 if code < FIRST_UNARY or code >= CUSTOM_BINARY else 1


ARITY = np.array([arity_of_code(code) for code in range(N_CODES)], dtype=np.int64)  # for the numba kernels

"""User-registered operators: compiled scalar kernels, their derivatives, and the table the evaluator calls.

``register_operator("sinc", 1, kernel=..., sympy_fn=...)`` makes "sinc" usable wherever a builtin
name is: in options, programs, checkpoints and exports. The kernel is a plain scalar Python function
that numba can compile; a derivative (one function per argument) speeds up and sharpens constant
fitting, otherwise a central finite difference is used.
"""
import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.core.errors import NumbaExperimentalFeatureWarning

from symdistill.components.sr.operators import (CODE_OF, CUSTOM_BINARY, CUSTOM_UNARY, MAX_CUSTOM,
                                                OPERATOR_OF_CODE, Operator)

# Function tables are numba's "first-class functions", still flagged experimental; tests pin their behaviour.
warnings.filterwarnings("ignore", message=".*First-class function type", category=NumbaExperimentalFeatureWarning)
UNARY_SIGNATURE = types.float64(types.float64)
BINARY_SIGNATURE = types.float64(types.float64, types.float64)
UNIT_RULES = ("dimensionless", "preserve")
_tables = {}  # cached kernel table, rebuilt after each registration
_KERNELS = {}  # code -> (compiled kernel, tuple of compiled partial derivatives)


class OperatorRegistrationError(ValueError):
    pass


def register_operator(name: str, arity: int, kernel: Callable, *, sympy_fn: Callable,
                      numpy_fn: Callable | None = None, torch_fn: Callable | None = None, derivative=None,
                      complexity: int = 1, units: str = "dimensionless") -> Operator:
    """Add an operator to the table; returns it. Raises if the name is taken or the kernel does not compile."""
    if not name.isidentifier() or name in ("const", "var"):
        raise OperatorRegistrationError(f"operator name {name!r} must be an identifier other than const/var")
    if name in CODE_OF:
        raise OperatorRegistrationError(f"operator {name!r} already exists; choose another name")
    if arity not in (1, 2):
        raise OperatorRegistrationError(f"arity of {name!r} must be 1 or 2, got {arity!r}")
    if units not in UNIT_RULES:
        raise OperatorRegistrationError(f"units of {name!r} must be one of {', '.join(UNIT_RULES)}, got {units!r}")
    if not isinstance(complexity, int) or complexity < 1:
        raise OperatorRegistrationError(f"complexity of {name!r} must be a positive integer, got {complexity!r}")
    base = CUSTOM_UNARY if arity == 1 else CUSTOM_BINARY
    taken = [code for code in OPERATOR_OF_CODE if base <= code < base + MAX_CUSTOM]
    if len(taken) == MAX_CUSTOM:
        raise OperatorRegistrationError(f"at most {MAX_CUSTOM} custom operators of arity {arity}")
    signature = UNARY_SIGNATURE if arity == 1 else BINARY_SIGNATURE
    compiled = _compile(name, "kernel", kernel, signature)
    derivatives = derivative if isinstance(derivative, (tuple, list)) else (derivative,) * arity
    if len(derivatives) != arity:
        raise OperatorRegistrationError(f"{name!r} needs {arity} derivative function(s), got {len(derivatives)}")
    derivatives = tuple(_compile(name, "derivative", d, signature) if d is not None
                        else _finite_difference(compiled, arity, position) for position, d in enumerate(derivatives))
    vectorized = numpy_fn or np.vectorize(kernel, otypes=[float])
    operator = Operator(name, arity, complexity, vectorized, sympy_fn, units=units, torch_fn=torch_fn)
    code = base + len(taken)
    CODE_OF[name] = code
    OPERATOR_OF_CODE[code] = operator
    _KERNELS[code] = (compiled, derivatives)
    _tables.clear()
    return operator


def _compile(name, what, function, signature):
    try:
        return njit(signature, cache=False)(function)
    except Exception as error:  # numba raises many types; the user needs the message, not the type
        raise OperatorRegistrationError(f"the {what} of {name!r} does not compile with numba for "
                                        f"{signature}: {str(error).splitlines()[0]}") from None


def _finite_difference(compiled, arity, position):
    if arity == 1:
        @njit(UNARY_SIGNATURE)
        def slope(x):
            h = 1e-6 * max(1.0, abs(x))
            return (compiled(x + h) - compiled(x - h)) / (2.0 * h)
        return slope
    if position == 0:
        @njit(BINARY_SIGNATURE)
        def slope_x(x, y):
            h = 1e-6 * max(1.0, abs(x))
            return (compiled(x + h, y) - compiled(x - h, y)) / (2.0 * h)
        return slope_x

    @njit(BINARY_SIGNATURE)
    def slope_y(x, y):
        h = 1e-6 * max(1.0, abs(y))
        return (compiled(x, y + h) - compiled(x, y - h)) / (2.0 * h)
    return slope_y


@njit(UNARY_SIGNATURE, cache=True)
def missing_unary(x):
    return math.nan


@njit(BINARY_SIGNATURE, cache=True)
def missing_binary(x, y):
    return math.nan


def call_unary(kernels, table, index, x):
    """``kernels[table][index](x)`` in numba code; NaN when ``kernels`` is None (a builtin-only kernel)."""


def call_binary(kernels, table, index, x, y):
    """``kernels[table][index](x, y)`` in numba code; NaN when ``kernels`` is None."""


# Parallel kernels pass kernels=None: numba's parallel loops cannot take a function table, and a
# table referenced as a global would make the kernel uncachable (recompiled in every process).
@overload(call_unary)
def _call_unary(kernels, table, index, x):
    if isinstance(kernels, types.NoneType):
        return lambda kernels, table, index, x: math.nan
    return lambda kernels, table, index, x: kernels[table][index](x)


@overload(call_binary)
def _call_binary(kernels, table, index, x, y):
    if isinstance(kernels, types.NoneType):
        return lambda kernels, table, index, x, y: math.nan
    return lambda kernels, table, index, x, y: kernels[table][index](x, y)


def uses_custom(codes) -> bool:
    return codes.size > 0 and int(codes.max()) >= CUSTOM_UNARY


def run_in_threads(serial_kernel, codes, args, values, offsets, *rest):
    """Run a serial population kernel on program chunks in threads (it releases the GIL); results per chunk.

    numba's parallel loops cannot take a table of functions, so populations using custom operators
    are spread over threads this way instead.
    """
    n_programs = offsets.size - 1
    n_chunks = max(1, min(numba.get_num_threads(), n_programs))
    bounds = np.linspace(0, n_programs, n_chunks + 1).astype(int)

    def run(a, b):
        lo, hi = offsets[a], offsets[b]
        return serial_kernel(codes[lo:hi], args[lo:hi], values[lo:hi], offsets[a:b + 1] - lo, *rest, kernel_table())
    with ThreadPoolExecutor(n_chunks) as pool:
        return list(pool.map(run, bounds[:-1], bounds[1:]))


def table_for(codes):
    """The function table if ``codes`` use a custom operator, else None: passing a table costs a call ~0.5 ms."""
    return kernel_table() if uses_custom(codes) else None


def kernel_table():
    """(unary kernels, unary derivatives, binary kernels, d/dx, d/dy), each a non-empty tuple indexed by code - base.

    Empty slots hold a kernel returning NaN, so a program naming an unregistered code is invalid, not a crash.
    """
    if "table" not in _tables:
        unary = [_KERNELS[c] for c in sorted(_KERNELS) if c < CUSTOM_BINARY]
        binary = [_KERNELS[c] for c in sorted(_KERNELS) if c >= CUSTOM_BINARY]
        _tables["table"] = (tuple(k for k, _ in unary) or (missing_unary,),
                            tuple(d[0] for _, d in unary) or (missing_unary,),
                            tuple(k for k, _ in binary) or (missing_binary,),
                            tuple(d[0] for _, d in binary) or (missing_binary,),
                            tuple(d[1] for _, d in binary) or (missing_binary,))
    return _tables["table"]

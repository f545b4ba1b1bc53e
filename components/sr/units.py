"""Dimensional analysis of programs with pint: which candidates are physically consistent.

Dimensions are exponent vectors over pint's base dimensions. A constant is either dimensionless or
free (a wildcard that takes whatever dimension makes its parent consistent), by option.
"""
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pint

from symdistill.components.sr.operators import CODE_OF, CONST, OPERATOR_OF_CODE, VAR
from symdistill.components.sr.program import Program

_REGISTRY = pint.UnitRegistry()
BASE = ("[length]", "[mass]", "[time]", "[current]", "[temperature]", "[substance]", "[luminosity]")
FREE = None  # a free constant's dimension
_TRANSCENDENTAL = {CODE_OF[n] for n in ("exp", "log", "sin", "cos", "tanh")}
_POWERS = {CODE_OF["sqrt"]: 0.5, CODE_OF["square"]: 2.0, CODE_OF["cube"]: 3.0, CODE_OF["inv"]: -1.0}


class UnitsError(ValueError):
    pass


def dimension_of(unit: str) -> np.ndarray:
    """Exponent vector of a pint unit string; raise UnitsError naming it if pint does not know it."""
    try:
        dimensionality = _REGISTRY.parse_units(unit).dimensionality
    except Exception:  # pint raises several types for bad strings
        raise UnitsError(f"unknown unit {unit!r}; use a pint unit string such as 'm/s**2' or 'dimensionless'") \
            from None
    return np.array([float(dimensionality.get(b, 0)) for b in BASE])


@dataclass(frozen=True)
class UnitSpec:
    features: tuple[np.ndarray, ...]
    target: np.ndarray
    free_constants: bool = True

    @classmethod
    def from_strings(cls, feature_units: Sequence[str], target_unit: str, free_constants: bool = True):
        return cls(tuple(dimension_of(u) for u in feature_units), dimension_of(target_unit), free_constants)


def is_consistent(program: Program, spec: UnitSpec) -> bool:
    """True if some choice of free-constant dimensions makes the program's result carry the target's."""
    stack = []
    dimensionless = np.zeros(len(BASE))
    for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
        if code == CONST:
            stack.append(FREE if spec.free_constants else dimensionless)
            continue
        if code == VAR:
            stack.append(spec.features[arg])
            continue
        op = OPERATOR_OF_CODE[code]
        if op.arity == 2:
            right, left = stack.pop(), stack.pop()
            result = _binary(op, left, right)
        else:
            operand = stack.pop()
            if code in _TRANSCENDENTAL or op.units == "dimensionless":
                if operand is not FREE and np.any(operand):
                    return False
                result = dimensionless
            elif code in _POWERS:
                result = FREE if operand is FREE else operand * _POWERS[code]
            else:  # neg, abs
                result = operand
        if result is False:
            return False
        stack.append(result)
    final = stack[0]
    return final is FREE or np.allclose(final, spec.target)


def _binary(op, left, right):
    name = op.name
    if op.units == "dimensionless":  # a custom operator of dimensionless arguments
        if any(side is not FREE and np.any(side) for side in (left, right)):
            return False
        return np.zeros(len(BASE))
    if op.units == "preserve":
        name = "add"
    if name in ("add", "sub"):
        if left is FREE:
            return right
        if right is FREE or np.allclose(left, right):
            return left
        return False
    if name in ("mul", "div"):
        if left is FREE or right is FREE:
            return FREE
        return left + right if name == "mul" else left - right
    # pow: the exponent must be dimensionless; a dimensional base needs a known exponent, which the
    # search only has as a fitted constant, so a dimensional base is allowed only with a free exponent.
    if right is not FREE and np.any(right):
        return False
    if left is FREE or not np.any(left):
        return left
    return FREE if right is FREE else False


def describe(dimension) -> str:
    if dimension is FREE:
        return "free"
    parts = [f"{b.strip('[]')}^{e:g}" for b, e in zip(BASE, dimension) if e]
    return " ".join(parts) or "dimensionless"

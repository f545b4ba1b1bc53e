"""Snapping fitted constants to simple exact numbers when the data cannot tell them apart.

A search returns constants like 4.71238898 where the law has 3π/2; printed as fitted, sin(θ) reads
-cos(θ - 4.71238898). Each constant is offered the simple numbers near it (0, integers, short fractions
and decimals, small multiples of π), simplest first, and takes the first one that leaves the loss
within a tolerance: the data, not a rounding rule, decide. Snapped constants are stored as the exact
doubles of their numbers, so ``snap_expression`` can recognise them in any expression built later.
"""
from collections.abc import Callable, Sequence
from math import ceil, floor, isfinite, log10

import numpy as np
import sympy

from symdistill.components.sr.evaluate import population_losses_serial
from symdistill.components.sr.export import to_sympy
from symdistill.components.sr.operators import CONST, VAR
from symdistill.components.sr.options import LOSSES
from symdistill.components.sr.program import Program, make_program, pack, subtree_sizes
from symdistill.components.sr.reference import reference_evaluate

WINDOW = 0.05  # a candidate farther than 5% from the fitted value is not a plausible reading of it
MAX_DENOMINATOR = 12  # fractions p/q as laws write them: 1/2, 2/3, 5/12 ...
MAX_NUMERATOR = 100  # ... with modest p: 702/7 is no reading of 100.3
PI_DENOMINATORS = (1, 2, 3, 4, 6)  # the angles that occur in laws: π, π/2, π/3, π/4, π/6
MAX_PI_MULTIPLE = 12  # k·π/q with |k| <= 12: 32π is no reading of 100.3
DECIMAL_DIGITS = 3  # short decimals such as 1.98 or 0.125 (a measured coefficient)
MAX_DECIMAL_DENOMINATOR = 1000  # beyond this an exact decimal prints as a long fraction: worse than the float
MAX_DESCRIPTION_LENGTH = 4  # longer numbers are no simpler to read than the fitted value
ROUNDING = 1e-9  # a relative loss change this small is the evaluation's rounding, not the data
RELATIVE_SLACK = 1e-6  # default tolerance: the loss agrees to six digits ...
PREDICTION_SLACK = 1e-6  # ... or moves less than a prediction error of 1e-6 standard deviations of y


def description_length(number: sympy.Expr) -> int:
    """Digits needed to write ``number`` (a rational, or a rational times π): the simplicity measure.

    A rational costs its shorter form: fraction (digits of p, plus digits of q unless q = 1) or
    decimal (significant digits, +1 for a decimal point or trailing zeros). π adds one symbol.
    0 -> 0, 2 -> 1, 1/2 -> 2, 100 -> 2, π -> 2, 3π/2 -> 3, 1.98 -> 4.
    """
    rational = number / sympy.pi if number.has(sympy.pi) else number  # k·π/q divides back to k/q exactly
    if rational == 0:
        return 0
    fraction = len(str(abs(rational.p))) + (len(str(rational.q)) if rational.q > 1 else 0)
    return min(fraction, _decimal_length(rational)) + (1 if number.has(sympy.pi) else 0)


def _decimal_length(rational: sympy.Rational) -> int | float:
    q, twos, fives = rational.q, 0, 0
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    if q != 1:
        return float("inf")  # no terminating decimal
    shift = max(twos, fives)
    mantissa = abs(rational.p) * 10 ** shift // rational.q
    stripped = 0
    while mantissa % 10 == 0:
        mantissa, stripped = mantissa // 10, stripped + 1
    return len(str(mantissa)) + (0 if shift == stripped else 1)


def simple_candidates(value: float) -> list[sympy.Expr]:
    """The simple exact numbers within 5% of ``value``, simplest first (ties: nearest first).

    Always 0 first: a constant whose term the data do not need should vanish, whatever its scale.
    Then integers, fractions p/q (q <= 12, |p| <= 100), decimals of up to 3 significant digits and
    k·π/q (q in 1, 2, 3, 4, 6; |k| <= 12), each no longer than 4 digits (``description_length``).
    """
    value = float(value)
    if not isfinite(value):
        return []
    found = {sympy.Integer(0)}
    if value != 0.0:
        for q in range(1, MAX_DENOMINATOR + 1):
            found.update(sympy.Rational(p, q) for p in (floor(value * q), ceil(value * q))
                         if q == 1 or abs(p) <= MAX_NUMERATOR)
        found.update(_short_decimals(value))
        for q in PI_DENOMINATORS:
            found.update(sympy.Rational(k, q) * sympy.pi for k in (floor(value * q / np.pi), ceil(value * q / np.pi))
                         if 0 < abs(k) <= MAX_PI_MULTIPLE)
    near = [c for c in found if c == 0 or abs(float(c) - value) <= WINDOW * abs(value)]
    scored = [(description_length(c), abs(float(c) - value), str(c), c) for c in near]
    return [c for length, _, _, c in sorted(scored, key=lambda s: s[:3]) if length <= MAX_DESCRIPTION_LENGTH]


def _short_decimals(value: float) -> list[sympy.Rational]:
    exponent = floor(log10(abs(value)))
    out = []
    for digits in range(1, DECIMAL_DIGITS + 1):
        scale = digits - 1 - exponent  # value * 10**scale has `digits` digits before the point
        mantissa = round(value * 10.0 ** scale)
        number = sympy.Rational(mantissa, 10 ** scale) if scale >= 0 else sympy.Integer(mantissa * 10 ** -scale)
        if number.q <= MAX_DECIMAL_DENOMINATOR:
            out.append(number)
    return out


def snap_constants(constants: np.ndarray, loss: Callable[[np.ndarray], float], *,
                   tolerance: float) -> tuple[np.ndarray, list[sympy.Expr | None]]:
    """Greedily replace constants by simple numbers while ``loss`` stays within ``tolerance`` of its value.

    Constants are taken in the order given (a program's postfix order, i.e. reading order) and each
    tries ``simple_candidates`` simplest first, keeping the first whose loss is finite and at most
    base + tolerance (or equal to base up to rounding). Accepted snaps stay while later constants
    are tried; every trial is measured against the original loss, so the total rise is bounded by
    ``tolerance`` rather than accumulating. ``tolerance`` is an absolute loss slack chosen by the
    caller from its noise or held-out evidence. Returns the values (the doubles of the chosen
    numbers where snapped) and, per constant, its exact number or None if kept as fitted.
    """
    if not (isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite, non-negative loss slack, got {tolerance}")
    values = np.array(constants, dtype=float)
    symbolic: list[sympy.Expr | None] = [None] * len(values)
    base = float(loss(values.copy()))
    if not isfinite(base):
        return values, symbolic  # nothing to compare against: keep the fit
    limit = max(base + tolerance, base * (1 + ROUNDING) + 1e-300)
    for i in range(len(values)):
        for candidate in simple_candidates(values[i]):
            trial = values.copy()
            trial[i] = float(candidate)
            trial_loss = float(loss(trial))
            if isfinite(trial_loss) and trial_loss <= limit:
                values, symbolic[i] = trial, candidate
                break
    return values, symbolic


def snap_expression(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with each Float that is exactly the double of a simple number replaced by that number.

    Snapped constants are stored as such doubles, so an expression built from a snapped program
    (alone or composed with others) prints exactly: -cos(θ - 3π/2) evaluates to sin(θ), and a term
    whose constant snapped to 0 vanishes. A fitted value is almost never such a double, so it stays.
    """
    exact = {}
    for number in expr.atoms(sympy.Float):
        value = float(number)
        matches = [c for c in simple_candidates(value) if float(c) == value]
        if matches:
            exact[number] = matches[0]
    return expr.xreplace(exact)


def default_tolerance(base_loss: float, y: np.ndarray, weights: np.ndarray, loss_name: str = "l2",
                      huber_delta: float = 1.0) -> float:
    """The slack within which "the loss does not change": 1e-6 of the loss, plus the loss of a prediction
    off by 1e-6 standard deviations of y everywhere (1e-12·var(y) for l2), so an exact fit (loss ~ 0)
    still tolerates the constants' last digits."""
    spread = float(np.sqrt(np.average((y - np.average(y, weights=weights)) ** 2, weights=weights)))
    error = PREDICTION_SLACK * spread
    floor_loss = {"l2": error ** 2, "l1": error,
                  "huber": 0.5 * error ** 2 if error <= huber_delta else huber_delta * (error - 0.5 * huber_delta)}
    return RELATIVE_SLACK * abs(base_loss) + floor_loss[loss_name]


def fold_constant_subtrees(program: Program) -> Program:
    """``program`` with each largest variable-free subtree replaced by one constant of its (double) value.

    The data see only such a subtree's value, so its constants one by one can cancel (c·(a + b - d)
    with a + b ≈ d) and none may snap; folded, the value itself can (to 0, say).
    """
    sizes, codes = subtree_sizes(program.codes), program.codes
    has_var = np.concatenate([[0], np.cumsum(codes == VAR)])
    folded_at, covered = {}, np.zeros(len(codes), dtype=bool)
    for i in range(len(codes) - 1, -1, -1):  # postfix: ancestors come after, so the first found is largest
        start = i - sizes[i] + 1
        if covered[i] or sizes[i] == 1 or has_var[i + 1] != has_var[start]:
            continue
        value, ok = reference_evaluate(Program(codes[start:i + 1], program.args[start:i + 1],
                                               program.values[start:i + 1]), np.zeros((1, 0)))
        if ok:
            folded_at[i], covered[start:i] = float(value[0]), True
    if not folded_at:
        return program
    keep = [i for i in range(len(codes)) if not covered[i]]
    return make_program([CONST if i in folded_at else int(codes[i]) for i in keep],
                        [0 if i in folded_at else int(program.args[i]) for i in keep],
                        [folded_at.get(i, float(program.values[i])) for i in keep])


def snap_program(program: Program, X: np.ndarray, y: np.ndarray, loss_name: str = "l2",
                 tolerance: float | None = None, weights: np.ndarray | None = None, *, huber_delta: float = 1.0,
                 feature_names: Sequence[str] | None = None) -> tuple[Program, sympy.Expr]:
    """Snap ``program``'s constants on data X [n_rows, n_features], y with the engine's loss.

    ``tolerance`` None means ``default_tolerance``: only snaps that leave the loss unchanged.
    Variable-free subtrees are folded first (``fold_constant_subtrees``). Returns the program with
    snapped values and its exact SymPy expression.
    """
    if loss_name not in LOSSES:
        raise ValueError(f"unknown loss {loss_name!r}; choose one of {', '.join(LOSSES)}")
    program = fold_constant_subtrees(program)
    XT = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)
    y = np.asarray(y, dtype=np.float64)
    weights = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)

    def loss(constants: np.ndarray) -> float:
        trial = program.with_constants(constants)
        return float(population_losses_serial(*pack([trial]), XT, y, weights, LOSSES[loss_name], huber_delta)[0])

    constants = program.constants
    if constants.size:
        if tolerance is None:
            tolerance = default_tolerance(loss(constants), y, weights, loss_name, huber_delta)
            tolerance = tolerance if isfinite(tolerance) else 0.0
        values, _ = snap_constants(constants, loss, tolerance=tolerance)
        program = program.with_constants(values)
    return program, snap_expression(to_sympy(program, feature_names))


__all__ = ["default_tolerance", "description_length", "fold_constant_subtrees", "simple_candidates", "snap_constants",
           "snap_expression", "snap_program"]

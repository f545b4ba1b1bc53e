"""The units of a law's constants, from the units of its variables and of its output.

Every number in the law (a coefficient, a summand) has unknown units; the law's structure constrains
them: summands share units, products add dimensions, a power scales them, exp/log/sin/cos/tanh need a
dimensionless argument, and the whole has the output's units. Those constraints are linear in the
dimension exponents, so one least-squares solve gives every constant the data determine
(a_i = Σ (1.98 - 2 r_ij) dx_ij / (m_i r_ij) with m, kg, m/s²: 1.98 kg·m/s², 2 kg/s²); a constant only
fixed together with another (100 r + 1) gets no units, and a law no constants can make consistent
(sin of a length) says so.
"""
from fractions import Fraction

import numpy as np
import pint
import sympy

from symdistill.components.compose import Composition, pair_symbols

UNITS = pint.UnitRegistry()
SI_BASE = {"[length]": "meter", "[mass]": "kilogram", "[time]": "second", "[current]": "ampere",
           "[temperature]": "kelvin", "[substance]": "mole", "[luminosity]": "candela"}
DIMENSIONLESS_FUNCTIONS = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tanh)


class _Unsupported(Exception):
    pass


def law_constant_units(law: dict[str, sympy.Expr], composition: Composition,
                       units: dict[str, str | None]) -> dict[str, dict | None]:
    """``constant_units`` of every output of ``law`` (``sympy_model(composition)``), from the units of
    the composition's features and outputs by name (``feature_units``): edge features as the pair
    symbols the law is written in (dx -> dx_ij)."""
    symbol_units = dict(zip(pair_symbols(composition.edge_features), (units.get(n) for n in composition.edge_features)))
    symbol_units |= {n: units.get(n) for n in composition.node_features}
    return {name: constant_units(expr, symbol_units, units.get(name)) for name, expr in law.items()}


def constant_units(expr: sympy.Expr, symbol_units: dict[str, str | None],
                   output_units: str | None) -> dict | None:
    """{"constants": [(value as text, units as text or None), ...] in reading order, "consistent": bool}
    for ``expr`` (Σ_j taken off, numbers multiplying a sum distributed over it); None when units are
    unknown (no output units) or the expression has a form the rules above do not cover. Symbols with
    unknown units (latent parameters) get units of their own."""
    if not output_units:
        return None
    known = {name: _dimensions(u) for name, u in symbol_units.items() if u}
    output = _dimensions(output_units)
    axes = sorted(set(output).union(*known.values()))
    constants, unknown_symbols, rows = [], {}, []

    def vector(dimensions: dict) -> np.ndarray:
        return np.array([float(dimensions.get(a, 0)) for a in axes])

    def fresh() -> int:  # the next unknown: a constant or a symbol of unknown units
        return len(constants) + len(unknown_symbols)

    def constant(value) -> tuple:
        index = fresh()
        constants.append((str(value) if value.is_Rational else f"{float(value):.4g}", index))
        return np.zeros(len(axes)), {index: 1.0}

    def equal(a, b) -> None:
        rows.append((_minus(a[1], b[1]), b[0] - a[0]))

    def walk(node, coefficient: bool = False):
        if node.is_Number:
            if coefficient and abs(node) == 1:  # a sign
                return np.zeros(len(axes)), {}
            return constant(node)
        if node.is_Symbol:
            if node.name in known:
                return vector(known[node.name]), {}
            if node.name not in unknown_symbols:
                unknown_symbols[node.name] = fresh()
            return np.zeros(len(axes)), {unknown_symbols[node.name]: 1.0}
        if node.is_Add:
            parts = [walk(term) for term in node.args]
            for part in parts[1:]:
                equal(parts[0], part)
            return parts[0]
        if node.is_Mul:
            parts = [walk(factor, coefficient=True) for factor in node.args]
            return sum(p[0] for p in parts), _plus(*[p[1] for p in parts])
        if node.is_Pow:
            base, exponent = node.args
            if exponent.is_Number:
                known_part, unknown_part = walk(base)
                return known_part * float(exponent), {k: v * float(exponent) for k, v in unknown_part.items()}
            for part in (base, exponent):
                equal(walk(part), (np.zeros(len(axes)), {}))
            return np.zeros(len(axes)), {}
        if isinstance(node, DIMENSIONLESS_FUNCTIONS):
            equal(walk(node.args[0]), (np.zeros(len(axes)), {}))
            return np.zeros(len(axes)), {}
        if isinstance(node, sympy.Abs):
            return walk(node.args[0])
        raise _Unsupported(type(node).__name__)

    # a number multiplying a sum is fixed only together with the sum's numbers (dx (99 - 100 r) / 50):
    # distributed, each term's coefficient has units of its own (99/50 dx - 2 dx r)
    expr = expr.replace(lambda e: isinstance(e, sympy.Sum), lambda e: e.function)
    try:
        whole = walk(sympy.expand_mul(expr))
    except _Unsupported:
        return None
    equal(whole, (vector(output), {}))
    n = fresh()
    matrix = np.array([[row.get(k, 0.0) for k in range(n)] for row, _ in rows]).reshape(len(rows), n)
    rhs = np.array([r for _, r in rows]).reshape(len(rows), len(axes))
    pinv = np.linalg.pinv(matrix)
    solution = pinv @ rhs
    consistent = bool(np.allclose(matrix @ solution, rhs, atol=1e-9))
    fixed = np.isclose(np.diag(pinv @ matrix), 1.0, atol=1e-9) if n else np.zeros(0, bool)
    coherent = all(_coherent(u) for u in [*symbol_units.values(), output_units] if u)
    return {"consistent": consistent,
            "constants": [(text, _format(solution[k], axes, coherent) if consistent and fixed[k] else None)
                          for text, k in constants]}


def _dimensions(units: str) -> dict:
    return dict(UNITS.parse_units(units).dimensionality)


def _coherent(units: str) -> bool:
    """Whether ``units`` is a coherent SI unit (no factor to the SI base units): then a constant's units
    print in SI base units; otherwise as dimensions, the value being in the data's own units."""
    return bool(np.isclose((1 * UNITS.parse_units(units)).to_base_units().magnitude, 1.0, rtol=1e-12))


def _format(exponents: np.ndarray, axes: list[str], coherent: bool) -> str:
    powers = [(axis, Fraction(float(e)).limit_denominator(12)) for axis, e in zip(axes, exponents)]
    powers = [(axis, p) for axis, p in powers if p != 0]
    if not powers:
        return "dimensionless"
    if coherent and all(axis in SI_BASE for axis, _ in powers):
        unit = UNITS.dimensionless
        for axis, p in powers:
            unit = unit * UNITS.parse_units(SI_BASE[axis]) ** (int(p) if p.denominator == 1 else float(p))
        return f"{unit:~P}"
    return " ".join(f"{axis}^{p}" if p != 1 else axis for axis, p in powers) + " (in the data's units)"


def _plus(*parts: dict) -> dict:
    out = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _minus(a: dict, b: dict) -> dict:
    return _plus(a, {k: -v for k, v in b.items()})

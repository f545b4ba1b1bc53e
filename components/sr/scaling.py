"""Features on a unit scale: the search sees x_k / s_k and its programs are mapped back exactly.

Why: Levenberg-Marquardt starts every constant near 1, so a constant's reach depends on its feature's
scale. With r ~ 0.08 the halo cut-off 1 / (C5 + (C6 r)^C7) has no gradient in C7 until C6 is near 15;
with r on a unit scale the same search fits it from the start (and an SI mass of 1e-31 kg is hopeless
unscaled). Each s_k is a power of two, so x / s is exact in floating point.

Only features far from unit scale are rescaled (median and RMS both beyond 2^±3): a law without constants,
such as m a, is as short as it gets in the given features and would need a constant in scaled ones (c m' a').

Mapping a program of the scaled features back replaces x'_k by x_k / s_k. The factors are pushed up
through products, quotients and powers and absorbed into constants that multiply the subtree linearly
(c1 - c2 r' becomes c1 - (c2 / s) r), so a law keeps its complexity wherever it has such a constant.
Only where no constant can take a factor is a multiplication by a constant added (+2 complexity).
"""
import math
from dataclasses import dataclass

import numpy as np

from symdistill.components.sr.operators import CODE_OF, CONST, VAR, arity_of_code
from symdistill.components.sr.program import Program, make_program


RESCALE_BEYOND = 3  # binary orders of magnitude from 1 that both typical sizes of a feature must exceed


def feature_scales(X: np.ndarray) -> np.ndarray:
    """Per column, the power of two nearest its median magnitude if both that median and the root-mean-square
    lie ``RESCALE_BEYOND`` or more binary orders of magnitude from 1 on the same side; else 1.

    Both, because heavy tails make one of them misleading: close encounters put the RMS of a gravitational
    dx at 7 while half the pairs are within 1.9, and the summed messages of a 1/r^2 force have a median of
    0.007 with an RMS of 0.4. Scaling those would cost the constant-free law m_j dx / r^3 a constant.
    """
    X = np.abs(np.asarray(X, dtype=np.float64))
    with np.errstate(all="ignore"):
        typical = np.log2(np.stack([np.median(X, axis=0), np.sqrt(np.mean(X * X, axis=0))]))
    far = np.isfinite(typical).all(axis=0) & (np.sign(typical[0]) == np.sign(typical[1])) & \
        (np.abs(typical) >= RESCALE_BEYOND).all(axis=0)
    return np.exp2(np.where(far, np.round(np.where(far, typical[0], 0.0)), 0.0))


@dataclass(frozen=True)
class _Node:
    code: int
    arg: int = 0
    value: float = 0.0
    children: tuple = ()


def rescale_variables(program: Program, factors) -> Program:
    """``program`` with each variable x_k replaced by ``factors[k]`` * x_k, the same function exactly
    (up to rounding where a factor passes through a power), with the factors taken into constants."""
    factors = np.asarray(factors, dtype=np.float64)
    used = program.args[program.codes == VAR]
    if np.all(factors[used] == 1.0):
        return program
    root, _ = _tree(program, len(program) - 1)
    codes, args, values = [], [], []
    try:
        node, factor = _propagate(root, factors)
        _flatten(_settle(node, factor), codes, args, values)
    except ArithmeticError:  # a factor pushed through a power overflowed (c^(1/1e-5)), or underflowed to 0
        return _substituted(program, factors)
    if not np.isfinite(values).all():
        return _substituted(program, factors)
    return make_program(codes, args, values)


def _substituted(program: Program, factors: np.ndarray) -> Program:
    """Each variable leaf x_k written as (x_k * factor_k): the same function, two nodes more per leaf, for
    the rare program whose factors cannot be taken into its constants in floating point."""
    codes, args, values = [], [], []
    for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
        codes.append(code), args.append(arg), values.append(value)
        if code == VAR and factors[arg] != 1.0:
            codes.extend([CONST, _OP["mul"]])
            args.extend([0, 0])
            values.extend([float(factors[arg]), 0.0])
    return make_program(codes, args, values)


def _tree(program: Program, i: int) -> tuple[_Node, int]:
    """The subtree rooted at postfix index i, and the index just before it."""
    code = int(program.codes[i])
    if code in (CONST, VAR):
        return _Node(code, int(program.args[i]), float(program.values[i])), i - 1
    children, j = [], i - 1
    for _ in range(arity_of_code(code)):
        child, j = _tree(program, j)
        children.append(child)
    return _Node(code, children=tuple(reversed(children))), j


def _flatten(node: _Node, codes, args, values) -> None:
    for child in node.children:
        _flatten(child, codes, args, values)
    codes.append(node.code), args.append(node.arg), values.append(node.value)


_OP = {name: CODE_OF[name] for name in ("add", "sub", "mul", "div", "pow", "neg", "inv", "sqrt", "square",
                                        "cube", "abs")}


def _propagate(node: _Node, factors) -> tuple[_Node, float]:
    """(core, f) with node(scaled variables) == f * core(variables); f is deferred as far up as it can go."""
    if node.code == CONST:
        return node, 1.0
    if node.code == VAR:
        return node, float(factors[node.arg])
    parts = [_propagate(child, factors) for child in node.children]
    code = node.code
    if code in (_OP["mul"], _OP["div"]):
        (a, fa), (b, fb) = parts
        return _Node(code, children=(a, b)), fa * fb if code == _OP["mul"] else fa / fb
    if code in (_OP["add"], _OP["sub"]):
        (a, fa), (b, fb) = parts
        if fa == fb:
            return _Node(code, children=(a, b)), fa
        b_common = _absorb(b, fb / fa)  # a + b keeps a's factor if b can take the ratio, or the reverse
        if b_common is not None:
            return _Node(code, children=(a, b_common)), fa
        a_common = _absorb(a, fa / fb)
        if a_common is not None:
            return _Node(code, children=(a_common, b)), fb
        return _Node(code, children=(_settle(a, fa), _settle(b, fb))), 1.0
    if code == _OP["pow"]:
        (a, fa), (b, fb) = parts
        if b.code == CONST and fa > 0:
            return _Node(code, children=(a, b)), fa ** b.value
        return _Node(code, children=(_settle(a, fa), _settle(b, fb))), 1.0
    if len(parts) == 1:
        (a, fa), = parts
        through = {_OP["neg"]: fa, _OP["inv"]: 1.0 / fa, _OP["square"]: fa * fa, _OP["cube"]: fa ** 3,
                   _OP["abs"]: abs(fa), _OP["sqrt"]: math.sqrt(fa) if fa > 0 else None}
        if through.get(code) is not None:
            return _Node(code, children=(a,)), through[code]
    return _Node(code, children=tuple(_settle(a, fa) for a, fa in parts)), 1.0


def _settle(node: _Node, factor: float) -> _Node:
    """factor * node as a tree: the factor absorbed into constants, else an explicit multiplication."""
    if factor == 1.0:
        return node
    absorbed = _absorb(node, factor)
    return absorbed if absorbed is not None else _Node(_OP["mul"], children=(node, _Node(CONST, value=factor)))


def _absorb(node: _Node, factor: float) -> _Node | None:
    """factor * node by changing constants only, or None if no constant scales the whole subtree."""
    if factor == 1.0:
        return node
    if not math.isfinite(factor) or factor == 0.0:
        return None
    code = node.code
    if code == CONST:
        return _Node(CONST, value=node.value * factor)
    if code == VAR:
        return None
    children = node.children
    if code in (_OP["add"], _OP["sub"]):
        a, b = _absorb(children[0], factor), _absorb(children[1], factor)
        return None if a is None or b is None else _Node(code, children=(a, b))
    if code in (_OP["mul"], _OP["div"]):
        a = _absorb(children[0], factor)
        if a is not None:
            return _Node(code, children=(a, children[1]))
        b = _absorb(children[1], factor if code == _OP["mul"] else 1.0 / factor)
        return None if b is None else _Node(code, children=(children[0], b))
    inner = {_OP["neg"]: factor, _OP["inv"]: 1.0 / factor}
    if factor > 0:
        inner.update({_OP["square"]: math.sqrt(factor), _OP["cube"]: factor ** (1 / 3), _OP["sqrt"]: factor * factor})
        if code == _OP["pow"] and children[1].code == CONST and children[1].value != 0:
            base = _absorb(children[0], factor ** (1.0 / children[1].value))
            return None if base is None else _Node(code, children=(base, children[1]))
    if code in inner:
        a = _absorb(children[0], inner[code])
        return None if a is None else _Node(code, children=(a,))
    return None

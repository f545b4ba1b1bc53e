"""Buckingham-Π reduction: with units, a law without dimensional constants is y = M(x) f(π_1, ..., π_k).

M is a product of powers of the features with y's dimension and the π are the independent dimensionless
products of the features (k = n_features - rank of their dimension matrix), so the search for f runs over
k < n variables. This is AI Feynman's dimensional-analysis step; here it proposes candidates to the
ordinary units-aware search rather than replacing it, since a law may carry dimensional constants
(G, k_B) that its features do not, and then no such f exists.

Exponents are chosen simplest first: a π is a circuit of the dimension matrix (a smallest set of features
whose dimensions are dependent), shorter circuits and smaller exponents first, with more features above
the bar than below, or if as many, oriented to be at most 1 in median on the data (v/c, not c/v); a
dimensionless feature is its own π, as given. M uses the fewest features with the smallest exponents.
"""
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

import numpy as np

from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.program import Program, make_program

_MAX_DENOMINATOR = 2  # exponents of M and of each π are integers or halves (sqrt); others are not offered


@dataclass(frozen=True)
class Reduction:
    monomial: tuple[Fraction, ...]  # exponent of each feature in M
    groups: tuple[tuple[Fraction, ...], ...]  # exponents of each feature in each π

    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M [n_rows], Π [n_rows, k]) on the features X [n_rows, n_features]."""
        groups = np.empty((len(X), len(self.groups)))
        for column, exponents in enumerate(self.groups):
            groups[:, column] = _power_product(X, exponents)
        return _power_product(X, self.monomial), groups

    def describe(self, names) -> tuple[str, list[str]]:
        return _monomial_text(self.monomial, names), [_monomial_text(g, names) for g in self.groups]


def find_reduction(feature_dims, target_dim, X: np.ndarray) -> Reduction | None:
    """The simplest reduction of y's dependence on X, or None when there is nothing to gain: y's dimension is
    not a product of the features' (the law needs a dimensional constant), no feature can be eliminated, or
    M or a π is not finite and non-zero on every row of X."""
    D = np.column_stack(feature_dims) if len(feature_dims) else np.zeros((len(target_dim), 0))
    n = D.shape[1]
    rank = np.linalg.matrix_rank(D) if n else 0
    if n == 0 or rank == 0:
        return None
    monomial = _simplest_monomial(D, np.asarray(target_dim, float), rank)
    if monomial is None:
        return None
    groups = _simplest_groups(D, n - rank, rank, X)
    if groups is None:
        return None
    reduction = Reduction(monomial, groups)
    with np.errstate(all="ignore"):
        M, P = reduction.evaluate(X)
    if not (np.all(np.isfinite(M)) and np.all(M != 0) and np.all(np.isfinite(P))):
        return None
    return reduction


def lift(program: Program, reduction: Reduction) -> Program:
    """A program of the π variables as a program of the original features: M · program(π(x))."""
    pieces = [_monomial_postfix(g) for g in reduction.groups]
    nodes = []
    for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
        nodes += pieces[arg] if code == VAR else [(code, arg, value)]
    if any(reduction.monomial):
        nodes += _monomial_postfix(reduction.monomial) + [(CODE_OF["mul"], 0, 0.0)]
    codes, args, values = zip(*nodes)
    return make_program(codes, args, values)


def _simplest_monomial(D, target, rank):
    if not np.any(target):
        return tuple(Fraction(0) for _ in range(D.shape[1]))
    best = None
    for size in range(1, rank + 1):
        for subset in combinations(range(D.shape[1]), size):
            sub = D[:, subset]
            if np.linalg.matrix_rank(sub) < size:
                continue
            solution, *_ = np.linalg.lstsq(sub, target, rcond=None)
            if not np.allclose(sub @ solution, target, atol=1e-9):
                continue
            exponents = _rational(solution)
            if exponents is None:
                continue
            full = [Fraction(0)] * D.shape[1]
            for i, e in zip(subset, exponents):
                full[i] = e
            cost = (max(abs(e) for e in exponents), sum(abs(e) for e in exponents))
            if best is None or cost < best[0]:
                best = (cost, tuple(full))
        if best is not None:  # fewest features first
            return best[1]
    return None


def _simplest_groups(D, nullity, rank, X):
    if nullity == 0:
        return ()
    circuits = []
    for size in range(1, rank + 2):
        for subset in combinations(range(D.shape[1]), size):
            sub = D[:, subset]
            if np.linalg.matrix_rank(sub) != size - 1:
                continue
            vector = np.linalg.svd(sub)[2][-1]
            if np.min(np.abs(vector)) < 1e-9:  # a smaller circuit inside: already listed
                continue
            exponents = _rational(vector / np.min(np.abs(vector)))
            if exponents is None:
                continue
            full = np.zeros(D.shape[1])
            full[list(subset)] = [float(e) for e in exponents]
            circuits.append((size, float(np.max(np.abs(full))), float(np.sum(np.abs(full))), full))
    circuits.sort(key=lambda c: c[:3])
    chosen = []
    for *_, vector in circuits:
        if np.linalg.matrix_rank(np.array(chosen + [vector])) == len(chosen) + 1:
            chosen.append(_oriented(vector, X))
        if len(chosen) == nullity:
            return tuple(tuple(Fraction(v).limit_denominator(_MAX_DENOMINATOR) for v in g) for g in chosen)
    return None


def _oriented(vector, X):
    """The π or its inverse: more features in the numerator than the denominator (a dimensionless feature
    stays as given); if as many, the one whose median magnitude is at most 1 (a small parameter, like v/c)."""
    balance = np.sum(vector)
    if balance:
        return vector if balance > 0 else -vector
    with np.errstate(all="ignore"):
        values = np.abs(_power_product(X, vector))
    return -vector if np.nanmedian(values) > 1 else vector


def _rational(values):
    """Exponents as fractions with denominator at most 2, or None if they are not (up to 1e-6)."""
    out = []
    for v in values:
        f = Fraction(float(v)).limit_denominator(_MAX_DENOMINATOR)
        if abs(float(f) - v) > 1e-6 or abs(f) > 6:
            return None
        out.append(f)
    return out


def _power_product(X, exponents):
    """Π x_i^e_i; NaN where a half-integer power meets a negative feature (the lifted sqrt would too)."""
    result = np.ones(len(X))
    for column, e in enumerate(exponents):
        if e:
            result = result * np.power(X[:, column], float(e))
    return result


def _monomial_postfix(exponents) -> list[tuple[int, int, float]]:
    """Postfix nodes of Π x_i^e_i: integer powers by square/cube/mul chains, a half-integer one as sqrt of
    the doubled product, negative ones under a division."""
    if any(Fraction(e).denominator > 1 for e in exponents):
        return _monomial_postfix([2 * Fraction(e) for e in exponents]) + [(CODE_OF["sqrt"], 0, 0.0)]
    numerator = _product([(i, int(e)) for i, e in enumerate(exponents) if e > 0])
    denominator = _product([(i, -int(e)) for i, e in enumerate(exponents) if e < 0])
    if not numerator:
        return denominator + [(CODE_OF["inv"], 0, 0.0)] if denominator else [(CONST, 0, 1.0)]
    return numerator + denominator + [(CODE_OF["div"], 0, 0.0)] if denominator else numerator


def _product(powers) -> list[tuple[int, int, float]]:
    nodes = []
    for k, (index, power) in enumerate(powers):
        nodes += _integer_power(index, power)
        if k:
            nodes.append((CODE_OF["mul"], 0, 0.0))
    return nodes


def _integer_power(index, power) -> list[tuple[int, int, float]]:
    leaf = [(VAR, index, 0.0)]
    if power == 1:
        return leaf
    if power in (2, 3):
        return leaf + [(CODE_OF["square" if power == 2 else "cube"], 0, 0.0)]
    half = _integer_power(index, power // 2) + [(CODE_OF["square"], 0, 0.0)]
    return half + leaf + [(CODE_OF["mul"], 0, 0.0)] if power % 2 else half


def _monomial_text(exponents, names) -> str:
    parts = [name if e == 1 else f"{name}^{e}" if Fraction(e).denominator == 1 else f"{name}^({e})"
             for name, e in zip(names, exponents) if e]
    return "·".join(parts) or "1"

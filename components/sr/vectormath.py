"""exp, log, sin and cos over a block of rows in loops LLVM can vectorize (AVX2 here: 4 doubles per instruction).

numba's np.exp/np.sin call libm once per row, and llvmlite here has no SVML, so those loops stay scalar
and dominate the evaluator on programs with transcendental operators. These kernels use only
arithmetic, comparisons and integer shifts, branch-free within a block:

- exp: x = k ln2 + r with |r| <= ln2/2 (ln2 in two parts, so k ln2 is exact), exp(r) by its Taylor series
  to degree 13 (truncation below 5e-18 relative), times 2^k built in the exponent bits, in two halves so
  that results down to the subnormals and up to overflow come out right (exp(>709.78) = inf, exp(<-745.1) = 0).
- log: x = 2^k m with m in [sqrt(1/2), sqrt(2)) read from the bits, log(m) = log(1 + f) by fdlibm's
  minimax polynomial in s = f / (2 + f), plus k ln2 in two parts. A block holding 0, a negative, a subnormal
  or a non-finite argument falls back to libm (the evaluator rejects such programs anyway).
- sin, cos: x = n π/2 + y with π/2 in three parts of 33 bits (Cody and Waite; the two-step reduction of
  fdlibm's medium range, about 118 bits of π/2), y carried as a head and a tail, then the minimax
  polynomials of fdlibm's kernels on |y| <= π/4 and a quadrant select. Valid for |x| <= FAST_LIMIT, where
  n π/2 is exact; a block holding a larger or non-finite argument falls back to libm.

Accuracy, measured against numpy (glibc) over the whole double range by ``tests/test_sr_vectormath.py``:
at most 1 ulp apart for exp and log and, for |x| <= FAST_LIMIT, for sin and cos (away from the zeros of sin and cos
at large |x|, where both are limited by the reduction and the absolute error stays below 1e-16 |x| ulp(1)).
The numbers (split constants, polynomial coefficients) are the published ones; the code is ours.
"""
import numpy as np
from numba import njit

FAST_LIMIT = 524288.0  # 2^19: |n| < 2^19 keeps n times each 33-bit part of π/2 exact
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND - _ROUND rounds x to an integer, without a conversion
_ROUND_BITS = 0x4338000000000000  # its bit pattern: the bits of x + _ROUND are _ROUND_BITS + round(x)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts; k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXP_HI, _EXP_LO = 710.0, -746.0  # beyond these exp overflows / underflows to 0 anyway
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6, _LG7 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
_MANTISSA, _ONE_BITS = 0x000FFFFFFFFFFFFF, 0x3FF0000000000000
_SMALLEST_NORMAL, _LARGEST = 2.2250738585072014e-308, 1.7976931348623157e308
_INV_PIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e+00  # π/2: first 33 bits
_PIO2_1T = 6.07710050650619224932e-11  # π/2 - _PIO2_1
_PIO2_2 = 6.07710050630396597660e-11  # next 33 bits
_PIO2_2T = 2.02226624879595063154e-21  # π/2 - _PIO2_1 - _PIO2_2
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
# 1/k! for k = 13 .. 2, Horner order
_E13, _E12, _E11, _E10 = 1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0
_E9, _E8, _E7, _E6 = 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0
_E5, _E4, _E3, _E2 = 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5


def scratch(block: int) -> np.ndarray:
    """The float64 work space the kernels need for one block: [4, block]."""
    return np.empty((4, block))


@njit(cache=True, inline="always", error_model="numpy")
def exp_block(a, n, work):
    """a[:n] = exp(a[:n]) for finite a (the evaluator checks before exp); work: ``scratch``."""
    t, p, s1, s2 = work[0], work[1], work[2], work[3]
    for r in range(n):
        x = min(max(np.float64(a[r]), _EXP_LO), _EXP_HI)
        shifted = x * _LOG2E + _ROUND
        k = shifted - _ROUND
        y = (x - k * _LN2_HI) - k * _LN2_LO
        q = _E13
        q = q * y + _E12
        q = q * y + _E11
        q = q * y + _E10
        q = q * y + _E9
        q = q * y + _E8
        q = q * y + _E7
        q = q * y + _E6
        q = q * y + _E5
        q = q * y + _E4
        q = q * y + _E3
        q = q * y + _E2
        p[r] = 1.0 + y + y * y * q
        t[r] = shifted
    bits, half, rest = t.view(np.int64), s1.view(np.int64), s2.view(np.int64)
    for r in range(n):
        k = bits[r] - _ROUND_BITS
        h = k >> 1  # 2^k as 2^h 2^(k-h): each factor a normal number even when 2^k is not
        half[r] = (h + 1023) << 52
        rest[r] = (k - h + 1023) << 52
    for r in range(n):
        a[r] = p[r] * s1[r] * s2[r]


@njit(cache=True, inline="always", error_model="numpy")
def _normal_positive(a, n):
    ok = True
    for r in range(n):
        x = np.float64(a[r])
        ok &= (x >= _SMALLEST_NORMAL) & (x <= _LARGEST)  # False for 0, negatives, subnormals, inf and nan
    return ok


@njit(cache=True, inline="always", error_model="numpy")
def log_block(a, n, work):
    """a[:n] = log(a[:n]); libm for a block with any argument that is not a positive normal number."""
    if not _normal_positive(a, n):
        for r in range(n):
            a[r] = np.log(a[r])
        return
    x, m, k = work[0], work[1], work[2]
    xb, mb, kb = x.view(np.int64), m.view(np.int64), k.view(np.int64)
    for r in range(n):
        x[r] = a[r]
    for r in range(n):
        bits = xb[r]
        mb[r] = (bits & _MANTISSA) | _ONE_BITS  # m in [1, 2)
        kb[r] = ((bits >> 52) - 1023) + _ROUND_BITS  # the exponent, as the bits of _ROUND + k
    for r in range(n):
        mantissa = m[r]
        exponent = k[r] - _ROUND
        high = mantissa > _SQRT2  # m in [sqrt(1/2), sqrt(2)): the polynomial's range
        mantissa = mantissa * 0.5 if high else mantissa
        exponent = exponent + 1.0 if high else exponent
        f = mantissa - 1.0
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        odd = w * (_LG2 + w * (_LG4 + w * _LG6))
        even = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
        half_square = 0.5 * f * f
        a[r] = exponent * _LN2_HI - ((half_square - (s * (half_square + odd + even) + exponent * _LN2_LO)) - f)


@njit(cache=True, inline="always", error_model="numpy")
def _fast_range(a, n):
    ok = True
    for r in range(n):
        ok &= abs(np.float64(a[r])) <= FAST_LIMIT  # False for inf and nan too
    return ok


@njit(cache=True, inline="always", error_model="numpy")
def sin_cos_block(a, n, work, cosine):
    """a[:n] = sin(a[:n]) (cos if ``cosine``); libm for a block with any |x| > FAST_LIMIT or non-finite x."""
    if not _fast_range(a, n):
        if cosine:
            for r in range(n):
                a[r] = np.cos(a[r])
        else:
            for r in range(n):
                a[r] = np.sin(a[r])
        return
    shift = 1.0 if cosine else 0.0  # cos(x) = sin(x + π/2): one quadrant on
    for r in range(n):
        x = np.float64(a[r])
        m = (x * _INV_PIO2 + _ROUND) - _ROUND
        head = x - m * _PIO2_1  # exact
        w = m * _PIO2_2  # exact
        h2 = head - w
        w = m * _PIO2_2T - ((head - h2) - w)
        y = h2 - w  # x - m π/2, head ...
        tail = (h2 - y) - w  # ... and tail
        z = y * y
        v = z * y
        s = y - ((z * (0.5 * tail - v * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6))))) - tail) - v * _S1)
        hz = 0.5 * z
        c0 = 1.0 - hz
        c = c0 + (((1.0 - c0) - hz) + (z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
                                       - y * tail))
        quadrant = m + shift
        quadrant = quadrant - 4.0 * np.floor(quadrant * 0.25)  # 0, 1, 2 or 3
        odd = (quadrant == 1.0) | (quadrant == 3.0)
        value = c if odd else s
        a[r] = -value if quadrant >= 2.0 else value

"""The numba evaluator: a whole population on the data in row blocks, plus constant derivatives.

Naive algorithm: for each program, walk its postfix nodes with a stack of column vectors,
pushing variables and constants and applying operators to the top of the stack.
Optimization (as in Operon): the walk runs over blocks of BLOCK rows held in a small [depth, BLOCK]
scratch buffer that stays in cache; programs run in parallel. A leaf that is the right operand of
add/sub/mul/div is applied in place from X or its constant, without a copy onto the stack; exp, log, sin
and cos run as vectorizable block kernels (``vectormath.py``: libm calls would stay scalar, no SVML here).
NaN/Inf anywhere invalidates a program:
operands are checked only before the operators that could map them to finite values (div, pow, inv,
exp, tanh), and the result at the end, since every other operator propagates them.
X is laid out [n_features, n_rows] so a variable's block is contiguous. X may be float64 or float32;
values, stack and results take its dtype. Custom operators (codes >= CUSTOM_UNARY) are called through the
function table ``kernels`` of ``custom.kernel_table()``; the public functions pass it for the caller.
"""
import numpy as np
from numba import njit, prange

from symdistill.components.sr.custom import call_binary, call_unary, run_in_threads, table_for, uses_custom
from symdistill.components.sr.operators import (ABS, ADD, CONST, COS, CUBE, CUSTOM_BINARY, CUSTOM_UNARY, DIV, EXP,
                                                INV, LOG, MUL, NEG, POW, SIN, SQRT, SQUARE, SUB, TANH, VAR)
from symdistill.components.sr.vectormath import exp_block, log_block, sin_cos_block

BLOCK = 128
# Operator codes are the named constants of operators.py (binary builtins ADD..POW, then the unary ones;
# custom unary from CUSTOM_UNARY, custom binary from CUSTOM_BINARY).


@njit(cache=True, inline="always", error_model="numpy")
def _all_finite(row, n):
    ok = True
    for r in range(n):
        ok &= row[r] - row[r] == 0.0  # finite -> 0, inf or nan -> nan; an AND reduction vectorizes, a sum would not
    return ok


@njit(cache=True, inline="always", error_model="numpy")
def _apply_leaf(code, a, X, f, c, start, n, op):
    """a[:n] = a[:n] <op> leaf, the leaf a constant c (code CONST) or feature f's rows: no copy onto the stack."""
    if code == CONST:
        if op == ADD:
            for r in range(n):
                a[r] = a[r] + c
        elif op == SUB:
            for r in range(n):
                a[r] = a[r] - c
        elif op == MUL:
            for r in range(n):
                a[r] = a[r] * c
        else:
            for r in range(n):
                a[r] = a[r] / c
        return
    x = X[f, start:start + n]
    if op == ADD:
        for r in range(n):
            a[r] = a[r] + x[r]
    elif op == SUB:
        for r in range(n):
            a[r] = a[r] - x[r]
    elif op == MUL:
        for r in range(n):
            a[r] = a[r] * x[r]
    else:
        for r in range(n):
            a[r] = a[r] / x[r]


@njit(cache=True, error_model="numpy")
def _run_block(codes, args, values, begin, end, X, start, n, stack, work, kernels):
    """Evaluate nodes [begin, end) on rows [start, start + n); result in stack[0]. Returns False on NaN/Inf.
    ``work``: vectormath.scratch(BLOCK)."""
    sp = 0
    i = begin
    while i < end:
        code = codes[i]
        i += 1
        if code <= VAR:
            following = codes[i] if i < end else -1
            if ADD <= following <= DIV:  # a leaf followed by add/sub/mul/div is that operator's right operand
                a = stack[sp - 1]
                # x / inf = 0 would hide a non-finite dividend (the data and constants are finite)
                if following == DIV and not _all_finite(a, n):
                    return False
                _apply_leaf(code, a, X, args[i - 1], values[i - 1], start, n, following)
                i += 1
                continue
            if code == CONST:
                c = values[i - 1]
                for r in range(n):
                    stack[sp, r] = c
            else:
                x = X[args[i - 1], start:start + n]
                for r in range(n):
                    stack[sp, r] = x[r]
            sp += 1
            continue
        if code <= POW or code >= CUSTOM_BINARY:
            a = stack[sp - 2]
            b = stack[sp - 1]
            sp -= 1
            # x / inf = 0 and nan ** 0 = 1 would hide a non-finite operand (a custom operator might too)
            if code >= DIV and not (_all_finite(a, n) and _all_finite(b, n)):
                return False
            if code == ADD:
                for r in range(n):
                    a[r] = a[r] + b[r]
            elif code == SUB:
                for r in range(n):
                    a[r] = a[r] - b[r]
            elif code == MUL:
                for r in range(n):
                    a[r] = a[r] * b[r]
            elif code == DIV:
                for r in range(n):
                    a[r] = a[r] / b[r]
            elif code == POW:
                for r in range(n):
                    a[r] = a[r] ** b[r]
            else:
                for r in range(n):
                    a[r] = call_binary(kernels, 2, code - CUSTOM_BINARY, np.float64(a[r]), np.float64(b[r]))
            continue
        a = stack[sp - 1]
        # inv(inf) = 0, exp(-inf) = 0 and tanh(inf) = 1 would hide a non-finite operand
        if (code == INV or code == EXP or code == TANH or code >= CUSTOM_UNARY) and not _all_finite(a, n):
            return False
        if code == NEG:
            for r in range(n):
                a[r] = -a[r]
        elif code == INV:
            for r in range(n):
                a[r] = 1.0 / a[r]
        elif code == SQRT:
            for r in range(n):
                a[r] = np.sqrt(a[r])
        elif code == SQUARE:
            for r in range(n):
                a[r] = a[r] * a[r]
        elif code == CUBE:
            for r in range(n):
                a[r] = a[r] * a[r] * a[r]
        elif code == EXP:
            exp_block(a, n, work)
        elif code == LOG:
            log_block(a, n, work)
        elif code == SIN or code == COS:
            sin_cos_block(a, n, work, code == COS)
        elif code == TANH:
            for r in range(n):
                a[r] = np.tanh(a[r])
        elif code == ABS:
            for r in range(n):
                a[r] = np.abs(a[r])
        else:
            for r in range(n):
                a[r] = call_unary(kernels, 0, code - CUSTOM_UNARY, np.float64(a[r]))
    # Every other operator propagates NaN/Inf, so checking the result catches the rest.
    return _all_finite(stack[0], n)


@njit(cache=True, inline="always")
def _max_length(offsets):
    longest = 1
    for p in range(offsets.size - 1):
        longest = max(longest, offsets[p + 1] - offsets[p])
    return longest


@njit(cache=True, error_model="numpy")
def _evaluate_program(codes, args, values, begin, end, X, stack, work, out_row, kernels):
    n_rows = X.shape[1]
    for start in range(0, n_rows, BLOCK):
        n = min(BLOCK, n_rows - start)
        if not _run_block(codes, args, values, begin, end, X, start, n, stack, work, kernels):
            return False
        for r in range(n):
            out_row[start + r] = stack[0, r]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _evaluate_population_serial(codes, args, values, offsets, X, kernels):
    n_programs = offsets.size - 1
    out = np.empty((n_programs, X.shape[1]), dtype=X.dtype)
    ok = np.ones(n_programs, dtype=np.bool_)
    stack = np.empty((_max_length(offsets), BLOCK), dtype=X.dtype)
    work = np.empty((4, BLOCK))
    for p in range(n_programs):
        ok[p] = _evaluate_program(codes, args, values, offsets[p], offsets[p + 1], X, stack, work, out[p], kernels)
    return out, ok


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _evaluate_population(codes, args, values, offsets, X):
    n_programs = offsets.size - 1
    out = np.empty((n_programs, X.shape[1]), dtype=X.dtype)
    ok = np.ones(n_programs, dtype=np.bool_)
    depth = _max_length(offsets)
    for p in prange(n_programs):
        stack = np.empty((depth, BLOCK), dtype=X.dtype)
        work = np.empty((4, BLOCK))
        ok[p] = _evaluate_program(codes, args, values, offsets[p], offsets[p + 1], X, stack, work, out[p], None)
    return out, ok


def evaluate_population(codes, args, values, offsets, X):
    """Values [n_programs, n_rows] (X's dtype) and ok flags [n_programs] of programs ``offsets[p]:offsets[p+1]``."""
    if uses_custom(codes):
        parts = run_in_threads(_evaluate_population_serial, codes, args, values, offsets, X)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _evaluate_population(codes, args, values, offsets, X)


def evaluate_population_serial(codes, args, values, offsets, X):
    """As ``evaluate_population`` on one thread: no thread-pool start-up, for small populations."""
    return _evaluate_population_serial(codes, args, values, offsets, X, table_for(codes))


@njit(cache=True, inline="always", error_model="numpy")
def _elementwise_loss(residual, kind, delta):
    if kind == 0:
        return residual * residual
    a = abs(residual)
    if kind == 1:
        return a
    return 0.5 * residual * residual if a <= delta else delta * (a - 0.5 * delta)


@njit(cache=True, error_model="numpy")
def _program_loss(codes, args, values, begin, end, X, y, weights, loss_kind, delta, stack, work, kernels):
    total = 0.0  # accumulated in float64 whatever X's dtype
    for start in range(0, X.shape[1], BLOCK):
        n = min(BLOCK, X.shape[1] - start)
        if not _run_block(codes, args, values, begin, end, X, start, n, stack, work, kernels):
            return np.inf
        for r in range(n):
            total += weights[start + r] * _elementwise_loss(stack[0, r] - y[start + r], loss_kind, delta)
    return total / weights.sum()


@njit(cache=True, nogil=True, error_model="numpy")
def _population_losses_serial(codes, args, values, offsets, X, y, weights, loss_kind, delta, kernels):
    losses = np.empty(offsets.size - 1)
    stack = np.empty((_max_length(offsets), BLOCK), dtype=X.dtype)
    work = np.empty((4, BLOCK))
    for p in range(offsets.size - 1):
        losses[p] = _program_loss(codes, args, values, offsets[p], offsets[p + 1], X, y, weights, loss_kind, delta,
                                  stack, work, kernels)
    return losses


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _population_losses(codes, args, values, offsets, X, y, weights, loss_kind, delta):
    losses = np.empty(offsets.size - 1)
    depth = _max_length(offsets)
    for p in prange(offsets.size - 1):
        stack = np.empty((depth, BLOCK), dtype=X.dtype)
        work = np.empty((4, BLOCK))
        losses[p] = _program_loss(codes, args, values, offsets[p], offsets[p + 1], X, y, weights, loss_kind, delta,
                                  stack, work, None)
    return losses


def population_losses(codes, args, values, offsets, X, y, weights, loss_kind, delta):
    """Weighted mean elementwise loss per program (inf where invalid), without storing predictions.

    loss_kind: 0 squared error, 1 absolute error, 2 Huber with ``delta``; weights: [n_rows].
    """
    if uses_custom(codes):
        return np.concatenate(run_in_threads(_population_losses_serial, codes, args, values, offsets, X, y, weights,
                                             loss_kind, delta))
    return _population_losses(codes, args, values, offsets, X, y, weights, loss_kind, delta)


def population_losses_serial(codes, args, values, offsets, X, y, weights, loss_kind, delta):
    """As ``population_losses`` on one thread."""
    return _population_losses_serial(codes, args, values, offsets, X, y, weights, loss_kind, delta, table_for(codes))


def evaluate_with_jacobian(codes, args, values, const_slot, n_consts, X):
    """Values [n_rows] and d value / d constant [n_consts, n_rows] of one program, by forward mode.

    const_slot[i] is the constant index of CONST node i (-1 otherwise). Returns ok=False on NaN/Inf.
    Each node's operator is dispatched once; its value and derivative loops run over all rows.
    Always float64: constant fitting needs the precision.
    """
    return jacobian_kernel(codes, args, values, const_slot, n_consts, X, table_for(codes))


@njit(cache=True, nogil=True, error_model="numpy")
def jacobian_kernel(codes, args, values, const_slot, n_consts, X, kernels):
    """``evaluate_with_jacobian`` with an explicit custom-operator table, callable from numba code."""
    n_nodes, n_rows, K = codes.size, X.shape[1], n_consts
    val = np.empty((n_nodes, n_rows))
    der = np.empty((n_nodes, K, n_rows))
    work = np.empty((4, n_rows))
    sp = 0
    for i in range(n_nodes):
        code = codes[i]
        if code <= VAR:
            der[sp] = 0.0
            if code == CONST:
                val[sp] = values[i]
                der[sp, const_slot[i]] = 1.0
            else:
                val[sp] = X[args[i]]
            sp += 1
            continue
        if code <= POW or code >= CUSTOM_BINARY:
            a, b, da, db = val[sp - 2], val[sp - 1], der[sp - 2], der[sp - 1]
            sp -= 1
            if code == ADD:
                for r in range(n_rows):
                    a[r] += b[r]
                for k in range(K):
                    for r in range(n_rows):
                        da[k, r] += db[k, r]
            elif code == SUB:
                for r in range(n_rows):
                    a[r] -= b[r]
                for k in range(K):
                    for r in range(n_rows):
                        da[k, r] -= db[k, r]
            elif code == MUL:
                for k in range(K):
                    for r in range(n_rows):
                        da[k, r] = da[k, r] * b[r] + a[r] * db[k, r]
                for r in range(n_rows):
                    a[r] *= b[r]
            elif code == DIV:
                for r in range(n_rows):
                    a[r] /= b[r]
                for k in range(K):
                    for r in range(n_rows):
                        da[k, r] = (da[k, r] - a[r] * db[k, r]) / b[r]
            elif code >= CUSTOM_BINARY:
                j = code - CUSTOM_BINARY
                for r in range(n_rows):
                    ga, gb = call_binary(kernels, 3, j, a[r], b[r]), call_binary(kernels, 4, j, a[r], b[r])
                    for k in range(K):
                        da[k, r] = ga * da[k, r] + gb * db[k, r]
                    a[r] = call_binary(kernels, 2, j, a[r], b[r])
            else:
                for k in range(K):
                    for r in range(n_rows):
                        grad = 0.0
                        if da[k, r] != 0.0:
                            grad = b[r] * a[r] ** (b[r] - 1.0) * da[k, r]
                        if db[k, r] != 0.0:
                            grad += a[r] ** b[r] * np.log(a[r]) * db[k, r]
                        da[k, r] = grad
                for r in range(n_rows):
                    a[r] = a[r] ** b[r]
            if not _all_finite(a, n_rows):
                return val[0], der[0], False
            continue
        a, da = val[sp - 1], der[sp - 1]
        g = np.empty(n_rows)
        if code == NEG:
            for r in range(n_rows):
                a[r], g[r] = -a[r], -1.0
        elif code == INV:
            for r in range(n_rows):
                v = 1.0 / a[r]
                a[r], g[r] = v, -v * v
        elif code == SQRT:
            for r in range(n_rows):
                v = np.sqrt(a[r])
                a[r], g[r] = v, 0.5 / v
        elif code == SQUARE:
            for r in range(n_rows):
                a[r], g[r] = a[r] * a[r], 2.0 * a[r]
        elif code == CUBE:
            for r in range(n_rows):
                a[r], g[r] = a[r] * a[r] * a[r], 3.0 * a[r] * a[r]
        elif code == EXP:
            if not _all_finite(a, n_rows):  # exp_block needs finite arguments; exp(-inf) = 0 would hide one
                return val[0], der[0], False
            exp_block(a, n_rows, work)
            g[:] = a
        elif code == LOG:
            for r in range(n_rows):
                g[r] = 1.0 / a[r]
            log_block(a, n_rows, work)
        elif code == SIN or code == COS:
            g[:] = a
            sin_cos_block(a, n_rows, work, code == COS)  # the value
            sin_cos_block(g, n_rows, work, code == SIN)  # the derivative: cos for sin, -sin for cos
            if code == COS:
                for r in range(n_rows):
                    g[r] = -g[r]
        elif code == TANH:
            for r in range(n_rows):
                v = np.tanh(a[r])
                a[r], g[r] = v, 1.0 - v * v
        elif code == ABS:
            for r in range(n_rows):
                x = a[r]
                a[r], g[r] = abs(x), (1.0 if x > 0 else (-1.0 if x < 0 else 0.0))
        else:
            for r in range(n_rows):
                x = a[r]
                j = code - CUSTOM_UNARY
                a[r], g[r] = call_unary(kernels, 0, j, x), call_unary(kernels, 1, j, x)
        for k in range(K):
            for r in range(n_rows):
                da[k, r] *= g[r]
        if not _all_finite(a, n_rows):
            return val[0], der[0], False
    return val[0], der[0], True

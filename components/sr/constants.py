"""Constant fitting by Levenberg-Marquardt on the exact Jacobian (forward mode through the program).

PySR runs 8 BFGS iterations on a few members; Operon fits every coefficient with LM. Here LM runs in
numba, for one program or for a whole batch of children in parallel.
"""
import numpy as np
from numba import njit, prange

from symdistill.components.sr.custom import run_in_threads, table_for, uses_custom
from symdistill.components.sr.evaluate import jacobian_kernel
from symdistill.components.sr.operators import CONST
from symdistill.components.sr.program import Program


@njit(cache=True, error_model="numpy")
def _weighted_loss(residual, weights):
    total, norm = 0.0, 0.0
    for r in range(residual.size):
        total += weights[r] * residual[r] * residual[r]
        norm += weights[r]
    return total / norm


@njit(cache=True, error_model="numpy")
def _solve_small(A, b):
    """Solve A x = b by Gaussian elimination with partial pivoting; ok is False if A is singular or not finite."""
    n = b.size
    M = A.copy()
    x = b.copy()
    for col in range(n):
        pivot = col
        for row in range(col + 1, n):
            if abs(M[row, col]) > abs(M[pivot, col]):
                pivot = row
        if not np.isfinite(M[pivot, col]) or abs(M[pivot, col]) < 1e-300:
            return x, False
        if pivot != col:
            for k in range(n):
                M[col, k], M[pivot, k] = M[pivot, k], M[col, k]
            x[col], x[pivot] = x[pivot], x[col]
        for row in range(col + 1, n):
            factor = M[row, col] / M[col, col]
            for k in range(col, n):
                M[row, k] -= factor * M[col, k]
            x[row] -= factor * x[col]
    for row in range(n - 1, -1, -1):
        total = x[row]
        for k in range(row + 1, n):
            total -= M[row, k] * x[k]
        x[row] = total / M[row, row]
    for k in range(n):
        if not np.isfinite(x[k]):
            return x, False
    return x, True


@njit(cache=True, error_model="numpy")
def _levenberg_marquardt(codes, args, values, XT, y, weights, max_iterations, tolerance, kernels):
    """Fit the CONST values of one program in place; return its weighted mean squared error."""
    n = codes.size
    slots = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        if codes[i] == 0:
            slots[i] = k
            k += 1
    pred, jac, ok = jacobian_kernel(codes, args, values, slots, max(k, 1), XT, kernels)
    if not ok:
        return np.inf
    residual = pred - y
    loss = _weighted_loss(residual, weights)
    if k == 0:
        return loss
    damping = 1e-3
    trial = values.copy()
    for _ in range(max_iterations):
        normal = np.zeros((k, k))
        gradient = np.zeros(k)
        for a in range(k):
            for r in range(y.size):
                wj = weights[r] * jac[a, r]
                gradient[a] += wj * residual[r]
                for b in range(a, k):
                    normal[a, b] += wj * jac[b, r]
            for b in range(a):
                normal[a, b] = normal[b, a]
        improved = False
        converged = False
        for _attempt in range(8):
            system = normal.copy()
            for a in range(k):
                system[a, a] += damping * (normal[a, a] + 1e-12)
            step, solved = _solve_small(system, -gradient)
            if not solved:  # a non-finite derivative (sqrt at 0, say) or a singular system: stop here
                return loss
            for i in range(n):
                trial[i] = values[i] + step[slots[i]] if slots[i] >= 0 else values[i]
            t_pred, t_jac, t_ok = jacobian_kernel(codes, args, trial, slots, k, XT, kernels)
            if t_ok:
                t_residual = t_pred - y
                t_loss = _weighted_loss(t_residual, weights)
                if t_loss < loss:
                    converged = loss - t_loss <= tolerance * loss
                    values[:] = trial
                    loss, residual, jac = t_loss, t_residual, t_jac
                    damping = max(damping / 3.0, 1e-12)
                    improved = True
                    break
            damping *= 4.0
        if not improved or converged:
            break
    return loss


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations, kernels):
    fitted = values.copy()
    losses = np.empty(offsets.size - 1)
    for p in range(offsets.size - 1):
        segment = fitted[offsets[p]:offsets[p + 1]]
        losses[p] = _levenberg_marquardt(codes[offsets[p]:offsets[p + 1]], args[offsets[p]:offsets[p + 1]],
                                         segment, XT, y, weights, max_iterations, 1e-10, kernels)
    return fitted, losses


@njit(cache=True, parallel=True, error_model="numpy")
def _fit_population(codes, args, values, offsets, XT, y, weights, max_iterations):
    fitted = values.copy()
    losses = np.empty(offsets.size - 1)
    for p in prange(offsets.size - 1):
        segment = fitted[offsets[p]:offsets[p + 1]].copy()
        losses[p] = _levenberg_marquardt(codes[offsets[p]:offsets[p + 1]], args[offsets[p]:offsets[p + 1]],
                                         segment, XT, y, weights, max_iterations, 1e-10, None)
        fitted[offsets[p]:offsets[p + 1]] = segment
    return fitted, losses


def fit_population(codes, args, values, offsets, XT, y, weights, max_iterations):
    """Fit the constants of every program (CSR-packed); returns (new values, squared-error losses).

    Fitting runs in float64 whatever the search's precision: constants need it.
    """
    XT, y, weights = (np.asarray(a, dtype=np.float64) for a in (XT, y, weights))
    if uses_custom(codes):
        parts = run_in_threads(_fit_population_serial, codes, args, values, offsets, XT, y, weights, max_iterations)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _fit_population(codes, args, values, offsets, XT, y, weights, max_iterations)


def fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations):
    """As ``fit_population`` on one thread."""
    XT, y, weights = (np.asarray(a, dtype=np.float64) for a in (XT, y, weights))
    return _fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations, table_for(codes))


def fit_constants(program: Program, XT: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                  max_iterations: int = 30) -> tuple[Program, float]:
    """Least-squares constants of ``program`` on (XT [n_features, n_rows], y); returns (program, mse).

    The weighted mean squared error never increases: a step is kept only if it lowers it.
    """
    XT, y = np.asarray(XT, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weights = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    values = program.values.copy()
    loss = _levenberg_marquardt(program.codes, program.args, values, XT, y, weights, max_iterations, 1e-10,
                                table_for(program.codes))
    if not (program.codes == CONST).any() or not np.isfinite(loss):
        return program, loss
    return Program(program.codes, program.args, values), loss

"""Constant fitting by Levenberg-Marquardt on the exact Jacobian (forward mode through the program).

PySR runs 8 BFGS iterations on a few members; Operon fits every coefficient with LM. Here LM runs in
numba, for one program or for a whole batch of children in parallel, without the GIL. For the l1 and
Huber losses LM runs inside iteratively reweighted least squares: each round weighs a row by
psi(residual) / residual of the loss (1 / |residual| for l1; 1, or delta / |residual| beyond delta, for
Huber), so the constants are those of the loss the search ranks by, not of the squared error.
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


@njit(cache=True, nogil=True, error_model="numpy")
def _least_squares(codes, args, values, XT, y, weights, max_iterations, tolerance, kernels, slots, k):
    """LM on the weighted squared error, CONST values updated in place; returns that error."""
    n = codes.size
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
def _robust_loss(codes, args, values, XT, y, weights, loss_kind, delta, kernels, slots, k, out_factor):
    """The weighted mean l1 (loss_kind 1) or Huber (2) loss, and in ``out_factor`` each row's IRLS weight."""
    pred, _, ok = jacobian_kernel(codes, args, values, slots, max(k, 1), XT, kernels)
    if not ok:
        return np.inf
    total, norm = 0.0, 0.0
    for r in range(y.size):
        a = abs(pred[r] - y[r])
        if loss_kind == 1:
            total += weights[r] * a
        else:
            total += weights[r] * (0.5 * a * a if a <= delta else delta * (a - 0.5 * delta))
        norm += weights[r]
        out_factor[r] = a
    # psi(e)/e, floored so an exactly fitted row does not take all the weight
    floor = 1e-9 * (total / norm) + 1e-300
    for r in range(y.size):
        a = max(out_factor[r], floor)
        out_factor[r] = weights[r] / a if loss_kind == 1 else (weights[r] if a <= delta else weights[r] * delta / a)
    return total / norm


@njit(cache=True, nogil=True, error_model="numpy")
def _levenberg_marquardt(codes, args, values, XT, y, weights, max_iterations, tolerance, kernels, loss_kind, delta):
    """Fit the CONST values of one program in place for ``loss_kind`` (0 l2, 1 l1, 2 Huber with ``delta``);
    returns that loss (weighted mean). l1 and Huber: IRLS rounds, each a few LM steps, keeping the best."""
    n = codes.size
    slots = np.full(n, -1, dtype=np.int64)
    k = 0
    for i in range(n):
        if codes[i] == CONST:
            slots[i] = k
            k += 1
    if loss_kind == 0:
        return _least_squares(codes, args, values, XT, y, weights, max_iterations, tolerance, kernels, slots, k)
    factor = np.empty(y.size)
    loss = _robust_loss(codes, args, values, XT, y, weights, loss_kind, delta, kernels, slots, k, factor)
    if k == 0 or not np.isfinite(loss):
        return loss
    # IRLS converges linearly and each weighted problem is nearly solved in a few steps: many short rounds
    steps = min(3, max_iterations)
    rounds = max(1, max_iterations // steps)
    trial = values.copy()
    for _ in range(rounds):
        trial[:] = values
        _least_squares(codes, args, trial, XT, y, factor, steps, tolerance, kernels, slots, k)
        reweighted = np.empty(y.size)
        t_loss = _robust_loss(codes, args, trial, XT, y, weights, loss_kind, delta, kernels, slots, k, reweighted)
        if not t_loss < loss:
            break
        converged = loss - t_loss <= tolerance * loss
        values[:] = trial
        loss, factor = t_loss, reweighted
        if converged:
            break
    return loss


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind, delta, kernels):
    fitted = values.copy()
    losses = np.empty(offsets.size - 1)
    for p in range(offsets.size - 1):
        segment = fitted[offsets[p]:offsets[p + 1]]
        losses[p] = _levenberg_marquardt(codes[offsets[p]:offsets[p + 1]], args[offsets[p]:offsets[p + 1]],
                                         segment, XT, y, weights, max_iterations, 1e-10, kernels, loss_kind, delta)
    return fitted, losses


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _fit_population(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind, delta):
    fitted = values.copy()
    losses = np.empty(offsets.size - 1)
    for p in prange(offsets.size - 1):
        segment = fitted[offsets[p]:offsets[p + 1]].copy()
        losses[p] = _levenberg_marquardt(codes[offsets[p]:offsets[p + 1]], args[offsets[p]:offsets[p + 1]],
                                         segment, XT, y, weights, max_iterations, 1e-10, None, loss_kind, delta)
        fitted[offsets[p]:offsets[p + 1]] = segment
    return fitted, losses


def fit_population(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind=0, delta=1.0):
    """Fit the constants of every program (CSR-packed) for ``loss_kind`` (0 l2, 1 l1, 2 Huber with
    ``delta``); returns (new values, that loss per program).

    Fitting runs in float64 whatever the search's precision: constants need it.
    """
    XT, y, weights = (np.asarray(a, dtype=np.float64) for a in (XT, y, weights))
    if uses_custom(codes):
        parts = run_in_threads(_fit_population_serial, codes, args, values, offsets, XT, y, weights, max_iterations,
                               loss_kind, delta)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _fit_population(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind, delta)


def fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind=0, delta=1.0):
    """As ``fit_population`` on one thread."""
    XT, y, weights = (np.asarray(a, dtype=np.float64) for a in (XT, y, weights))
    return _fit_population_serial(codes, args, values, offsets, XT, y, weights, max_iterations, loss_kind, delta,
                                  table_for(codes))


def fit_constants(program: Program, XT: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                  max_iterations: int = 30, loss_kind: int = 0, delta: float = 1.0) -> tuple[Program, float]:
    """Constants of ``program`` on (XT [n_features, n_rows], y) for ``loss_kind`` (0 l2, 1 l1, 2 Huber);
    returns (program, that weighted mean loss). The loss never increases: a step is kept only if it lowers it.
    """
    XT, y = np.asarray(XT, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weights = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    values = program.values.copy()
    loss = _levenberg_marquardt(program.codes, program.args, values, XT, y, weights, max_iterations, 1e-10,
                                table_for(program.codes), loss_kind, delta)
    if not (program.codes == CONST).any() or not np.isfinite(loss):
        return program, loss
    return Program(program.codes, program.args, values), loss

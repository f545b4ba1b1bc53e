"""Constant fitting by Levenberg-Marquardt on the exact Jacobian (forward-mode through the program).

PySR runs 8 BFGS iterations on a few members; Operon fits every coefficient with LM. LM on the exact
Jacobian converges in a handful of steps on these small least-squares problems.
"""
import numpy as np

from symdistill.components.sr.evaluate import evaluate_with_jacobian
from symdistill.components.sr.operators import CONST
from symdistill.components.sr.program import Program


def fit_constants(program: Program, XT: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                  max_iterations: int = 30, tolerance: float = 1e-10) -> tuple[Program, float]:
    """Least-squares constants of ``program`` on (XT [n_features, n_rows], y); returns (program, mse).

    The weighted mean squared error never increases: a step is kept only if it lowers the loss.
    """
    is_const = program.codes == CONST
    n_consts = int(is_const.sum())
    weights = np.ones_like(y) if weights is None else weights
    slots = np.full(len(program), -1, dtype=np.int64)
    slots[is_const] = np.arange(n_consts)
    values = program.values.copy()

    def loss_and_jacobian(vals):
        pred, jac, ok = evaluate_with_jacobian(program.codes, program.args, vals, slots, max(n_consts, 1), XT)
        if not ok:
            return np.inf, None, None
        residual = pred - y
        return float(np.sum(weights * residual ** 2) / np.sum(weights)), residual, jac

    loss, residual, jac = loss_and_jacobian(values)
    if n_consts == 0 or not np.isfinite(loss):
        return program, loss
    damping = 1e-3
    for _ in range(max_iterations):
        wj = jac * weights  # [k, n]
        normal = wj @ jac.T
        gradient = wj @ residual
        improved = False
        for _attempt in range(8):
            system = normal + damping * np.diag(np.diag(normal) + 1e-12)
            try:
                step = np.linalg.solve(system, -gradient)
            except np.linalg.LinAlgError:
                damping *= 10.0
                continue
            trial = values.copy()
            trial[is_const] += step
            trial_loss, trial_residual, trial_jac = loss_and_jacobian(trial)
            if trial_loss < loss:
                converged = loss - trial_loss <= tolerance * max(loss, 1e-300)
                values, loss, residual, jac = trial, trial_loss, trial_residual, trial_jac
                damping = max(damping / 3.0, 1e-12)
                improved = True
                break
            damping *= 4.0
        if not improved or converged:
            break
    return Program(program.codes, program.args, values), loss

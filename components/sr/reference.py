"""A plain evaluator that calls numpy once per node: the yardstick for tests and benchmarks."""
import numpy as np

from symdistill.components.sr.operators import CONST, OPERATOR_OF_CODE, VAR
from symdistill.components.sr.program import Program


def reference_evaluate(program: Program, X: np.ndarray) -> tuple[np.ndarray, bool]:
    """X: [n_rows, n_features] -> (values [n_rows], ok). ok is False if any node yields NaN/Inf."""
    stack = []
    with np.errstate(all="ignore"):
        for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
            if code == CONST:
                stack.append(np.full(X.shape[0], value))
                continue
            if code == VAR:
                stack.append(X[:, arg].astype(float))
                continue
            op = OPERATOR_OF_CODE[code]
            operands = [stack.pop() for _ in range(op.arity)][::-1]
            result = op.numpy_fn(*operands)
            if not np.isfinite(result).all():
                return result, False
            stack.append(result)
    return stack[0], True

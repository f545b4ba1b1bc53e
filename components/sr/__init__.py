"""The symbolic regression engine: programs, the numba evaluator, island evolution and the estimator."""

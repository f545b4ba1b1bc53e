"""The symbolic regression engine: programs, the numba evaluator, island evolution and the estimator."""
from symdistill.components.sr.custom import OperatorRegistrationError, register_operator
from symdistill.components.sr.estimator import SymbolicRegressor
from symdistill.components.sr.options import OptionsError, SearchOptions
from symdistill.components.sr.program import Program, ProgramError
from symdistill.components.sr.units import UnitsError

__all__ = ["OperatorRegistrationError", "OptionsError", "Program", "ProgramError", "SearchOptions",
           "SymbolicRegressor", "UnitsError", "register_operator"]

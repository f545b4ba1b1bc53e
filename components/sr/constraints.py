"""Which programs a search may keep: size, depth, operand-size and nesting constraints."""
import numpy as np

from symdistill.components.sr.operators import CODE_OF, VAR, arity_of_code
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.program import Program, depth, subtree_sizes


class Constraints:
    """Compiled form of the options' constraints, checked on every new program."""

    def __init__(self, options: SearchOptions):
        self.max_size = options.max_size
        self.max_depth = options.max_depth
        self.complexity_of = np.asarray(options.complexity_table(), dtype=np.int64)
        # code -> (max left operand complexity, max right) for binary, (max operand,) for unary; -1 = any
        self.operand_limits = {CODE_OF[name]: tuple(limits if isinstance(limits, (list, tuple)) else (limits,))
                               for name, limits in options.constraints.items()}
        self.nesting = {CODE_OF[outer]: {CODE_OF[inner]: int(n) for inner, n in inner_table.items()}
                        for outer, inner_table in options.nested_constraints.items()}

    def complexity(self, program: Program) -> int:
        return int(self.complexity_of[program.codes].sum())

    def allows(self, program: Program) -> bool:
        if self.complexity(program) > self.max_size or depth(program.codes) > self.max_depth:
            return False
        if not self.operand_limits and not self.nesting:
            return True
        sizes = subtree_sizes(program.codes)
        cumulative = np.concatenate([[0], np.cumsum(self.complexity_of[program.codes])])
        for i, code in enumerate(program.codes.tolist()):
            if code <= VAR:
                continue
            limits = self.operand_limits.get(code)
            if limits is not None and not self._operands_fit(i, code, sizes, cumulative, limits):
                return False
            inner = self.nesting.get(code)
            if inner is not None and not self._nesting_fits(program.codes[i - sizes[i] + 1:i], inner):
                return False
        return True

    @staticmethod
    def _operands_fit(i, code, sizes, cumulative, limits) -> bool:
        def cost(start, end):  # inclusive node range
            return cumulative[end + 1] - cumulative[start]

        if arity_of_code(code) == 1:
            return limits[0] < 0 or cost(i - sizes[i] + 1, i - 1) <= limits[0]
        right_end = i - 1
        right_start = right_end - sizes[right_end] + 1
        left_start = i - sizes[i] + 1
        left_ok = limits[0] < 0 or cost(left_start, right_start - 1) <= limits[0]
        right_ok = len(limits) < 2 or limits[1] < 0 or cost(right_start, right_end) <= limits[1]
        return left_ok and right_ok

    @staticmethod
    def _nesting_fits(inside: np.ndarray, inner: dict[int, int]) -> bool:
        # Counting occurrences bounds nesting depth from above: strict but simple.
        return all(int((inside == code).sum()) <= allowed for code, allowed in inner.items())

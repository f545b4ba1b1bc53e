"""Programs: flat postfix arrays (root last) with constants kept apart from structure.

``codes[i]`` is the operator code of node i (CONST, VAR or an operator); ``args[i]`` is the feature
index of a VAR node and 0 otherwise; ``values[i]`` is the value of a CONST node and 0 otherwise.
Subtree i is the slice ``[i - sizes[i] + 1, i]``. Re-fitting constants never touches structure.
"""
from dataclasses import dataclass

import numpy as np
from numba import njit

from symdistill.components.sr.operators import ARITY, CONST, OPERATOR_OF_CODE, VAR, arity_of_code, operator_code


class ProgramError(ValueError):
    pass


@dataclass(frozen=True, eq=False)
class Program:
    codes: np.ndarray  # int16 [n]
    args: np.ndarray  # int32 [n]
    values: np.ndarray  # float64 [n]

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def constants(self) -> np.ndarray:
        return self.values[self.codes == CONST]

    def with_constants(self, constants: np.ndarray) -> "Program":
        values = self.values.copy()
        values[self.codes == CONST] = constants
        return Program(self.codes, self.args, values)

    def key(self) -> bytes:
        """Identity of the structure and constants, for de-duplication."""
        return self.codes.tobytes() + self.args.tobytes() + self.values.tobytes()

    def structure_key(self) -> bytes:
        return self.codes.tobytes() + self.args.tobytes()

    def to_dict(self) -> dict:
        """Operator names and plain lists: what artifacts and bundles store."""
        nodes = []
        for code, arg, value in zip(self.codes.tolist(), self.args.tolist(), self.values.tolist()):
            if code == CONST:
                nodes.append(["const", value])
            elif code == VAR:
                nodes.append(["var", arg])
            else:
                nodes.append([OPERATOR_OF_CODE[code].name])
        return {"postfix": nodes}

    @classmethod
    def from_dict(cls, data: dict, n_features: int | None = None) -> "Program":
        """Rebuild from ``to_dict`` output, validating every name, index and the arity balance."""
        nodes = data.get("postfix") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or not nodes:
            raise ProgramError("a program needs a non-empty 'postfix' list")
        codes, args, values = [], [], []
        for node in nodes:
            if not isinstance(node, list) or not node or not isinstance(node[0], str):
                raise ProgramError(f"bad program node {node!r}")
            kind = node[0]
            if kind == "const" and len(node) == 2 and isinstance(node[1], (int, float)):
                codes.append(CONST), args.append(0), values.append(float(node[1]))
            elif kind == "var" and len(node) == 2 and isinstance(node[1], int) and node[1] >= 0:
                codes.append(VAR), args.append(node[1]), values.append(0.0)
            elif len(node) == 1:
                codes.append(operator_code(kind)), args.append(0), values.append(0.0)
            else:
                raise ProgramError(f"bad program node {node!r}")
        program = make_program(codes, args, values)
        validate(program, n_features)
        return program


def make_program(codes, args, values) -> Program:
    return Program(np.asarray(codes, dtype=np.int16), np.asarray(args, dtype=np.int32),
                   np.asarray(values, dtype=np.float64))


def constant(value: float) -> Program:
    return make_program([CONST], [0], [value])


def variable(index: int) -> Program:
    return make_program([VAR], [index], [0.0])


def validate(program: Program, n_features: int | None = None) -> None:
    """Raise ProgramError unless the postfix arrays describe exactly one well-formed tree."""
    depth = 0
    for i, code in enumerate(program.codes.tolist()):
        if code not in (CONST, VAR) and code not in OPERATOR_OF_CODE:
            raise ProgramError(f"node {i}: unknown operator code {code}")
        if code == VAR and n_features is not None and not 0 <= program.args[i] < n_features:
            raise ProgramError(f"node {i}: feature index {program.args[i]} outside 0..{n_features - 1}")
        depth += 1 - arity_of_code(code)
        if depth < 1:
            raise ProgramError(f"node {i}: operator without enough operands")
    if depth != 1:
        raise ProgramError(f"postfix program leaves {depth} values, not 1")
    if not np.isfinite(program.values).all():
        raise ProgramError("program constants must be finite")


def subtree_sizes(codes: np.ndarray) -> np.ndarray:
    """sizes[i] = number of nodes in the subtree rooted at node i."""
    return _shape(codes, ARITY)[0]


def depth(codes: np.ndarray) -> int:
    return int(_shape(codes, ARITY)[1])


@njit(cache=True)
def _shape(codes, arity):
    """(subtree size per node, depth of the tree) in one stack pass; compiled, as the search asks for every
    child it breeds."""
    sizes = np.empty(len(codes), dtype=np.int32)
    size_stack = np.empty(len(codes), dtype=np.int32)
    depth_stack = np.empty(len(codes), dtype=np.int64)
    top = 0
    for i in range(len(codes)):
        size, below = 1, 0
        for _ in range(arity[codes[i]]):
            top -= 1
            size += size_stack[top]
            below = max(below, depth_stack[top])
        sizes[i] = size
        size_stack[top], depth_stack[top] = size, below + 1
        top += 1
    return sizes, depth_stack[top - 1]


def complexity(program: Program, weights: dict[int, int] | None = None) -> int:
    """Node count, or the sum of per-code weights where given."""
    if not weights:
        return len(program)
    return int(sum(weights.get(int(c), 1) for c in program.codes))


def pack(programs: list[Program]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate programs CSR-style: (codes, args, values, offsets) for the population kernels."""
    lengths = np.fromiter((len(p) for p in programs), dtype=np.int64, count=len(programs))
    offsets = np.zeros(len(programs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not programs:
        return np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0), offsets
    return (np.concatenate([p.codes for p in programs]), np.concatenate([p.args for p in programs]),
            np.concatenate([p.values for p in programs]), offsets)

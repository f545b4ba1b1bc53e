"""Random programs and the genetic operators, all on postfix arrays with subtree sizes.

Subtree i is ``[i - sizes[i] + 1, i]``; the right child of a binary node i ends at i - 1 and its left
child ends just before the right child starts. Every operator returns a new Program (inputs are never
modified) or None when it does not apply.
"""
from dataclasses import dataclass

import numpy as np

from symdistill.components.sr.operators import ARITY, CODE_OF, CONST, VAR, arity_of_code
from symdistill.components.sr.program import Program, make_program, subtree_sizes


@dataclass(frozen=True)
class Grammar:
    """What programs may contain: operator codes by arity and the number of features."""

    binary: tuple[int, ...]
    unary: tuple[int, ...]
    n_features: int
    const_probability: float = 0.3

    def random_leaf(self, rng) -> tuple[int, int, float]:
        if rng.random() < self.const_probability:
            return CONST, 0, float(rng.normal())
        return VAR, int(rng.integers(self.n_features)), 0.0

    def random_operator(self, rng, arity: int | None = None) -> int:
        if arity is None:
            n_b, n_u = len(self.binary), len(self.unary)
            arity = 2 if rng.random() < n_b / max(n_b + n_u, 1) else 1
        choices = self.binary if arity == 2 and self.binary else self.unary or self.binary
        return int(choices[rng.integers(len(choices))])


def _concat(*parts) -> Program:
    return Program(np.concatenate([p[0] for p in parts], dtype=np.int16),
                   np.concatenate([p[1] for p in parts], dtype=np.int32),
                   np.concatenate([p[2] for p in parts], dtype=np.float64))


def _slice(program: Program, start: int, stop: int):
    return program.codes[start:stop], program.args[start:stop], program.values[start:stop]


def _node(code, arg=0, value=0.0):
    return np.array([code], np.int16), np.array([arg], np.int32), np.array([value], np.float64)


def _children(sizes, i):
    """(left_start, left_end, right_start, right_end) of binary node i, ends inclusive."""
    right_end = i - 1
    right_start = right_end - sizes[right_end] + 1
    left_end = right_start - 1
    return left_end - sizes[left_end] + 1, left_end, right_start, right_end


def replace_subtree(program: Program, i: int, new: Program, sizes=None) -> Program:
    sizes = subtree_sizes(program.codes) if sizes is None else sizes
    start = i - sizes[i] + 1
    return _concat(_slice(program, 0, start), _slice(new, 0, len(new)), _slice(program, i + 1, len(program)))


def subtree(program: Program, i: int, sizes=None) -> Program:
    sizes = subtree_sizes(program.codes) if sizes is None else sizes
    return _concat(_slice(program, i - sizes[i] + 1, i + 1))


def random_program(grammar: Grammar, size: int, rng) -> Program:
    """A random program of about ``size`` nodes, grown by repeated node insertion."""
    program = make_program(*[[x] for x in grammar.random_leaf(rng)])
    while len(program) < size:
        grown = insert_node(program, grammar, rng, allow_binary=len(program) + 2 <= size)
        if grown is None:  # only binary operators and one node short of the size
            break
        program = grown
    return program


def insert_node(program: Program, grammar: Grammar, rng, allow_binary: bool = True) -> Program:
    """Put a new operator above a random subtree (a binary one gets a new leaf as its other operand)."""
    sizes = subtree_sizes(program.codes)
    i = int(rng.integers(len(program)))
    arity = None if allow_binary and grammar.binary else 1
    if arity == 1 and not grammar.unary:
        return None
    code = grammar.random_operator(rng, arity)
    below = subtree(program, i, sizes)
    if arity_of_code(code) == 1:
        new = _concat(_slice(below, 0, len(below)), _node(code))
    else:
        leaf = _node(*grammar.random_leaf(rng))
        pieces = (_slice(below, 0, len(below)), leaf) if rng.random() < 0.5 else (leaf, _slice(below, 0, len(below)))
        new = _concat(*pieces, _node(code))
    return replace_subtree(program, i, new, sizes)


def _pick(indices, rng) -> int | None:
    """A uniformly chosen entry of ``indices``, or None if there is none."""
    indices = np.asarray(indices)
    return int(indices[rng.integers(indices.size)]) if indices.size else None


def delete_node(program: Program, grammar: Grammar, rng) -> Program | None:
    """Replace a random operator node by one of its operands."""
    i = _pick(np.flatnonzero(program.codes > VAR), rng)
    if i is None:
        return None
    sizes = subtree_sizes(program.codes)
    if arity_of_code(int(program.codes[i])) == 1:
        kept = subtree(program, i - 1, sizes)
    else:
        l0, l1, r0, r1 = _children(sizes, i)
        kept = _concat(_slice(program, l0, l1 + 1)) if rng.random() < 0.5 else _concat(_slice(program, r0, r1 + 1))
    return replace_subtree(program, i, kept, sizes)


def deletions(program: Program) -> list[Program]:
    """Every program made by replacing one operator node by one of its operands."""
    sizes = subtree_sizes(program.codes)
    out = []
    for i in np.flatnonzero(program.codes > VAR):
        if arity_of_code(int(program.codes[i])) == 1:
            out.append(replace_subtree(program, i, subtree(program, i - 1, sizes), sizes))
            continue
        l0, l1, r0, r1 = _children(sizes, i)
        out += [replace_subtree(program, i, _concat(_slice(program, a, b + 1)), sizes) for a, b in ((l0, l1), (r0, r1))]
    return out


def term_removals(program: Program) -> list[Program]:
    """Every program with one operand of an add or sub node removed (the other kept): one term fewer."""
    sums = (program.codes == CODE_OF["add"]) | (program.codes == CODE_OF["sub"])
    sizes = subtree_sizes(program.codes)
    out = []
    for i in np.flatnonzero(sums):
        l0, l1, r0, r1 = _children(sizes, i)
        out += [replace_subtree(program, i, _concat(_slice(program, a, b + 1)), sizes) for a, b in ((l0, l1), (r0, r1))]
    return out


def operator_unwrappings(program: Program) -> list[Program]:
    """Every program with one unary operator replaced by its operand, f(u) -> u: the simpler law when the
    operator only bends its argument slightly (sin(c u) = c u for a small argument)."""
    sizes = subtree_sizes(program.codes)
    out = []
    for i in np.flatnonzero(program.codes > VAR):
        if arity_of_code(int(program.codes[i])) == 1:
            out.append(replace_subtree(program, int(i), subtree(program, int(i) - 1, sizes), sizes))
    return out


def leaf_offsets(program: Program) -> list[Program]:
    """Every program with one variable leaf v replaced by (v + c), c = 0 to be fitted: one constant more.
    The growth counterpart of ``term_removals``; an offset on a distance is a softening or a rest length."""
    out = []
    for i in np.flatnonzero(program.codes == VAR):
        shifted = _concat(_slice(program, int(i), int(i) + 1), _node(CONST, 0, 0.0), _node(CODE_OF["add"]))
        out.append(replace_subtree(program, int(i), shifted))
    return out


def change_operator(program: Program, grammar: Grammar, rng) -> Program | None:
    i = _pick(np.flatnonzero(program.codes > VAR), rng)
    if i is None:
        return None
    codes = program.codes.copy()
    codes[i] = grammar.random_operator(rng, arity_of_code(int(codes[i])))
    return Program(codes, program.args, program.values)


def change_feature(program: Program, grammar: Grammar, rng) -> Program | None:
    if grammar.n_features < 2:
        return None
    i = _pick(np.flatnonzero(program.codes == VAR), rng)
    if i is None:
        return None
    args = program.args.copy()
    args[i] = rng.integers(grammar.n_features)
    return Program(program.codes, args, program.values)


def perturb_constant(program: Program, grammar: Grammar, rng, temperature: float = 1.0) -> Program | None:
    i = _pick(np.flatnonzero(program.codes == CONST), rng)
    if i is None:
        return None
    values = program.values.copy()
    factor = np.exp(rng.normal() * (0.1 + temperature))
    values[i] = values[i] * factor if rng.random() < 0.5 else values[i] / factor
    if rng.random() < 0.1:
        values[i] = -values[i]
    return Program(program.codes, program.args, values)


def swap_operands(program: Program, grammar: Grammar, rng) -> Program | None:
    i = _pick(np.flatnonzero(ARITY[program.codes] == 2), rng)
    if i is None:
        return None
    sizes = subtree_sizes(program.codes)
    l0, l1, r0, r1 = _children(sizes, i)
    return _concat(_slice(program, 0, l0), _slice(program, r0, r1 + 1), _slice(program, l0, l1 + 1),
                   _slice(program, i, len(program)))


def rotate(program: Program, grammar: Grammar, rng) -> Program | None:
    """Tree rotation at a binary node with a binary child: a∘(b•c) -> (a∘b)•c, or the mirror."""
    sizes = subtree_sizes(program.codes)
    is_binary = ARITY[program.codes] == 2
    i = _pick([i for i in np.flatnonzero(is_binary) if is_binary[i - 1] or is_binary[_children(sizes, i)[1]]], rng)
    if i is None:
        return None
    l0, l1, r0, r1 = _children(sizes, i)
    top = _node(program.codes[i])
    if is_binary[r1] and (not is_binary[l1] or rng.random() < 0.5):
        b0, b1, c0, c1 = _children(sizes, r1)  # a ∘ (b • c) -> (a ∘ b) • c
        new = _concat(_slice(program, l0, l1 + 1), _slice(program, b0, b1 + 1), top,
                      _slice(program, c0, c1 + 1), _node(program.codes[r1]))
    else:
        a0, a1, b0, b1 = _children(sizes, l1)  # (a • b) ∘ c -> a • (b ∘ c)
        new = _concat(_slice(program, a0, a1 + 1), _slice(program, b0, b1 + 1), _slice(program, r0, r1 + 1),
                      top, _node(program.codes[l1]))
    return _concat(_slice(program, 0, l0), _slice(new, 0, len(new)), _slice(program, i + 1, len(program)))


def crossover(first: Program, second: Program, rng) -> tuple[Program, Program]:
    """Swap a random subtree of each parent."""
    sizes_a, sizes_b = subtree_sizes(first.codes), subtree_sizes(second.codes)
    i, j = int(rng.integers(len(first))), int(rng.integers(len(second)))
    part_a, part_b = subtree(first, i, sizes_a), subtree(second, j, sizes_b)
    return replace_subtree(first, i, part_b, sizes_a), replace_subtree(second, j, part_a, sizes_b)


def fold_constants(program: Program) -> Program:
    """Replace every operator subtree without variables by its value (cheap simplification)."""
    from symdistill.components.sr.reference import reference_evaluate

    sizes = subtree_sizes(program.codes)
    has_var = np.zeros(len(program), dtype=bool)
    for i, code in enumerate(program.codes.tolist()):
        if code == VAR:
            has_var[i] = True
        elif code > VAR:
            has_var[i] = has_var[i - sizes[i] + 1:i].any()
    i = len(program) - 1
    while i >= 0:  # from the root down, so each maximal constant subtree is folded once
        if program.codes[i] > VAR and not has_var[i]:
            value, ok = reference_evaluate(subtree(program, i, sizes), np.zeros((1, 1)))
            if ok:
                folded = replace_subtree(program, i, make_program([CONST], [0], [float(value[0])]), sizes)
                return fold_constants(folded)
        i -= 1
    return program

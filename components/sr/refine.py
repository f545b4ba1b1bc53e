"""Structural local search around the hall of fame's front, with constants fitted.

Evolution keeps a new form only if each step on the way is about as good; some true forms sit two
edits from a near miss. r (r + c)^2 is one: from (r + c)^3 it needs the cube written as (r + c)(r + c)^2
(a neutral step) and then one factor's shift deleted. Each front member's neighbourhood (every single
deletion, also after writing one power as a product) is small, so the search tries all of it every
few rounds: deterministic, and a few hundred constant fits, where evolution may need many rounds of luck.
"""
import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.constraints import Constraints
from symdistill.components.sr.program import Program


def neighbourhood(program: Program, grammar: mutate.Grammar) -> list[Program]:
    """Every single deletion of ``program``, and of each of its powers written as a product."""
    out = mutate.deletions(program)
    for i in mutate.power_nodes(program):
        expanded = mutate.expand_power_at(program, int(i), grammar)
        if expanded is not None:
            out += mutate.deletions(expanded)
    return out


class Refiner:
    """Fits the neighbourhoods of front members on fixed rows.

    Fits are remembered by the program they start from, so a front that changed little costs little;
    the answer does not depend on what was fitted before, which keeps a resumed search exact.
    """

    def __init__(self, grammar: mutate.Grammar, constraints: Constraints, XT, y, weights, iterations: int):
        self.grammar, self.constraints = grammar, constraints
        self.XT, self.y, self.weights, self.iterations = XT, y, weights, iterations
        self.fitted: dict[bytes, Program | None] = {}

    def neighbours(self, front: list[Program]) -> list[Program]:
        """Every allowed neighbour of every front member, constants fitted."""
        out = []
        for program in front:
            for neighbour in map(mutate.fold_constants, neighbourhood(program, self.grammar)):
                fitted = self.fit(neighbour)
                if fitted is not None:
                    out.append(fitted)
        return out

    def fit(self, program: Program) -> Program | None:
        """``program`` with constants fitted on the rows, or None if not allowed or the fit is not finite."""
        key = program.structure_key() + program.values.tobytes()
        if key not in self.fitted:
            self.fitted[key] = None
            if self.constraints.allows(program):
                fitted, loss = fit_constants(program, self.XT, self.y, self.weights, self.iterations)
                self.fitted[key] = fitted if np.isfinite(loss) else None
        return self.fitted[key]

"""Structural local search around the hall of fame's front, with constants fitted.

Evolution keeps a new form only if each step on the way is about as good, and a mutation's constants
start where they were: a deletion that is right in form often looks bad until its constants are re-fitted.
Each front member's neighbourhood (every single deletion of an operator node) is small, so the search
fits all of it every few rounds: deterministic, a few hundred constant fits, for any operator family.
"""
import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.constraints import Constraints
from symdistill.components.sr.program import Program


def neighbourhood(program: Program, grammar: mutate.Grammar) -> list[Program]:
    """Every single deletion of an operator node of ``program``."""
    return mutate.deletions(program)


class Refiner:
    """Fits the neighbourhoods of front members on fixed rows.

    Fits are remembered by the program they start from, so a front that changed little costs little;
    the answer does not depend on what was fitted before, which keeps a resumed search exact.
    """

    def __init__(self, grammar: mutate.Grammar, constraints: Constraints, XT, y, weights, iterations: int,
                 loss_kind: int = 0, delta: float = 1.0):
        self.grammar, self.constraints = grammar, constraints
        self.XT, self.y, self.weights, self.iterations = XT, y, weights, iterations
        self.loss_kind, self.delta = loss_kind, delta  # constants fitted for the loss the search ranks by
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
                fitted, loss = fit_constants(program, self.XT, self.y, self.weights, self.iterations, self.loss_kind,
                                             self.delta)
                self.fitted[key] = fitted if np.isfinite(loss) else None
        return self.fitted[key]

"""Sibling searches: related functions of one model share their fronts while they search.

The message components of one edge model are (close to) linear combinations of the same physical
vector, so a form found for one component is usually the form of the others with other constants
(METHOD.md §1). Searches that run side by side on the same inputs can therefore seed each other: each
round, a search takes its siblings' fronts from the previous round, refits their constants on its own
data, and hands some of them to its islands as migrants (as PySR's ``guesses``, but found, not given).

Every search reads its siblings' fronts of round ``r - 1`` before its round ``r``, waiting for them if
needed, so the result does not depend on thread or worker timing. All siblings must run concurrently
(one thread each), and each must call ``finish`` when it ends, also on error, or the others would wait.
"""
import threading
from contextlib import contextmanager

import numpy as np

from symdistill.components.sr.operators import VAR
from symdistill.components.sr.program import Program


class SiblingExchange:
    """Round-by-round fronts of named searches, published and read in lockstep."""

    def __init__(self, names, relabel: dict[tuple[str, str], np.ndarray] | None = None):
        """``relabel[(source, reader)]``: feature index map applied to ``source``'s programs, beside them as
        they are, when ``reader`` reads them (e.g. exchanging the x and y features of two force components)."""
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError(f"sibling names must be distinct, got {names}")
        self._relabel = {pair: np.asarray(index) for pair, index in (relabel or {}).items()}
        unknown = {n for pair in self._relabel for n in pair} - set(names)
        if unknown:
            raise ValueError(f"relabelling names {sorted(unknown)}, which are not among the siblings {names}")
        self._fronts: dict[str, dict[int, list[Program]]] = {name: {} for name in names}
        self._finished: set[str] = set()
        self._condition = threading.Condition()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._fronts)

    def publish(self, name: str, round_: int, front: list[Program]) -> None:
        """The front of ``name`` after ``round_`` (round 0: the initial populations)."""
        with self._condition:
            self._known(name)[round_] = list(front)
            self._condition.notify_all()

    def finish(self, name: str) -> None:
        """``name`` publishes no more rounds; siblings use its last front from now on."""
        with self._condition:
            self._known(name)
            self._finished.add(name)
            self._condition.notify_all()

    def siblings_front(self, name: str, round_: int) -> list[Program]:
        """The other searches' fronts after ``round_``, each waited for unless that search has finished."""
        self._known(name)
        others = [other for other in self._fronts if other != name]
        with self._condition:
            self._condition.wait_for(lambda: all(round_ in self._fronts[o] or o in self._finished for o in others))
            out = []
            for other in others:
                rounds = [r for r in self._fronts[other] if r <= round_]
                if rounds:
                    front = self._fronts[other][max(rounds)]
                    out += front
                    if (other, name) in self._relabel:
                        out += [relabelled(p, self._relabel[(other, name)]) for p in front]
            return out

    def _known(self, name: str) -> dict[int, list[Program]]:
        if name not in self._fronts:
            raise KeyError(f"{name!r} is not one of the siblings {list(self._fronts)}")
        return self._fronts[name]


def relabelled(program: Program, index: np.ndarray) -> Program:
    """``program`` with each variable k replaced by variable index[k]."""
    is_var = program.codes == VAR
    return Program(program.codes, np.where(is_var, index[program.args], program.args).astype(program.args.dtype),
                   program.values)


@contextmanager
def finishing(siblings: SiblingExchange | None, name: str):
    """Calls ``siblings.finish(name)`` when the block ends, also on error, so no sibling waits for it."""
    try:
        yield
    finally:
        if siblings is not None:
            siblings.finish(name)

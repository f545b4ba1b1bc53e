"""What compose chooses from: each function's front members, or the one expression a user pinned or wrote, and its
siblings' forms moved onto its axis."""
from collections.abc import Callable

import numpy as np
import sympy
import xarray as xr

from symdistill.components.evidence import (GROWTH_STANDARD_ERRORS, Candidate, HeldOut, choose_expressions,
                                            finite_or_none)
from symdistill.components.search import axis_swap
from symdistill.components.sr import Program
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.parse import parse
from symdistill.components.sr.siblings import relabelled
from symdistill.components.train_surrogate import GraphSet


class ComposeError(ValueError):
    """A [compose] setting that does not fit the fronts: an unknown function, a size not on the front, an
    expression that does not parse."""


def check_function_names(pinned: dict, given: dict, functions) -> None:
    unknown = (set(pinned) | set(given)) - set(functions)
    if unknown:
        raise ComposeError(f"[compose] names unknown function(s) {sorted(unknown)}; "
                           f"functions: {', '.join(sorted(functions))}")


def function_candidates(name: str, complexity: np.ndarray, loss: np.ndarray, programs: list[Program],
                        feature_names, pinned: dict, given: dict) -> list[Candidate]:
    """The front's members, simplest first; only the pinned one if [compose] pins the function."""
    if name in given:
        program = given_program(name, given[name], feature_names)
        return [Candidate(len(program), None, program)]
    if name in pinned:
        matches = np.flatnonzero(complexity == pinned[name])
        if not matches.size:
            raise ComposeError(f"[compose] complexity {name} = {pinned[name]}: the front has sizes "
                               f"{', '.join(map(str, complexity))}")
        return [Candidate(int(complexity[matches[0]]), float(loss[matches[0]]), programs[int(matches[0])])]
    return [Candidate(int(c), float(v), p) for c, v, p in zip(complexity, loss, programs)]


def sibling_forms(candidates: dict[str, list[Candidate]], choice: dict[str, int], axes: dict[str, int | None],
                  feature_names: dict[str, tuple[str, ...]], fixed=()) -> dict[str, list[Candidate]]:
    """Per function, the forms its siblings were given, moved onto its own axis (dx <-> dy, ...).

    Space has no preferred direction, so the law of one force component is another's with two axes swapped
    (the search seeds siblings the same way, components/search.py). The network's messages can be distorted
    differently along each axis, so one component's front may lack a form another found; offered to compose
    beside its own front, the held-out evidence decides. Functions in ``fixed`` (pinned or given by the user)
    get none; a form already on the function's front is not repeated.
    """
    out = {}
    for name, own in candidates.items():
        out[name] = []
        if name in fixed or axes.get(name) is None:
            continue
        known = {c.program.key() for c in own}
        for other, theirs in candidates.items():
            if other == name or feature_names[other] != feature_names[name]:
                continue
            index = axis_swap(feature_names[name], axes.get(other), axes[name])
            if index is None:
                continue
            source = theirs[choice[other]]
            form = relabelled(source.program, index)
            if form.key() not in known:
                known.add(form.key())
                out[name].append(Candidate(source.complexity, None, form, f"{other}'s choice, axes swapped"))
    return out


def choose_with_sibling_forms(candidates: dict[str, list[Candidate]], evidence: Callable[[dict[str, Program]], HeldOut],
                              axes: dict[str, int | None], feature_names: dict[str, tuple[str, ...]], fixed=(),
                              max_sweeps: int = 4):
    """``choose_expressions``, then each function's first choice is replaced by a form its siblings chose,
    moved onto its axis (``sibling_forms``), only where that form makes the held-out loss clearly lower
    (GROWTH_STANDARD_ERRORS paired standard errors, and more than the loss's own standard error): a form
    from outside the function's front is a new hypothesis, admitted as an offset is, not for being simpler
    within noise (on r2-3d a simpler sibling form within noise of a near-exact wrong form ended as a law
    refit could not prune to the truth). Sweeps until nothing changes. Returns the candidates (the offered
    forms appended to each front), the choice and the table (the offered forms' rows appended)."""
    seen: dict = {}
    choice, table = choose_expressions(candidates, evidence, seen=seen)
    offered = sibling_forms(candidates, choice, axes, feature_names, fixed)
    if not any(offered.values()):
        return candidates, choice, table
    extended = {name: candidates[name] + offered[name] for name in candidates}

    def measured(name: str, index: int) -> HeldOut:
        programs = {n: extended[n][choice[n]].program for n in extended} | {name: extended[name][index].program}
        key = tuple(programs[n].key() for n in sorted(programs))
        if key not in seen:
            with np.errstate(all="ignore"):
                seen[key] = evidence(programs)
        return seen[key]
    rows = {name: [] for name in extended}
    for _ in range(max_sweeps):
        changed = False
        for name in extended:
            if not offered[name]:
                continue
            current = measured(name, choice[name])
            indices = range(len(candidates[name]), len(extended[name]))
            losses = {i: measured(name, i) for i in indices}
            better = [i for i in indices if losses[i].clearly_better_than(current, GROWTH_STANDARD_ERRORS)
                      and current.mean - losses[i].mean > current.standard_error]
            if better:
                choice[name] = min(better, key=lambda i: losses[i].mean)
                changed = True
            rows[name] = [{"complexity": extended[name][i].complexity, "search_loss": None,
                           "held_out_loss": finite_or_none(losses[i].mean),
                           "held_out_standard_error": finite_or_none(losses[i].standard_error),
                           "origin": extended[name][i].origin, "chosen": False} for i in indices]
        if not changed:
            break
    table = {name: [row | {"chosen": i == choice[name]} for i, row in enumerate(table[name] + rows[name])]
             for name in extended}
    return extended, choice, table


def given_program(name: str, text: str, feature_names) -> Program:
    """A user's expression for one function, parsed without evaluation into a program."""
    symbols = {n: sympy.Symbol(n, real=True) for n in feature_names}
    try:
        return from_sympy(parse(text, symbols), list(feature_names))
    except ValueError as err:
        raise ComposeError(f"[compose] expressions {name} = {text!r}: {err}") from None


def recorded_outputs(node: xr.Dataset, graphs: GraphSet) -> np.ndarray:
    """The network's outputs as capture recorded them on ``graphs``' counted nodes, as ``graphs.rows``."""
    counted = graphs.counted
    rows = np.stack([node["sim"].values, node["time"].values, node["body"].values], axis=1)
    node_graph = graphs.node_graph[counted]
    expected = np.stack([np.asarray(graphs.sim)[node_graph], np.asarray(graphs.time)[node_graph],
                         graphs.body[counted]], axis=1)
    if rows.shape != expected.shape or not np.array_equal(rows, expected):
        raise ValueError("capture's records are not of the frames compose checks against; rerun capture")
    outputs = np.full((graphs.n_nodes, node.sizes["output_component"]), np.nan)
    outputs[counted] = node["outputs"].values
    return graphs.rows(outputs)

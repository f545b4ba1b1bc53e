"""What compose chooses from: each function's front members, or the one expression a user pinned or wrote;
and, with two searches, which search's candidates the law is composed from."""
from collections.abc import Callable

import numpy as np
import sympy
import xarray as xr

from symdistill.components.evidence import Candidate, HeldOut, choose_expressions, finite_or_none, simplest_within_noise
from symdistill.components.sr import Program
from symdistill.components.sr.export import from_sympy
from symdistill.components.sr.parse import parse
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
                        feature_names, pinned: dict, given: dict, search: np.ndarray | None = None) -> list[Candidate]:
    """The front's members, simplest first; only the pinned one if [compose] pins the function (of two
    searches' members of that complexity, the first search's). ``search``: which search found each."""
    search = np.zeros(len(programs), dtype=int) if search is None else search
    if name in given:
        program = given_program(name, given[name], feature_names)
        return [Candidate(len(program), None, program)]
    if name in pinned:
        matches = np.flatnonzero(complexity == pinned[name])
        if not matches.size:
            raise ComposeError(f"[compose] complexity {name} = {pinned[name]}: the front has sizes "
                               f"{', '.join(map(str, complexity))}")
        first = int(matches[0])
        return [Candidate(int(complexity[first]), float(loss[first]), programs[first], int(search[first]))]
    return [Candidate(int(c), float(v), p, int(k)) for c, v, p, k in zip(complexity, loss, programs, search)]


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


SEARCH_CHOICE_RULE = ("with two searches, each function's expression is chosen twice, from the first search's "
                      "candidates alone and from both searches'; when the two compositions differ, each is made "
                      "into its final law (refit, offsets, pruning, snapping, as the refit stage does) and the "
                      "second search's is taken only if its held-out loss is lower beyond noise (the paired "
                      "one-standard-error rule, the first search counting as the simpler)")


def choose_by_search(candidates: dict[str, list[Candidate]], evidence: Callable[[dict[str, Program]], HeldOut],
                     final_law: Callable[[dict[str, Program]], tuple[HeldOut, dict[str, str]]]
                     ) -> tuple[dict[str, int], dict[str, list[dict]], dict | None]:
    """``choose_expressions`` on the first search's candidates alone and on all of them; of the two
    compositions, the one whose final law (``final_law``: held-out loss after the refit stage's
    treatment, and the law's expressions) is simplest within noise, the first search's counting as simpler.

    Choosing per function from the merged candidates alone is not enough: a candidate the second search
    fitted closely (a power with a fitted exponent) can beat, before refit, the first search's exact form that
    needs an offset only refit grows (r (r + ε)²), and then stand in for the law. Returns the chosen index per
    function (into ``candidates``), the chosen run's candidate tables, and a record of the comparison (None
    with one search).
    """
    memo: dict[tuple, HeldOut] = {}  # both choices measure many of the same compositions
    if len({c.search for front in candidates.values() for c in front}) < 2:
        return *choose_expressions(candidates, evidence, memo=memo), None
    kept = {name: [i for i, c in enumerate(front) if c.search == 0] for name, front in candidates.items()}
    first, first_tables = choose_expressions({name: [candidates[name][i] for i in kept[name]] for name in candidates},
                                             evidence, memo=memo)
    runs = [({name: kept[name][i] for name, i in first.items()}, first_tables),
            choose_expressions(candidates, evidence, memo=memo)]
    programs = [{name: candidates[name][i].program for name, i in choice.items()} for choice, _ in runs]
    if all(programs[0][name].key() == programs[1][name].key() for name in candidates):
        return *runs[0], {"rule": SEARCH_CHOICE_RULE, "same_composition": True, "chosen": 0}
    with np.errstate(all="ignore"):
        laws, texts = zip(*(final_law(p) for p in programs))
    chosen = simplest_within_noise(laws, [0, 1], fallback=0)
    best = laws[min(range(2), key=lambda i: laws[i].mean)]
    record = {"rule": SEARCH_CHOICE_RULE, "same_composition": False, "chosen": chosen,
              "final_laws": [{"searches": searches, "expressions": text, "held_out_loss": finite_or_none(law.mean),
                              "held_out_standard_error": finite_or_none(law.standard_error),
                              "excess_over_best": finite_or_none(law.excess_over(best)),
                              **({"undefined": law.undefined} if law.undefined else {})}
                             for searches, law, text in zip(["first", "both"], laws, texts)]}
    return *runs[chosen], record

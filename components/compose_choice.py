"""What compose chooses from: each function's front members, or the one expression a user pinned or wrote."""
import numpy as np
import sympy
import xarray as xr

from symdistill.components.evidence import Candidate
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

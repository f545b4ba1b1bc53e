"""The search stage's science: one symbolic regression problem per captured internal function.

Functions: each significant message component of the edge model (as a function of the edge inputs),
and each output component of the node model (as a function of the body's inputs and the summed
significant message components). The network's own outputs are the targets (METHOD.md §1, step 4).
"""
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import xarray as xr

from symdistill.components.sr import Program, SymbolicRegressor
from symdistill.components.sr.siblings import SiblingExchange

SUM_PREFIX = "sum_message"


@dataclass(frozen=True)
class FunctionData:
    name: str
    X: np.ndarray  # [rows, features]
    y: np.ndarray  # [rows]
    feature_names: tuple[str, ...]


@dataclass(frozen=True)
class FunctionFront:
    """A searched function's Pareto front, simplest first; programs by operator names."""

    name: str
    feature_names: tuple[str, ...]
    complexity: np.ndarray
    loss: np.ndarray
    score: np.ndarray
    expressions: tuple[str, ...]
    programs: tuple[Program, ...]
    best_index: int
    seconds: float


def searched_components(edge: xr.Dataset) -> list[int]:
    """The significant message components, most significant first."""
    return [int(k) for k in edge["message_rank"].values[:int(edge.attrs["significant_components"])]]


def functions_from_capture(edge: xr.Dataset, node: xr.Dataset, max_rows: int) -> list[FunctionData]:
    components = searched_components(edge)
    edge_rows = _spread(edge.sizes["edge"], max_rows)
    edge_names = tuple(str(n) for n in edge["edge_feature"].values)
    functions = [FunctionData(f"edge_message{k}", edge["inputs"].values[edge_rows].astype(float),
                              edge["messages"].values[edge_rows, k].astype(float), edge_names) for k in components]
    node_names = [str(n) for n in node["node_feature"].values]
    keep = [i for i, n in enumerate(node_names) if not n.startswith(SUM_PREFIX)]
    keep += [node_names.index(f"{SUM_PREFIX}{k}") for k in components]
    node_rows = _spread(node.sizes["node"], max_rows)
    X = node["inputs"].values[np.ix_(node_rows, keep)].astype(float)
    for d, output in enumerate(node["output_component"].values):
        functions.append(FunctionData(f"node_{output}", X, node["outputs"].values[node_rows, d].astype(float),
                                      tuple(node_names[i] for i in keep)))
    return functions


def _spread(n: int, limit: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))


def sibling_exchanges(functions: list[FunctionData]) -> dict[str, SiblingExchange | None]:
    """Per function: the exchange it shares with the other functions of the same inputs (None if alone)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for function in functions:
        groups.setdefault(function.feature_names, []).append(function.name)
    out = {}
    for names in groups.values():
        exchange = SiblingExchange(names) if len(names) > 1 else None
        out.update({name: exchange for name in names})
    return out


def search_function(function: FunctionData, *, seed: int, executor=None, progress=None,
                    siblings: SiblingExchange | None = None, **options) -> FunctionFront:
    """Run the SR engine on one function; ``options`` are SymbolicRegressor parameters.

    With ``siblings`` (see ``sibling_exchanges``), every function in it must be searched concurrently.
    """
    estimator = SymbolicRegressor(random_state=seed, **options)
    estimator.fit(function.X, function.y, feature_names=list(function.feature_names), executor=executor,
                  progress=progress, siblings=siblings, sibling_name=function.name)
    front = estimator.pareto_front_
    return FunctionFront(function.name, function.feature_names, front["complexity"].to_numpy(),
                         front["loss"].to_numpy(), front["score"].to_numpy(), tuple(front["expression"]),
                         tuple(estimator.programs_), int(estimator.best_index_), estimator.history_["seconds"])


def search_functions(functions: list[FunctionData], *, seed: int, executor=None,
                     progress: Callable[[int], Callable] | None = None, share_between_siblings: bool = True,
                     **options) -> list[FunctionFront]:
    """Search all functions side by side, one thread each, their islands on ``executor``.

    Side by side keeps the workers busy and lets siblings trade fronts; each function's rounds are
    synchronous, so the fronts do not depend on the number of workers. ``progress(index)`` gives a
    function's progress callback.
    """
    siblings = sibling_exchanges(functions) if share_between_siblings else {}

    def search_one(index):
        return search_function(functions[index], seed=seed, executor=executor,
                               progress=None if progress is None else progress(index),
                               siblings=siblings.get(functions[index].name), **options)
    with ThreadPoolExecutor(max(1, len(functions))) as pool:
        return list(pool.map(search_one, range(len(functions))))

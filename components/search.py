"""The search stage's science: one symbolic regression problem per captured internal function.

Functions: each significant message component of the edge model (as a function of the edge inputs),
and each output component of the node model (as a function of the body's inputs and the summed
significant message components). The network's own outputs are the targets (METHOD.md §1, step 4).
"""
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import xarray as xr

from symdistill.components.function_names import SUM_PREFIX, FunctionName, summed_message
from symdistill.components.sr import Program, SymbolicRegressor
from symdistill.components.sr.siblings import SiblingExchange
from symdistill.components.train_surrogate.graphs import AXES



@dataclass(frozen=True)
class FunctionData:
    name: str
    X: np.ndarray  # [rows, features]
    y: np.ndarray  # [rows]
    feature_names: tuple[str, ...]
    axis: int | None = None  # the spatial axis this function is the component of (messages in the force's axes)
    weights: np.ndarray | None = None  # per row; None: every row alike


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
    search: np.ndarray | None = None  # per member: which operator set's search found it (0: the first); None: all 0

    @property
    def searches(self) -> np.ndarray:
        return np.zeros(len(self.programs), dtype=int) if self.search is None else self.search


def searched_components(edge: xr.Dataset) -> list[int]:
    """The significant message components, most significant first."""
    return [int(k) for k in edge["message_rank"].values[:int(edge.attrs["significant_components"])]]


def functions_from_capture(edge: xr.Dataset, node: xr.Dataset, max_rows: int,
                           weighting: str = "none") -> list[FunctionData]:
    """One FunctionData per significant message component and per node output. ``weighting``
    "relative" weighs each row by ``magnitude_weights`` of its target, "none" weighs rows alike."""
    if weighting not in ("relative", "none"):
        raise ValueError(f"weighting must be 'relative' or 'none', got {weighting!r}")
    functions = _functions(edge, node, max_rows)
    if weighting == "none":
        return functions
    return [FunctionData(f.name, f.X, f.y, f.feature_names, f.axis, magnitude_weights(f.y)) for f in functions]


def magnitude_weights(y: np.ndarray) -> np.ndarray:
    """1 / (y² + the median of y²), scaled to mean 1: the squared error relative to the target's own size,
    floored at its typical size. Heavy-tailed targets (1/r² messages, whose few close pairs carry the
    network's largest errors) are then fitted across their whole range, not by their largest values, as
    the held-out evidence weighs frames (components/evidence.py). Not the default: see SearchConfig."""
    squared = np.asarray(y, float) ** 2
    floor = float(np.median(squared)) or float(np.mean(squared)) or 1.0
    weights = 1.0 / (squared + floor)
    return weights / weights.mean()


def _functions(edge: xr.Dataset, node: xr.Dataset, max_rows: int) -> list[FunctionData]:
    components = searched_components(edge)
    # capture turned the messages into the force's own axes (components/capture.py): message k is axis k
    in_axes = json.loads(edge.attrs.get("message_alignment", "null")) is not None
    edge_rows = _spread(edge.sizes["edge"], max_rows)
    edge_names = tuple(str(n) for n in edge["edge_feature"].values)
    functions = [FunctionData(str(FunctionName.edge(k)), edge["inputs"].values[edge_rows].astype(float),
                              edge["messages"].values[edge_rows, k].astype(float), edge_names,
                              k if in_axes else None) for k in components]
    node_names = [str(n) for n in node["node_feature"].values]
    keep = [i for i, n in enumerate(node_names) if not n.startswith(SUM_PREFIX)]
    keep += [node_names.index(summed_message(k)) for k in components]
    node_rows = _spread(node.sizes["node"], max_rows)
    X = node["inputs"].values[np.ix_(node_rows, keep)].astype(float)
    outputs = [str(o) for o in node["output_component"].values]
    per_axis = in_axes and len(outputs) == len(components)  # e.g. acc_x, acc_y: one output per axis
    for d, output in enumerate(outputs):
        functions.append(FunctionData(str(FunctionName.node(output)), X,
                                      node["outputs"].values[node_rows, d].astype(float),
                                      tuple(node_names[i] for i in keep), d if per_axis else None))
    return functions


def _spread(n: int, limit: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))


def sibling_exchanges(functions: list[FunctionData]) -> dict[str, SiblingExchange | None]:
    """Per function: the exchange it shares with the other functions of the same inputs (None if alone).

    Siblings that are components along different axes also receive each other's forms with those two
    axes swapped (dx <-> dy, sum_message0 <-> sum_message1, ...): space has no preferred direction, so
    F_y(inputs) = F_x(inputs with x and y swapped), and a law found along one axis seeds the others.
    """
    groups: dict[tuple[str, ...], list[FunctionData]] = {}
    for function in functions:
        groups.setdefault(function.feature_names, []).append(function)
    out = {}
    for group in groups.values():
        names = [f.name for f in group]
        relabel = {(a.name, b.name): swap for a in group for b in group if a is not b
                   and (swap := axis_swap(a.feature_names, a.axis, b.axis)) is not None}
        exchange = SiblingExchange(names, relabel) if len(names) > 1 else None
        out.update({name: exchange for name in names})
    return out


def axis_swap(names: tuple[str, ...], a: int | None, b: int | None) -> np.ndarray | None:
    """Feature index map exchanging the per-axis features of axes a and b; None if not both axes or
    some feature has no counterpart."""
    if a is None or b is None or a == b or max(a, b) >= len(AXES):
        return None
    pairs = {}
    for pattern in ("d{}", "dv{}", "v{}_i", "v{}_j", "v{}"):
        pairs[pattern.format(AXES[a])], pairs[pattern.format(AXES[b])] = pattern.format(AXES[b]), pattern.format(AXES[a])
    pairs[summed_message(a)], pairs[summed_message(b)] = summed_message(b), summed_message(a)
    swapped = [pairs.get(n, n) for n in names]
    if any(n not in names for n in swapped):
        return None
    return np.array([names.index(n) for n in swapped], dtype=np.int32)


def search_function(function: FunctionData, *, seed: int, executor=None, progress=None,
                    siblings: SiblingExchange | None = None, **options) -> FunctionFront:
    """Run the SR engine on one function; ``options`` are SymbolicRegressor parameters.

    With ``siblings`` (see ``sibling_exchanges``), every function in it must be searched concurrently.
    """
    # Compose chooses each function's expression on held-out frames, so the search's own pick is only the
    # summary's and the plot's marker: PySR's score rule, which leaves every front member as searched (the
    # engine's default, description length, may re-fit one member's constants for relative errors).
    estimator = SymbolicRegressor(random_state=seed, **{"model_selection": "best", **options})
    estimator.fit(function.X, function.y, sample_weight=function.weights, feature_names=list(function.feature_names),
                  executor=executor,
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


def search_operator_sets(functions: list[FunctionData], operator_sets: list[dict], *, seed: int, executor=None,
                         progress: Callable[[int, int], Callable] | None = None, **options) -> list[FunctionFront]:
    """Search every function once per operator set (``binary_operators``/``unary_operators`` each) and
    give each function both fronts as one list of candidates, simplest first.

    A richer set can write a law that the plain one cannot (r^-3 with pow), but it also holds cheaper
    stand-ins for laws the plain set writes exactly (r^2.9994 for r (r + 0.01)^2) that fit the network's
    messages as well; a front of the richer search alone would lose those. Kept apart, the choice between
    them is left to held-out evidence on the original targets (compose). The searches run side by side,
    which fills the workers while a search waits for its slowest island; each is deterministic on its own.
    ``progress(set, index)`` gives a function's progress callback in one search.
    """
    def search_set(k):
        return search_functions(functions, seed=seed, executor=executor, **options, **operator_sets[k],
                                progress=None if progress is None else (lambda index: progress(k, index)))
    with ThreadPoolExecutor(len(operator_sets)) as pool:
        searched = list(pool.map(search_set, range(len(operator_sets))))
    return [merged_front([fronts[i] for fronts in searched]) for i in range(len(functions))]


def merged_front(fronts: list[FunctionFront]) -> FunctionFront:
    """One function's fronts of several searches as one candidate list ordered by complexity, then search;
    the best is the first search's own pick."""
    if len(fronts) == 1:
        return fronts[0]
    search = np.concatenate([np.full(len(f.programs), k) for k, f in enumerate(fronts)])
    complexity = np.concatenate([f.complexity for f in fronts])
    order = np.lexsort((search, complexity))
    joined = {field: np.concatenate([getattr(f, field) for f in fronts])[order] for field in ("loss", "score")}
    expressions = [e for f in fronts for e in f.expressions]
    programs = [p for f in fronts for p in f.programs]
    first = fronts[0]
    return FunctionFront(first.name, first.feature_names, complexity[order], joined["loss"], joined["score"],
                         tuple(expressions[i] for i in order), tuple(programs[i] for i in order),
                         int(np.flatnonzero(order == first.best_index)[0]), sum(f.seconds for f in fronts),
                         search[order])

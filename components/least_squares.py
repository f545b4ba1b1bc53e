"""Levenberg-Marquardt for the composed model's constants, on the original targets.

A composed law's constants multiply each other across functions (a node's 2.47 times an edge's -0.95 times
1.01), a long flat valley where L-BFGS crawls: on damped-2d 1,000 L-BFGS iterations left the constants 0.1%
off and a spurious 1e-4 beside the mass; Gauss-Newton steps reach the exact law.

The Jacobian (rows x a few dozen constants) comes from the search engine's numba forward-mode kernel
(``sr.evaluate.jacobian_kernel``): each edge function's derivatives are summed into its receivers, and the
node function's derivative with respect to each summed message (a zero constant added to that input, whose
derivative is the input's) carries them to the outputs by the chain rule. Per-body latent parameters enter
through inputs shared across frames; for them the Jacobian comes from torch's forward-mode differentiation
of the ``ComposedModel``. Both are built in pieces of frames (of nodes with a node split), so memory stays
bounded: all 5,000 frames at once took 24 GB in torch.
"""
from dataclasses import dataclass

import numpy as np
import torch

from symdistill.components.compose import ComposedModel, FlatGraphs
from symdistill.components.function_names import summed_message
from symdistill.components.sr.evaluate import evaluate_population_serial, evaluate_with_jacobian
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.components.sr.program import Program
from symdistill.components.train_surrogate import GraphSet

JACOBIAN_BUDGET = 50_000_000  # edges x parameters x program nodes per piece of the Jacobian: about the
# float64 values forward-mode differentiation holds at once (~0.4 GB)


def levenberg_marquardt(model: ComposedModel, graphs: GraphSet, target: torch.Tensor, weights: torch.Tensor,
                        iterations: int, tolerance: float = 1e-15) -> None:
    """Minimise Σ weights (prediction - target)² over the model's parameters, in place.

    ``target`` and ``weights`` are laid out as ``graphs.rows``. Stops after ``iterations`` steps, or once a
    step gains less than ``tolerance`` of the cost, or when no damping finds a lower cost.
    """
    fit = KernelResiduals.of(model, graphs, target, weights) or TorchResiduals(model, graphs, target, weights)
    theta = fit.start()
    cost = fit.cost(theta)
    if not np.isfinite(cost):
        return
    damping = 1e-3
    for _ in range(iterations):
        normal, gradient = fit.normal_equations(theta)
        if not (np.isfinite(normal).all() and np.isfinite(gradient).all()):
            break
        scale = np.maximum(np.diag(normal), 1e-12)
        improved = False
        while damping < 1e12:
            step = np.linalg.solve(normal + damping * np.diag(scale), -gradient)
            cost_new = fit.cost(theta + step)
            if np.isfinite(cost_new) and cost_new < cost:
                improved = cost - cost_new > tolerance * cost
                theta, cost = theta + step, cost_new
                damping = max(damping / 3, 1e-12)
                break
            damping *= 4
        if not improved:
            break
    fit.store(theta)


def _pieces(graphs: GraphSet, root_weights: np.ndarray, target: np.ndarray, per_edge: int) -> list[tuple]:
    """(graphs, root weights, target) per piece under JACOBIAN_BUDGET; the weights and targets as ``rows``."""
    pieces = _node_pieces(graphs, per_edge) if graphs.per_node else _frame_pieces(graphs, per_edge)
    return [(part, root_weights[rows], target[rows]) for part, rows in pieces]


def _frame_pieces(graphs: GraphSet, per_edge: int) -> list[tuple[GraphSet, slice]]:
    """Chunks of whole frames under the budget, each with its rows."""
    per_frame = max(1, int(np.ceil(graphs.n_edges / max(len(graphs), 1)))) * per_edge
    chunk = max(1, JACOBIAN_BUDGET // per_frame)
    runs = [slice(start, min(start + chunk, len(graphs))) for start in range(0, len(graphs), chunk)]
    return [(graphs.subset(run), run) for run in runs]


def _node_pieces(graphs: GraphSet, per_edge: int) -> list[tuple[GraphSet, slice]]:
    """Runs of counted nodes under the budget, each with its incoming edges and senders (one box of 10^5
    halos is one frame, so frames cannot be the unit), and its rows: the counted nodes are the rows, in order."""
    counted = np.flatnonzero(graphs.counted)
    cost = (np.bincount(graphs.receiver, minlength=graphs.n_nodes)[counted] + 1) * per_edge
    run = np.floor_divide(np.cumsum(cost) - cost, JACOBIAN_BUDGET)  # the run each node starts in
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(run)) + 1, [len(counted)]])
    return [(graphs.around(counted[a:b]), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _per_edge(programs, n_parameters: int) -> int:
    return max(1, n_parameters) * max(1, sum(len(program.codes) for program in programs))


class KernelResiduals:
    """Residuals √w (prediction - target) and their normal equations by the engine's numba kernels."""

    @classmethod
    def of(cls, model: ComposedModel, graphs: GraphSet, target: torch.Tensor,
           weights: torch.Tensor) -> "KernelResiduals | None":
        """None where the kernels cannot serve: per-body latent parameters, or edge features beyond the graph's."""
        composition = model.composition
        if model.latent.numel() or len(composition.edge_features) != graphs.edge_x.shape[1]:
            return None
        return cls(model, graphs, target.numpy(), np.sqrt(weights.numpy()))

    def __init__(self, model: ComposedModel, graphs: GraphSet, target: np.ndarray, root_weights: np.ndarray):
        self.model = model
        composition = model.composition
        self.edge = [composition.edge[k] for k in model.edge_keys]
        self.node = [composition.node[name] for name in model.node_names]
        self.sizes = [len(p.constants) for p in self.edge + self.node]
        sums = [composition.node_features.index(summed_message(k)) if summed_message(k) in
                composition.node_features else -1 for k in model.edge_keys]
        layout = _Layout(np.concatenate([[0], np.cumsum(self.sizes)]).astype(int), sums,
                         [np.where(p.codes == CONST, np.cumsum(p.codes == CONST) - 1, -1) for p in self.edge],
                         [_with_input_probes(p, sums) for p in self.node])
        per_edge = _per_edge(self.edge + self.node, sum(self.sizes))
        self.pieces = [_KernelPiece(part, composition, layout, root, goal)
                       for part, root, goal in _pieces(graphs, root_weights, target, per_edge)]

    def start(self) -> np.ndarray:
        return np.concatenate([p.constants for p in self.edge + self.node]).astype(np.float64)

    def _parts(self, theta: np.ndarray) -> list[np.ndarray]:
        """``theta`` split into each program's constants, edge programs first."""
        return np.split(theta, np.cumsum(self.sizes)[:-1])

    def _programs(self, theta: np.ndarray) -> tuple[list[Program], list[Program]]:
        """(edge programs, node programs) with the constants ``theta``."""
        programs = [p.with_constants(c) for p, c in zip(self.edge + self.node, self._parts(theta))]
        return programs[:len(self.edge)], programs[len(self.edge):]

    def cost(self, theta: np.ndarray) -> float:
        edge, node = self._programs(theta)
        total = 0.0
        for piece in self.pieces:
            residual = piece.residuals(edge, node)
            if residual is None:
                return np.inf
            total += float(residual @ residual)
        return total

    def normal_equations(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Jᵀ J and Jᵀ r summed over the pieces (non-finite where a derivative is)."""
        n = len(theta)
        normal, gradient = np.zeros((n, n)), np.zeros(n)
        edge, node = self._programs(theta)
        for piece in self.pieces:
            jacobian, residual = piece.jacobian(edge, node)
            if jacobian is None:
                return np.full((n, n), np.nan), gradient
            normal += jacobian.T @ jacobian
            gradient += jacobian.T @ residual
        return normal, gradient

    def store(self, theta: np.ndarray) -> None:
        with torch.no_grad():
            for module, values in zip(list(self.model.edge_programs) + list(self.model.node_programs),
                                      self._parts(theta)):
                module.constants.copy_(torch.as_tensor(values))


def _with_input_probes(program: Program, inputs: list[int]) -> tuple[Program, np.ndarray, np.ndarray]:
    """The program with each leaf reading one of ``inputs`` written leaf + 0, the zero a constant of its own
    slot after the program's constants: its derivative is the output's derivative with respect to that input.
    Returns the program, the constant slot of every node (-1: none) and the nodes holding its own constants."""
    codes, args, values, slots, own = [], [], [], [], []
    n_own = int((program.codes == CONST).sum())
    k = 0
    for code, arg, value in zip(program.codes.tolist(), program.args.tolist(), program.values.tolist()):
        codes.append(code), args.append(arg), values.append(value)
        if code == CONST:
            slots.append(k), own.append(len(codes) - 1)
            k += 1
        else:
            slots.append(-1)
        if code == VAR and arg in inputs:
            codes += [CONST, CODE_OF["add"]]
            args += [0, 0]
            values += [0.0, 0.0]
            slots += [n_own + inputs.index(arg), -1]
    probed = Program(np.asarray(codes, dtype=program.codes.dtype), np.asarray(args, dtype=program.args.dtype),
                     np.asarray(values, dtype=np.float64))
    return probed, np.asarray(slots, dtype=np.int64), np.asarray(own, dtype=np.int64)


@dataclass(frozen=True)
class _Layout:
    """Where each program's constants sit in the parameter vector, and what the kernels need of each program,
    fixed for a fit: ``offsets`` [program + 1] (edge programs, then node ones); ``sums``: per edge program,
    the node input its summed message is (-1: none); the constant slots of the edge programs; the node
    programs with input probes (``_with_input_probes``)."""

    offsets: np.ndarray
    sums: list[int]
    edge_slots: list[np.ndarray]
    node_probes: list[tuple[Program, np.ndarray, np.ndarray]]


class _KernelPiece:
    """One piece of the graphs as the kernels read them: features [feature, row], receivers, rows, weights."""

    def __init__(self, graphs: GraphSet, composition, layout: _Layout, root: np.ndarray, goal: np.ndarray):
        flat = FlatGraphs.of(graphs, 0)
        self.flat, self.composition, self.layout = flat, composition, layout
        self.edge_xt = np.ascontiguousarray(flat.edge_x.T)
        self.rows = np.flatnonzero(graphs.counted) if graphs.per_node else np.arange(graphs.n_nodes)
        n_out = goal.shape[-1]
        self.goal = np.asarray(goal, dtype=np.float64).reshape(len(self.rows), n_out)
        self.root = np.broadcast_to(root, goal.shape).reshape(len(self.rows), n_out)

    def _sum(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.flat.receiver, weights=values, minlength=len(self.flat.node_x))

    def _node_inputs(self, summed: list[np.ndarray]) -> np.ndarray:
        columns = {name: self.flat.node_x[:, c] for c, name in enumerate(self.flat.node_names)}
        columns |= {summed_message(k): s for k, s in zip(sorted(self.composition.edge), summed)}
        return np.ascontiguousarray(np.stack(self.flat.node_inputs(self.composition, columns)))

    def residuals(self, edge: list[Program], node: list[Program]) -> np.ndarray | None:
        """√w (prediction - target) over the rows, flat; None if a prediction is not finite."""
        summed = []
        for program in edge:
            values, ok = _evaluate(program, self.edge_xt)
            if not ok:
                return None
            summed.append(self._sum(values))
        node_xt = self._node_inputs(summed)
        outputs = []
        for program in node:
            values, ok = _evaluate(program, node_xt)
            if not ok:
                return None
            outputs.append(values[self.rows])
        return self._weighted(outputs)

    def _weighted(self, outputs: list[np.ndarray]) -> np.ndarray:
        return (self.root * (np.stack(outputs, axis=1) - self.goal)).reshape(-1)

    def jacobian(self, edge: list[Program], node: list[Program]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(J [row x output, parameter], residuals); (None, None) if a value is not finite."""
        layout = self.layout
        summed, summed_derivative = [], []
        for program, slots in zip(edge, layout.edge_slots):
            values, derivative, ok = evaluate_with_jacobian(program.codes, program.args, program.values, slots,
                                                            len(program.constants), self.edge_xt)
            if not ok:
                return None, None
            summed.append(self._sum(values))
            summed_derivative.append(np.stack([self._sum(d) for d in derivative]) if len(derivative)
                                     else np.zeros((0, len(self.flat.node_x))))
        node_xt = self._node_inputs(summed)
        offsets, n_edge = layout.offsets, len(edge)
        jacobian = np.zeros((len(self.rows), len(node), offsets[-1]))
        outputs = []
        for o, (program, (probed, slots, own)) in enumerate(zip(node, layout.node_probes)):
            values_in = probed.values.copy()
            values_in[own] = program.constants
            n_own = len(own)
            values, derivative, ok = evaluate_with_jacobian(probed.codes, probed.args, values_in, slots,
                                                            n_own + len(layout.sums), node_xt)
            if not ok:
                return None, None
            outputs.append(values[self.rows])
            jacobian[:, o, offsets[n_edge + o]:offsets[n_edge + o + 1]] = derivative[:n_own, self.rows].T
            for k, index in enumerate(layout.sums):
                # chain rule: d output / d sum_k  x  d sum_k / d edge constant
                if index >= 0 and offsets[k + 1] > offsets[k]:
                    jacobian[:, o, offsets[k]:offsets[k + 1]] = (derivative[n_own + k, self.rows, None]
                                                                  * summed_derivative[k][:, self.rows].T)
        residual = self._weighted(outputs)
        return (self.root[..., None] * jacobian).reshape(len(residual), -1), residual


def _evaluate(program: Program, xt: np.ndarray) -> tuple[np.ndarray, bool]:
    values, ok = evaluate_population_serial(program.codes, program.args, program.values,
                                            np.array([0, len(program.codes)], dtype=np.int64), xt)
    return values[0], bool(ok[0])


class TorchResiduals:
    """The same by torch's forward-mode differentiation of the model (any parameters, latent ones too)."""

    def __init__(self, model: ComposedModel, graphs: GraphSet, target: torch.Tensor, weights: torch.Tensor):
        self.model = model
        self.parameters = {name: p for name, p in model.named_parameters() if p.numel()}
        self.shapes = {name: p.shape for name, p in self.parameters.items()}
        self.sizes = [p.numel() for p in self.parameters.values()]
        per_edge = _per_edge(model.composition.functions().values(), sum(self.sizes))
        self.pieces = _pieces(graphs, torch.sqrt(weights), target, per_edge)

    def start(self) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([p.detach().reshape(-1) for p in self.parameters.values()]).numpy().copy()

    def _residuals(self, theta: torch.Tensor, part: GraphSet, root: torch.Tensor, goal: torch.Tensor):
        values = {name: piece.reshape(self.shapes[name])
                  for name, piece in zip(self.parameters, torch.split(theta, self.sizes))}
        predicted = part.rows(torch.func.functional_call(self.model, values, (part,)))
        return (root * (predicted - goal)).reshape(-1)

    def cost(self, theta: np.ndarray) -> float:
        with torch.no_grad():
            theta = torch.as_tensor(theta)
            return float(sum((r @ r) for r in (self._residuals(theta, *piece) for piece in self.pieces)))

    def normal_equations(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def with_values(*args):  # the residuals come with their Jacobian
            r = self._residuals(*args)
            return r, r.detach()
        theta = torch.as_tensor(theta)
        normal = torch.zeros(len(theta), len(theta), dtype=torch.float64)
        gradient = torch.zeros(len(theta), dtype=torch.float64)
        for piece in self.pieces:
            jacobian, r = torch.func.jacfwd(with_values, has_aux=True)(theta, *piece)
            normal += jacobian.T @ jacobian
            gradient += jacobian.T @ r
        return normal.numpy(), gradient.numpy()

    def store(self, theta: np.ndarray) -> None:
        with torch.no_grad():
            for (name, p), part in zip(self.parameters.items(), torch.split(torch.as_tensor(theta), self.sizes)):
                p.copy_(part.reshape(self.shapes[name]))

"""Composing the per-function expressions into one model of the system, in SymPy and in torch.

For particles the model is  target_i = node(properties_i, Σ_{j≠i} edge_k(features_ij) for each k):
the same wiring as the graph network, with each MLP replaced by its expression. ``ComposedModel``
evaluates it on graphs with trainable constants (and per-body latent parameters), for checking it
against the network, re-fitting it on the original data, and validating it out of distribution;
``numpy_model`` is the same model as a plain numpy function.
"""
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from symdistill.components.function_names import FunctionName, function_role, summed_message
from symdistill.components.sr import Program
from symdistill.components.sr.export import ProgramModule, safe_latex, to_numpy, to_sympy
from symdistill.components.sr.snap import snap_expression
from symdistill.components.train_surrogate import GraphSet


@dataclass(frozen=True)
class Composition:
    """One chosen program per function: edge message components and node output components."""

    edge: dict[int, Program]
    node: dict[str, Program]
    edge_features: tuple[str, ...]
    node_features: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"edge": {str(k): p.to_dict() for k, p in self.edge.items()},
                "node": {name: p.to_dict() for name, p in self.node.items()},
                "edge_features": list(self.edge_features), "node_features": list(self.node_features)}

    @classmethod
    def from_dict(cls, data: dict) -> "Composition":
        edge_features, node_features = tuple(data["edge_features"]), tuple(data["node_features"])
        return cls({int(k): Program.from_dict(p, len(edge_features)) for k, p in data["edge"].items()},
                   {name: Program.from_dict(p, len(node_features)) for name, p in data["node"].items()},
                   edge_features, node_features)

    def with_programs(self, edge: dict[int, Program], node: dict[str, Program]) -> "Composition":
        return Composition(edge, node, self.edge_features, self.node_features)

    def functions(self) -> dict[str, Program]:
        """Every program by its function's name: edge_message<k>, then node_<output>."""
        return ({str(FunctionName.edge(k)): p for k, p in self.edge.items()}
                | {str(FunctionName.node(name)): p for name, p in self.node.items()})

    @classmethod
    def from_functions(cls, programs: dict[str, Program], edge_features, node_features) -> "Composition":
        """The composition of programs named as ``functions`` names them."""
        edge, node = {}, {}
        for name, program in programs.items():
            role, which = function_role(name)
            (edge if role == "edge" else node)[which] = program
        return cls(edge, node, tuple(edge_features), tuple(node_features))


def pair_symbols(edge_features) -> list[str]:
    """Edge features as pair quantities: dx -> dx_ij; mass_i, mass_j stay."""
    return [name if name.endswith(("_i", "_j")) else f"{name}_ij" for name in edge_features]


def sympy_model(composition: Composition, simplify: bool = True) -> dict[str, sympy.Expr]:
    """Per output: the node expression with each summed message replaced by Σ_j of its edge expression.

    When the node expression is affine in the summed messages (as Newton's law is), the sums are pulled
    out into one: target_i = Σ_j pair_term + rest, with pair_term = Σ_k ∂node/∂S_k · edge_k simplified,
    so the law between one pair of bodies reads as one expression. Constant message offsets are summed
    on their own (Σ_j c): with a fixed number of partners they cancel against the node's constant,
    which the data cannot tell apart, and the pair term stays the law.
    """
    j, n = sympy.Symbol("j", integer=True), sympy.Symbol("N", integer=True)
    names = pair_symbols(composition.edge_features)
    # snapped constants (exact doubles of simple numbers) print as those numbers
    edges = {k: snap_expression(to_sympy(program, names)) for k, program in composition.edge.items()}
    sums = {k: sympy.Symbol(summed_message(k), real=True) for k in edges}
    out = {}
    for name, program in composition.node.items():
        expr = snap_expression(to_sympy(program, list(composition.node_features)))
        slopes = {k: sympy.diff(expr, s) for k, s in sums.items()}
        if all(not slope.free_symbols & set(sums.values()) for slope in slopes.values()):
            offset = sum((slopes[k] * _constant_term(edges[k]) for k in edges), sympy.Integer(0))
            pair = sum((slopes[k] * edges[k] for k in edges), sympy.Integer(0)) - offset
            rest = expr.xreplace({s: 0 for s in sums.values()})
            pair, rest = (_tidy(pair), sympy.simplify(rest)) if simplify else (pair, rest)
            out[name] = sympy.Sum(pair, (j, 1, n)) + (sympy.Sum(offset, (j, 1, n)) if offset != 0 else 0) + rest
        else:
            expr = sympy.simplify(expr) if simplify else expr
            out[name] = expr.xreplace({sums[k]: sympy.Sum(edges[k], (j, 1, n)) for k in edges})
    return out


def non_affine_outputs(composition: Composition) -> dict[str, str]:
    """Per node output whose expression is not affine in the summed messages: why (which sums it is
    non-linear in). Such a model cannot be read as one pair law; the report says so."""
    sums = {sympy.Symbol(summed_message(k), real=True) for k in composition.edge}
    out = {}
    for name, program in composition.node.items():
        expr = to_sympy(program, list(composition.node_features))
        bent = sorted(str(s) for s in sums if sympy.diff(expr, s).free_symbols & sums)
        if bent:
            out[name] = (f"{name} = {sympy.N(expr, 4)} is not affine in {', '.join(bent)}: the summed messages "
                         f"enter non-linearly, so no per-pair law can be pulled out of the sum")
    return out


def _constant_term(expr: sympy.Expr) -> sympy.Expr:
    """The additive constant of an expression's top-level sum (0 if none)."""
    return sum((term for term in sympy.Add.make_args(expr) if not term.free_symbols), sympy.Integer(0))


def _tidy(expr: sympy.Expr) -> sympy.Expr:
    """Expanded numerator collected by symbol over one denominator: the form a law is usually written in."""
    numerator, denominator = sympy.fraction(sympy.together(expr))
    numerator = sympy.expand(numerator)
    # common factors only: polynomial factoring reads exp(-49 r/3) as a power of exp(r/3), and a law like
    # exp(-1e14 exp(-49 r/3)) became a dense polynomial of degree 1e14 (24 GB, then the kernel's OOM kill)
    numerator = sympy.collect(numerator, sorted(numerator.free_symbols, key=str))
    return _monic_powers(numerator) / _monic_powers(sympy.factor_terms(denominator))


def _monic_powers(expr: sympy.Expr) -> sympy.Expr:
    """Each power of a sum written with its leading term's coefficient outside: (3.3e4 r + 325)^2 becomes
    1.06e9 (r + 0.00999)^2, so an offset reads as what it is (a softening, a rest length). The same value."""
    def monic(power):
        base, exponent = power.as_base_exp()
        varying = sorted((term for term in sympy.Add.make_args(base) if term.free_symbols), key=sympy.default_sort_key)
        if not isinstance(base, sympy.Add) or not exponent.is_number or not varying:
            return power
        lead = varying[0].as_coeff_Mul()[0]
        if lead == 1 or not (lead > 0 or exponent.is_integer):  # a negative base under a fractional power
            return power
        rest = sympy.Add(*(term for term in sympy.Add.make_args(base) if term is not varying[0]))
        return lead ** exponent * sympy.Pow(varying[0].as_coeff_Mul()[1] + sympy.expand(rest / lead), exponent)
    return expr.replace(lambda e: isinstance(e, sympy.Pow) and isinstance(e.base, sympy.Add), monic)


def _printed_constants(expr: sympy.Expr, digits: int) -> sympy.Expr:
    """Floats to ``digits`` significant digits; one that is a whole number at that precision is written as
    one (2, not 2.00000; a coefficient of 1.00000, the product of two fitted constants, not at all)."""
    def printed(value: sympy.Float) -> sympy.Expr:
        rounded = sympy.Float(value, digits)
        # decided in decimal: a binary Float of `digits` digits holds 1.99969 as 1.9996948, not 2 (LaTeX then
        # printed it as "2.0")
        decimal = float(f"{float(value):.{digits}g}")
        small = 0 < abs(round(decimal)) <= 1000  # 12300000000 would read worse than 1.23e+10
        return sympy.Integer(round(decimal)) if small and decimal == round(decimal) else rounded
    return expr.xreplace({f: printed(f) for f in expr.atoms(sympy.Float)})


def plain_text(model: dict[str, sympy.Expr], digits: int = 6) -> dict[str, str]:
    """A ``sympy_model`` as a person would write it in plain text: constants to ``digits`` significant digits.
    (Callers build the model once: its simplification is the costly part.)"""
    return {name: str(_printed_constants(expr, digits)) for name, expr in model.items()}


def latex_text(model: dict[str, sympy.Expr], precision: int = 4) -> dict[str, str]:
    """A ``sympy_model`` in LaTeX, constants to ``precision`` digits, the sum written over j ≠ i."""
    return {name: safe_latex(_printed_constants(expr, precision)).replace(r"\sum_{j=1}^{N}", r"\sum_{j \ne i}")
            for name, expr in model.items()}


@dataclass(frozen=True)
class FlatGraphs:
    """The edges and the nodes of a GraphSet as float64 rows, as both forms of the composed model read them."""

    edge_x: np.ndarray  # [edge, edge feature]
    node_x: np.ndarray  # [node, node feature]
    receiver: np.ndarray  # [edge]: the node row each edge's message is summed into
    receiver_body: np.ndarray  # [edge]
    sender_body: np.ndarray  # [edge]
    node_body: np.ndarray  # [node]
    node_names: tuple[str, ...]
    shape: tuple[int, int]  # (n_graphs, n_bodies)

    @classmethod
    def of(cls, graphs: GraphSet, n_latent: int) -> "FlatGraphs":
        return cls(graphs.edge_x.astype(np.float64), graphs.node_x.astype(np.float64), graphs.receiver,
                   graphs.body[graphs.receiver], graphs.body[graphs.sender], graphs.body,
                   tuple(graphs.node_features) + tuple(f"latent{c}" for c in range(n_latent)),
                   graphs.output_shape)

    def edge_latent(self, composition: Composition, latent):
        """The latent columns the composition's edge features name after the graph's own (latent<c>_i of
        the receiver, latent<c>_j of the sender), in that order; ``latent`` is a numpy array or a tensor."""
        body = {"i": self.receiver_body, "j": self.sender_body}
        columns = []
        for name in composition.edge_features[self.edge_x.shape[1]:]:
            component, _, end = name.removeprefix("latent").partition("_")
            if not name.startswith("latent") or not component.isdigit() or end not in body:
                raise ValueError(f"edge feature {name!r} is neither a graph feature nor latent<c>_i / latent<c>_j")
            columns.append(latent[body[end], int(component)])
        return columns

    def node_inputs(self, composition: Composition, columns: dict):
        """The node expression's inputs in its feature order, from columns by name."""
        missing = [name for name in composition.node_features if name not in columns]
        if missing:
            raise ValueError(f"the composition needs node features {missing} that the graphs do not have")
        return [columns[name] for name in composition.node_features]


class ComposedModel(torch.nn.Module):
    """The composition as a torch module: every constant trainable, optional per-body latent parameters."""

    def __init__(self, composition: Composition, latent: np.ndarray | None = None):
        super().__init__()
        self.composition = composition
        self.edge_keys = sorted(composition.edge)
        self.edge_programs = torch.nn.ModuleList([ProgramModule(composition.edge[k]) for k in self.edge_keys])
        self.node_names = list(composition.node)
        self.node_programs = torch.nn.ModuleList([ProgramModule(composition.node[n]) for n in self.node_names])
        # a copy: fitting must never change the caller's array (trial fits shared one and corrupted it)
        self.latent = torch.nn.Parameter(torch.tensor(np.zeros((0, 0)) if latent is None else latent,
                                                      dtype=torch.float64))

    def forward(self, graphs: GraphSet) -> torch.Tensor:
        """Predictions [graph, body, output] on ``graphs`` (their feature order must match the capture's)."""
        flat = FlatGraphs.of(graphs, self.latent.shape[1] if self.latent.numel() else 0)
        edge_x, node_x = torch.as_tensor(flat.edge_x), torch.as_tensor(flat.node_x)
        if self.latent.numel():
            edge_x = torch.column_stack([edge_x, *flat.edge_latent(self.composition, self.latent)])
            node_x = torch.cat([node_x, self.latent[flat.node_body]], dim=1)
        columns = {name: node_x[:, c] for c, name in enumerate(flat.node_names)}
        receiver = torch.as_tensor(flat.receiver)
        for key, program in zip(self.edge_keys, self.edge_programs):
            columns[summed_message(key)] = torch.zeros(len(flat.node_x), dtype=torch.float64).index_add(
                0, receiver, program(edge_x))
        node_in = torch.stack(flat.node_inputs(self.composition, columns), dim=1)
        return torch.stack([program(node_in) for program in self.node_programs], dim=1).reshape(*flat.shape, -1)

    def composition_now(self) -> Composition:
        """The composition with the module's current (re-fitted) constants."""
        return self.composition.with_programs(
            {k: m.to_program(self.composition.edge[k]) for k, m in zip(self.edge_keys, self.edge_programs)},
            {n: m.to_program(self.composition.node[n]) for n, m in zip(self.node_names, self.node_programs)})


def numpy_model(composition: Composition, latent: np.ndarray | None = None):
    """The composition as a plain numpy function of a GraphSet -> [graph, body, output] (no torch)."""
    edge = {k: to_numpy(p) for k, p in composition.edge.items()}
    node = [to_numpy(p) for p in composition.node.values()]

    def predict(graphs: GraphSet) -> np.ndarray:
        flat = FlatGraphs.of(graphs, 0 if latent is None else latent.shape[1])
        edge_x, node_x = flat.edge_x, flat.node_x
        if latent is not None:
            edge_x = np.column_stack([edge_x, *flat.edge_latent(composition, latent)])
            node_x = np.hstack([node_x, latent[flat.node_body]])
        columns = {name: node_x[:, c] for c, name in enumerate(flat.node_names)}
        for key, function in edge.items():
            columns[summed_message(key)] = np.bincount(flat.receiver, weights=function(edge_x),
                                                        minlength=len(flat.node_x))
        node_in = np.column_stack(flat.node_inputs(composition, columns))
        return np.stack([function(node_in) for function in node], axis=1).reshape(*flat.shape, -1)
    return predict


def prediction_errors(predicted: np.ndarray, target: np.ndarray) -> dict:
    """MAE and relative MAE of predictions [graph, body, output]; never NaN.

    When a metric is not defined, it is None and ``undefined`` names the cause: which predictions are
    not finite (how many, the first frame, body and output), or a target whose mean |value| is 0.
    """
    predicted, target = np.asarray(predicted, dtype=float), np.asarray(target, dtype=float)
    bad = ~np.isfinite(predicted)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = ", ".join(f"{name} {index}" for name, index in zip(("frame", "body", "output"), first))
        return {"mae": None, "relative_mae": None,
                "undefined": f"{int(bad.sum())} of {bad.size} predictions are not finite (first: {where}); "
                             f"the expression divides by zero or leaves its domain there"}
    mae = float(np.abs(predicted - target).mean())
    scale = float(np.abs(target).mean())
    if scale == 0:
        return {"mae": mae, "relative_mae": None, "undefined": "relative MAE: the target's mean |value| is 0"}
    return {"mae": mae, "relative_mae": mae / scale}


def finite_frames(predicted: np.ndarray) -> np.ndarray:
    """Boolean [graph]: frames where every prediction is finite."""
    return np.isfinite(np.asarray(predicted)).reshape(len(predicted), -1).all(axis=1)

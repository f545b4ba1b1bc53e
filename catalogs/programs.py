"""Programs and compositions as plain arrays (operator names, argument indices, values), and back.

This is the form catalog entries and bundles carry. Reading one back validates every operator name,
feature index and the arity balance through ``Program.from_dict``; nothing is evaluated as text.
"""
import numpy as np
import sympy

from symdistill.components.compose import Composition, latex_text, pair_symbols, plain_text, sympy_model
from symdistill.components.function_names import FunctionName, function_role
from symdistill.components.sr import Program, ProgramError
from symdistill.components.sr.export import safe_latex, to_sympy
from symdistill.components.sr.snap import snap_expression


def program_arrays(program: Program) -> dict:
    operators = [node[0] for node in program.to_dict()["postfix"]]  # names, custom operators included
    return {"operators": operators, "args": program.args.astype(np.int64).tolist(),
            "values": program.values.astype(np.float64).tolist()}


def program_from_arrays(record: dict, n_features: int) -> Program:
    """Rebuild and validate one program; raises ProgramError naming what is wrong."""
    operators, args, values = (record.get(name) if isinstance(record, dict) else None
                               for name in ("operators", "args", "values"))
    if not (isinstance(operators, list) and isinstance(args, list) and isinstance(values, list)):
        raise ProgramError("a program needs 'operators', 'args' and 'values' lists")
    if not len(operators) == len(args) == len(values):
        raise ProgramError(f"a program's arrays differ in length: {len(operators)} operators, "
                           f"{len(args)} args, {len(values)} values")
    nodes = []
    for name, arg, value in zip(operators, args, values):
        if name == "const":
            nodes.append(["const", float(value)])
        elif name == "var":
            nodes.append(["var", int(arg)])
        else:
            nodes.append([name])
    return Program.from_dict({"postfix": nodes}, n_features)


def composition_arrays(composition: Composition, latent: np.ndarray | None = None,
                       functions: list[str] | None = None) -> dict:
    """The composition (or only the named ``functions`` of it) as plain arrays."""
    programs = composition.functions()
    if functions is not None:
        programs = {name: programs[name] for name in functions}
    record = {"edge_features": list(composition.edge_features), "node_features": list(composition.node_features),
              "functions": {name: program_arrays(p) for name, p in programs.items()}}
    if latent is not None:
        record["latent"] = np.asarray(latent, dtype=np.float64).tolist()
    return record


def composition_from_arrays(record: dict) -> tuple[Composition, np.ndarray | None]:
    """(composition, latent or None) from ``composition_arrays`` output, validated name by name."""
    if not isinstance(record, dict) or not isinstance(record.get("functions"), dict):
        raise ProgramError("a program record needs a 'functions' mapping")
    edge_features, node_features = record.get("edge_features"), record.get("node_features")
    for features in (edge_features, node_features):
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ProgramError("'edge_features' and 'node_features' must be lists of names")
    programs = {}
    for name, arrays in record["functions"].items():
        try:
            role, _ = function_role(name)
        except ValueError as err:
            raise ProgramError(str(err)) from None
        programs[name] = program_from_arrays(arrays, len(edge_features if role == "edge" else node_features))
    latent = record.get("latent")
    if latent is not None:
        latent = np.asarray(latent, dtype=np.float64)
        if latent.ndim != 2 or not np.isfinite(latent).all():
            raise ProgramError("'latent' must be a finite [body, component] table")
    return Composition.from_functions(programs, edge_features, node_features), latent


def function_expressions(composition: Composition) -> dict[str, tuple[sympy.Expr, list[str]]]:
    """Each internal function's expression in its own inputs' names, and those names."""
    edge_names, node_names = pair_symbols(composition.edge_features), list(composition.node_features)
    out = {str(FunctionName.edge(k)): (snap_expression(to_sympy(p, edge_names)), list(composition.edge_features))
           for k, p in composition.edge.items()}
    out |= {str(FunctionName.node(name)): (snap_expression(to_sympy(p, node_names)), node_names)
            for name, p in composition.node.items()}
    return out


def render(record: dict, kind: str) -> tuple[str, str]:
    """(plain expression, LaTeX) of a validated program record, one 'output = ...' line per output
    for a composed model; computed from the programs, so no stored text is ever trusted."""
    composition, _ = composition_from_arrays(record)
    if kind == "composed":
        model = sympy_model(composition)
        expressions, latex = plain_text(model), latex_text(model)
        return ("\n".join(f"{name} = {expr}" for name, expr in expressions.items()),
                "\n".join(f"{name} = {latex[name]}" for name in expressions))
    (expression, _features), = function_expressions(composition).values()
    return str(expression), safe_latex(expression)

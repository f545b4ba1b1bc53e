"""Latent per-body parameters written the simplest way the law allows.

A learned per-body parameter (an unknown mass, Lemos et al.) is defined only up to an invertible
re-parametrisation: the network may learn any monotone function of the mass, and the search then writes
that function into the law (r2 with unknown masses: ``dx (-1.3e4 - 2586/l_j - 126/l_j^2) / ...``). When
every function that reads the parameter does so through one factor, f = g(l) h(rest) (or h / g(l)), the
factor is the parameter: l' = g(l) per body and f = l' h, the same model with a shorter law.
"""
import numpy as np
import sympy

from symdistill.components.compose import Composition
from symdistill.components.function_names import function_role
from symdistill.components.sr.export import ExportError, from_sympy, to_sympy

AGREEMENT = 1e-8  # relative: two functions read the same factor when their factors agree this closely


def absorb_latent_factor(composition: Composition, latent: np.ndarray,
                         agreement: float = AGREEMENT) -> tuple[Composition, np.ndarray, str | None]:
    """The composition with a latent factor g(l) taken into the parameter, the new parameters g(l_body), and
    the factor as text; or everything unchanged and None when no single factor exists (several latent
    components, a function not separable in the parameter, functions reading different factors)."""
    if latent is None or latent.shape[1] != 1 or len(latent) == 0:
        return composition, latent, None
    values, reference = latent[:, 0], float(latent[0, 0])
    functions = composition.functions()
    factored, factor, factor_values = {}, None, None
    for name, program in functions.items():
        names = _feature_names(composition, name)
        expr = to_sympy(program, names)
        readings = [s for s in expr.free_symbols if s.name in ("latent0", "latent0_i", "latent0_j")]
        if not readings:
            continue
        if len(readings) > 1:  # both ends of an edge: their factors would have to be taken apart
            return composition, latent, None
        symbol = readings[0]
        rest = expr.xreplace({symbol: sympy.Float(reference)})
        if rest == 0:
            return composition, latent, None
        ratio = sympy.cancel(sympy.together(expr / rest))  # g(l) / g(l_reference), if separable
        if ratio.free_symbols - {symbol}:
            return composition, latent, None
        with np.errstate(all="ignore"):
            at_bodies = np.array([float(ratio.xreplace({symbol: sympy.Float(v)})) for v in values])
        if not np.all(np.isfinite(at_bodies)) or np.any(at_bodies == 0):
            return composition, latent, None
        if factor is None:
            factor, factor_values, power = ratio.xreplace({symbol: sympy.Symbol("l")}), at_bodies, 1
        elif np.allclose(at_bodies, factor_values, rtol=agreement, atol=0):
            power = 1
        elif np.allclose(at_bodies, 1 / factor_values, rtol=agreement, atol=0):
            power = -1
        else:
            return composition, latent, None
        factored[name] = (rest * symbol ** power, names)
    if factor is None or not sympy.cancel(factor / sympy.Symbol("l")).free_symbols:
        return composition, latent, None  # the parameter already enters as itself (times a constant)
    try:
        programs = functions | {name: from_sympy(expr, names) for name, (expr, names) in factored.items()}
    except ExportError:
        return composition, latent, None
    new = composition.from_functions(programs, composition.edge_features, composition.node_features)
    return new, factor_values[:, None].astype(np.float64), str(sympy.N(factor, 4))


def _feature_names(composition: Composition, function: str) -> tuple[str, ...]:
    return composition.edge_features if function_role(function)[0] == "edge" else composition.node_features

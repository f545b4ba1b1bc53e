"""True pair laws in SymPy, written independently of the simulator's code, and the rule for "recovered".

``pair_truth`` gives one pair's term of the true acceleration of body i along an axis, in the feature
names the composed models use: ``dx_ij, dy_ij, dz_ij, r_ij`` (d = x_i - x_j, r = |d|), ``dvx_ij, ...``
(v_i - v_j), sender properties ``mass_j, charge_j`` and the receiver's ``mass, charge``. Every law is
written as its pair potential U(r') with r' = r + softening (plus any velocity force), differentiated
here: force on i = -dU/dr' d/r, acceleration = force / mass.

Laws: the simulator's six (r2, r1, spring, damped, charge, discontinuous) and three it does not have,
for testing discovery on laws the pipeline was never tuned for (see NOVEL_LAWS).
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import sympy
from scipy.optimize import least_squares

SYMBOL_NAMES = ("dx_ij", "dy_ij", "dz_ij", "r_ij", "dvx_ij", "dvy_ij", "dvz_ij", "speed_ij",
                "mass_j", "charge_j", "mass_i", "charge_i", "mass", "charge")
S = {name: sympy.Symbol(name, real=True) for name in SYMBOL_NAMES}
AXES = ("x", "y", "z")
SIMULATOR_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")

# The simulator's defaults (its ForceLaw and as_attrs), restated as data, so a dataset's missing
# parameters mean the same here.
SIMULATOR_DEFAULTS = {"softening": 0.01, "damping": 0.5, "rest_length": 1.0, "threshold": 2.0}

NOVEL_LAWS = {
    "morse": {
        "parameters": {"depth": 3.0, "width": 1.0, "rest_length": 1.0, "softening": 0.0},
        "potential": "U_ij = depth (1 - exp(-width (r' - rest_length)))^2",
        "why": "the Morse bond: a transcendental (exponential) law with a bounded force, finite repulsion "
               "at contact and a finite binding energy, so the dynamics stay moderate (no softening needed)",
    },
    "r3": {
        "parameters": {"softening": 0.1},
        "potential": "U_ij = -m_i m_j / (2 r'^2)",
        "why": "an inverse-cube attraction (a 1/r^2 potential, as between a charge and an aligned point "
               "dipole): the critical case of fall to the centre, where pairs with little angular momentum "
               "plunge into the softened core, so close encounters give heavy-tailed accelerations",
    },
    "quadratic_drag": {
        "parameters": {"rest_length": 1.0, "drag": 0.25, "softening": 0.0},
        "potential": "U_ij = (r' - rest_length)^2, plus force -drag |v_i - v_j| (v_i - v_j) on body i",
        "why": "springs with quadratic (high-Reynolds) drag on the relative velocity: dissipative and "
               "non-linear in velocity, needing the speed |dv| built from the velocity components",
    },
}
LAWS = (*SIMULATOR_LAWS, *NOVEL_LAWS)
SYMBOLIC_OPS_LIMIT = 60


@dataclass(frozen=True)
class TruthPieces:
    """One pair's term of the true acceleration along ``axis``, as (region, expression) pieces.

    Laws defined everywhere by one formula have one piece whose region is ``sympy.true``; the
    discontinuous law has two, with regions that are relationals in ``r_ij``.
    """

    law: str
    axis: str
    pieces: tuple[tuple[sympy.Basic, sympy.Expr], ...]

    def __iter__(self):
        return iter(self.pieces)

    def __len__(self):
        return len(self.pieces)

    @property
    def expression(self) -> sympy.Expr:
        """The single piece's expression, or a Piecewise over the regions."""
        if len(self.pieces) == 1:
            return self.pieces[0][1]
        return sympy.Piecewise(*[(expr, region) for region, expr in self.pieces])


def exact(value) -> sympy.Expr:
    """A parameter as an exact number (0.5 -> 1/2), so truths carry no Floats."""
    return sympy.Rational(str(value)) if isinstance(value, float) else sympy.sympify(value)


def pair_truth(law: str, parameters: dict | None = None, axis: str = "x", softening_limit: bool = True,
               *, dim: int | None = None) -> TruthPieces:
    """One pair's term of the true acceleration of body i along ``axis`` ("x", "y" or "z").

    ``parameters`` as a dataset records them (missing ones take the defaults); ``softening_limit``
    sets the softening to 0. ``dim`` matters only for quadratic_drag, whose |dv| sums the velocity
    components (default 3 for axis "z", else 2).
    """
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    defaults = NOVEL_LAWS[law]["parameters"] if law in NOVEL_LAWS else SIMULATOR_DEFAULTS
    p = {key: exact(value) for key, value in {**defaults, **(parameters or {})}.items()}
    softening = 0 if softening_limit else p["softening"]
    r, d, mass = S["r_ij"], S[f"d{axis}_ij"], S["mass"]
    dv = S[f"dv{axis}_ij"]
    r_soft = sympy.Symbol("r_soft", positive=True)  # r' while differentiating

    def central(potential: sympy.Expr) -> sympy.Expr:
        coefficient = -sympy.diff(potential, r_soft)  # signed force magnitude along +d
        return sympy.simplify(coefficient.subs(r_soft, r + softening) * d / r / mass)

    # U written with m_i = mass and q_i = charge, the receiver's properties.
    mi, mj, qi, qj = S["mass"], S["mass_j"], S["charge"], S["charge_j"]
    spring = (r_soft - p.get("rest_length", 1)) ** 2
    if law == "r2":
        pieces = [(sympy.true, central(-mi * mj / r_soft))]
    elif law == "r1":
        pieces = [(sympy.true, central(mi * mj * sympy.log(r_soft)))]
    elif law == "spring":
        pieces = [(sympy.true, central(spring))]
    elif law == "damped":
        pieces = [(sympy.true, central(spring) - p["damping"] * dv / mass)]
    elif law == "charge":
        pieces = [(sympy.true, central(qi * qj / r_soft))]
    elif law == "discontinuous":
        edge = p["threshold"] - softening  # r' < threshold  <=>  r < threshold - softening
        pieces = [(r < edge, sympy.Integer(0)), (r >= edge, central(spring))]
    elif law == "morse":
        bond = 1 - sympy.exp(-p["width"] * (r_soft - p["rest_length"]))
        pieces = [(sympy.true, central(p["depth"] * bond ** 2))]
    elif law == "r3":
        pieces = [(sympy.true, central(-mi * mj / (2 * r_soft ** 2)))]
    else:  # quadratic_drag
        n_dim = dim or (3 if axis == "z" else 2)
        speed = sympy.sqrt(sum(S[f"dv{a}_ij"] ** 2 for a in AXES[:n_dim]))
        pieces = [(sympy.true, central(spring) - p["drag"] * speed * dv / mass)]
    return TruthPieces(law, axis, tuple(pieces))


# --- recovery -------------------------------------------------------------------------------------

def rounded(expr: sympy.Expr) -> sympy.Expr:
    """Floats to 3 significant digits, those below 1e-6 to 0 (benchmarks/recovery.py, as in SRBench)."""
    return expr.xreplace({f: 0 if abs(f) < 1e-6 else sympy.Rational(f"{float(f):.3g}")
                          for f in expr.atoms(sympy.Float)})


def aligned(expr: sympy.Expr, dim: int = 2) -> sympy.Expr:
    """Symbols by name as the real symbols above (a parsed expression's may carry other assumptions);
    the edge's receiver properties mass_i, charge_i are the node's mass, charge; the relative speed
    speed_ij is written out as |dv| over ``dim`` axes, as the truths write it."""
    expr = sympy.sympify(expr)
    by_name = {s: S.get(s.name, sympy.Symbol(s.name, real=True)) for s in expr.free_symbols}
    speed = sympy.sqrt(sum(S[f"dv{a}_ij"] ** 2 for a in AXES[:dim]))
    return expr.xreplace(by_name).xreplace({S["mass_i"]: S["mass"], S["charge_i"]: S["charge"],
                                            S["speed_ij"]: speed})


def dimension_of(*exprs: sympy.Expr) -> int:
    """3 if any of the expressions names a z component, else 2 (a speed then spans x and y)."""
    names = {s.name for e in exprs for s in sympy.sympify(e).free_symbols}
    return 3 if names & {"dz_ij", "dvz_ij"} else 2


def sample_points(symbols, region=None, n_points: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Random points of a sane domain: d uniform in direction with r in [0.25, 5] (so r = |d| holds),
    dv ~ N(0, 1), masses in [0.3, 5], charges +-1, anything else in [0.5, 2]; only inside ``region``."""
    names = {s.name for s in symbols}
    dim = dimension_of(*symbols)
    rng = np.random.default_rng(seed)
    keep = None
    for _ in range(50):  # rejection sampling for the region; a few rounds suffice for r-intervals
        m = 4 * n_points
        direction = rng.normal(size=(m, dim))
        r = rng.uniform(0.25, 5.0, size=m)
        d = direction / np.linalg.norm(direction, axis=1, keepdims=True) * r[:, None]
        dv = rng.normal(size=(m, 3))
        values = {"r_ij": r, **{f"d{a}_ij": d[:, k] for k, a in enumerate(AXES[:dim])},
                  **{f"dv{a}_ij": dv[:, k] for k, a in enumerate(AXES)}}
        for name in names - set(values):
            if "mass" in name:
                values[name] = rng.uniform(0.3, 5.0, size=m)
            elif "charge" in name:
                values[name] = rng.choice([-1.0, 1.0], size=m)
            else:
                values[name] = rng.uniform(0.5, 2.0, size=m)
        inside = np.ones(m, bool) if region in (None, sympy.true) else np.asarray(
            sympy.lambdify([S["r_ij"]], region, "numpy")(r), bool)
        batch = {k: v[inside] for k, v in values.items()}
        keep = batch if keep is None else {k: np.concatenate([keep[k], batch[k]]) for k in keep}
        if len(keep["r_ij"]) >= n_points:
            return {k: v[:n_points] for k, v in keep.items()}
    raise ValueError(f"region {region} has (almost) no points with r_ij in [0.25, 5]")


class _Fit(NamedTuple):
    exact: bool           # the found form, constants moved, reproduces the truth
    found_constants: np.ndarray
    fitted_constants: np.ndarray
    pointwise_error: float  # max |found - truth| / rms(truth) with the found constants as they are


def _fit_constants(found, truth, bounds_fraction: float | None, region, n_points: int, seed: int) -> _Fit:
    """Move the found expression's Floats (tiny ones are 0 first) to fit the truth on random points."""
    dim = dimension_of(found, truth)
    found, truth = aligned(found, dim), aligned(truth, dim)
    found = found.xreplace({f: 0 for f in found.atoms(sympy.Float) if abs(f) < 1e-6})
    floats = sorted(found.atoms(sympy.Float), key=float)
    thetas = [sympy.Symbol(f"theta_{k}") for k in range(len(floats))]
    template = found.xreplace(dict(zip(floats, thetas)))
    symbols = sorted(template.free_symbols - set(thetas) | truth.free_symbols, key=str)
    points = sample_points(symbols, region, n_points, seed)
    args = [points[s.name] for s in symbols]
    target = _evaluate(truth, symbols, args, n_points)
    scale = float(np.sqrt(np.mean(target ** 2))) or 1.0  # a zero truth (a region of no force): absolute
    model = sympy.lambdify([*thetas, *symbols], template, "numpy")
    c = np.array([float(f) for f in floats])

    def residual(theta):
        with np.errstate(all="ignore"):
            value = np.broadcast_to(np.asarray(model(*theta, *args), float), (n_points,))
        return (value - target) / scale

    start = residual(c)
    if not np.all(np.isfinite(start)):
        return _Fit(False, c, c, float("inf"))
    pointwise = float(np.max(np.abs(start)))
    if len(c) == 0 or pointwise < 1e-9:
        return _Fit(pointwise < 1e-9, c, c, pointwise)
    if bounds_fraction is None:
        fit = least_squares(residual, c, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    else:
        spread = bounds_fraction * np.abs(c)
        fit = least_squares(residual, c, bounds=(c - spread, c + spread), x_scale=np.abs(c),
                            xtol=1e-15, ftol=1e-15, gtol=1e-15)
    final = residual(fit.x)
    return _Fit(bool(np.all(np.isfinite(final)) and np.max(np.abs(final)) < 1e-7), c, fit.x, pointwise)


SOFTENING_SCALE = 0.05  # an additive constant this small beside the distance is a softening length


def softening_limit(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with its softening taken to 0: every Float of magnitude <= SOFTENING_SCALE that is a summand
    beside a term in r_ij (r_ij + 0.0049, r_ij**2 + 0.0022) set to 0."""
    r = S["r_ij"]
    small = {}
    for add in expr.atoms(sympy.Add):
        if any(r in term.free_symbols for term in add.args):
            small.update({term: 0 for term in add.args if isinstance(term, sympy.Float)
                          and 0 < abs(float(term)) <= SOFTENING_SCALE})
    return expr.xreplace(small) if small else expr


def recovered(found: sympy.Expr, truth: sympy.Expr, *, region=None, n_points: int = 200, seed: int = 0) -> bool:
    """Did the found pair term recover the truth? True if either rule holds:

    1. benchmarks/recovery.py's rule: the found expression's Floats rounded to 3 significant digits
       (|f| < 1e-6 becomes 0) make it symbolically equal to the truth (SymPy simplify of the difference).
    2. Constants within 1%: the same form with each of its Floats c_k moved to some c'_k with
       |c'_k - c_k| <= 0.01 |c_k| (Floats below 1e-6 first set to 0 and never moved) equals the truth
       exactly: at ``n_points`` random points of a sane domain (``sample_points``, restricted to
       ``region``, a relational in r_ij such as a piece of the discontinuous law) the bounded
       least-squares fit of the c'_k leaves max |found - truth| below 1e-7 of the truth's RMS.
       A rounded constant off by 0.4% (2.72 for e, 0.996 for 1) passes; a wrong form (another power,
       another function, a spurious small term, which would need a constant moved to 0) does not,
       however close its values.

    Symbols are matched by name; ``mass_i``/``charge_i`` count as the receiver's ``mass``/``charge``.
    """
    dim = dimension_of(found, truth)
    found, truth = aligned(found, dim), aligned(truth, dim)
    try:
        # SymPy's simplify can run for many minutes on deeply nested trigonometry, or factor
        # exp(-1e14 exp(-49 r/3)) as a polynomial of degree 1e14: it runs only on a rounded law that agrees
        # with the truth numerically, the only case it can confirm; rule 2 decides the others
        if (sympy.count_ops(found) <= SYMBOLIC_OPS_LIMIT and _agrees_numerically(rounded(found), truth, region)
                and sympy.simplify(rounded(found) - truth) == 0):
            return True
    except (TypeError, ValueError):  # e.g. a Piecewise difference simplify cannot order; rule 2 decides
        pass
    try:
        return _fit_constants(found, truth, 0.01, region, n_points, seed).exact
    except (TypeError, ValueError, ZeroDivisionError):  # not a numeric function of the pair's symbols (e.g. a
        return False                                     # sum over partners left inside a non-affine node)


def _evaluate(expr: sympy.Expr, symbols, args, n_points: int) -> np.ndarray:
    """``expr`` at the sample points (a constant broadcast to every point)."""
    return np.broadcast_to(np.asarray(sympy.lambdify(symbols, expr, "numpy")(*args), float), (n_points,))


def _agrees_numerically(found: sympy.Expr, truth: sympy.Expr, region, n_points: int = 50) -> bool:
    """found == truth at random points of the region, to 1e-6 of the truth's RMS (a necessary condition
    for symbolic equality; inconclusive when either side cannot be evaluated there)."""
    symbols = sorted(found.free_symbols | truth.free_symbols, key=str)
    points = sample_points(symbols, region, n_points, seed=1)
    args = [points[s.name] for s in symbols]
    with np.errstate(all="ignore"):
        a, b = _evaluate(found, symbols, args, n_points), _evaluate(truth, symbols, args, n_points)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return True
    return bool(np.max(np.abs(a - b)) <= 1e-6 * max(float(np.sqrt(np.mean(b ** 2))), 1e-300))


class ConstantError(NamedTuple):
    value: float
    measure: str  # "constants" or "pointwise"


def max_constant_error(found: sympy.Expr, truth: sympy.Expr, *, region=None, n_points: int = 200,
                       seed: int = 0) -> ConstantError:
    """How far the found constants are from the truth's.

    measure "constants": the found form with its constants refitted (unbounded, from the found values)
    equals the truth exactly; value = max_k |c_k - c'_k| / |c'_k| over the found constants c_k and the
    exact ones c'_k they were matched to (0 when the form has no constants and is equal).
    measure "pointwise": no nonzero constants make the form equal (a different form, or a spurious term
    whose constant would have to vanish); value = max over random points of |found - truth| / RMS(truth),
    a numeric proxy (inf where the found term is not finite).
    """
    try:
        fit = _fit_constants(found, truth, None, region, n_points, seed)
    except (TypeError, ValueError, ZeroDivisionError):  # not a numeric function of the pair's symbols
        return ConstantError(None, "unevaluable")
    if len(fit.found_constants) == 0:
        return ConstantError(0.0, "constants") if fit.exact else ConstantError(fit.pointwise_error, "pointwise")
    # A constant the truth needs at 0 is a spurious term: a different form, not a constant error.
    vanishing = np.abs(fit.fitted_constants) < 1e-6 * max(1.0, float(np.max(np.abs(fit.fitted_constants))))
    if not fit.exact or vanishing.any():
        return ConstantError(fit.pointwise_error, "pointwise")
    relative = np.abs(fit.found_constants - fit.fitted_constants) / np.abs(fit.fitted_constants)
    return ConstantError(float(np.max(relative)), "constants")

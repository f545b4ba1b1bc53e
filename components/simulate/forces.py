"""The pair force laws, as numba kernels (over blocks of simulations for fixed steps; per simulation, with its
time scale, for adaptive steps) and a plain numpy twin.

All laws act along the separation ``d = x_i - x_j`` with softened distance
``r' = |d| + softening`` (METHOD.md §2a); the force on body i from j is ``coef(r') * d / |d|``,
plus ``-damping * (v_i - v_j)`` for the damped law. Accelerations are force / mass.
"""
from dataclasses import dataclass

import numpy as np
from numba import njit

# Codes index this tuple; artifacts store the name, never the code.
FORCE_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")
CONSERVATIVE_LAWS = ("r2", "r1", "spring", "charge")
_R2, _R1, _SPRING, _DAMPED, _CHARGE, _DISCONTINUOUS = range(6)
# Near the discontinuous law's jump, adaptive steps shrink to about this distance over |v_i - v_j|: a finite
# margin, so the jump is crossed in a few dozen steps rather than approached forever.
THRESHOLD_MARGIN = 1e-3

POTENTIALS = {
    "r2": "U_ij = -m_i m_j / r'",
    "r1": "U_ij = m_i m_j log(r')",
    "spring": "U_ij = (r' - 1)^2",
    "damped": "U_ij = (r' - 1)^2, plus force -damping (v_i - v_j) on body i",
    "charge": "U_ij = q_i q_j / r'",
    "discontinuous": "U_ij = 0 if r' < 2 else (r' - 1)^2",
}


@dataclass(frozen=True)
class ForceLaw:
    """A pair force law and its parameters; ``as_attrs`` records it as data in the dataset."""

    name: str
    softening: float = 0.01
    damping: float = 0.5

    def __post_init__(self):
        if self.name not in FORCE_LAWS:
            raise ValueError(f"unknown force law {self.name!r}; choose one of {', '.join(FORCE_LAWS)}")

    @property
    def code(self) -> int:
        return FORCE_LAWS.index(self.name)

    @property
    def conservative(self) -> bool:
        return self.name in CONSERVATIVE_LAWS

    @classmethod
    def from_attrs(cls, attrs: dict) -> "ForceLaw":
        """Inverse of ``as_attrs``: the law a simulated dataset records in ``attrs["force_law"]``."""
        parameters = attrs.get("parameters", {})
        return cls(attrs["name"], softening=parameters.get("softening", 0.01), damping=parameters.get("damping", 0.5))

    def as_attrs(self) -> dict:
        parameters = {"softening": self.softening}
        if self.name in ("spring", "damped", "discontinuous"):
            parameters["rest_length"] = 1.0
        if self.name == "damped":
            parameters["damping"] = self.damping
        if self.name == "discontinuous":
            parameters["threshold"] = 2.0
        return {"name": self.name, "parameters": parameters, "potential": POTENTIALS[self.name],
                "distance": "r' = |x_i - x_j| + softening"}


@njit(cache=True, inline="always", error_model="numpy")
def _radial_coefficient(law, r_soft, mi, mj, qi, qj):
    """-dU/dr' for one pair: the signed force magnitude along +d."""
    if law == _R2:
        return -mi * mj / (r_soft * r_soft)
    if law == _R1:
        return -mi * mj / r_soft
    if law == _SPRING or law == _DAMPED:
        return -2.0 * (r_soft - 1.0)
    if law == _CHARGE:
        return qi * qj / (r_soft * r_soft)
    return 0.0 if r_soft < 2.0 else -2.0 * (r_soft - 1.0)  # discontinuous


@njit(cache=True, error_model="numpy")
def _coefficient_and_slope(law, r_soft, inv_r_soft, mi, mj, qi, qj):
    """(coef, d coef / dr') for one pair, from 1 / r' to spare divisions in the adaptive integrator's hot loop."""
    if law == _R2:
        coef = -mi * mj * inv_r_soft * inv_r_soft
        return coef, -2.0 * coef * inv_r_soft
    if law == _R1:
        coef = -mi * mj * inv_r_soft
        return coef, -coef * inv_r_soft
    if law == _CHARGE:
        coef = qi * qj * inv_r_soft * inv_r_soft
        return coef, -2.0 * coef * inv_r_soft
    if law == _DISCONTINUOUS and r_soft < 2.0:
        return 0.0, 0.0
    return -2.0 * (r_soft - 1.0), -2.0


@njit(cache=True, error_model="numpy")
def system_accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, out):
    """Accelerations of one simulation into ``out`` [n_body, dim]; returns its shortest pair time scale.

    A pair's time scale is the shortest of: 1 / omega, omega^2 the largest eigenvalue of the pair force's
    Jacobian, max(|coef'(r')|, |coef| / |d|), per reduced mass (the pair's oscillation or free-fall rate,
    including the fast turn of the force when bodies pass within the softening); the crossing time
    r' / |v_i - v_j|, so a fast fly-by is not stepped over; for the damped law the damping time
    1 / (damping (1/m_i + 1/m_j)); for the discontinuous law the time to reach its jump,
    (|r' - 2| + THRESHOLD_MARGIN) / |v_i - v_j|, so a brief crossing is not stepped over.
    pos, vel, out: [n_body, dim]; mass, inv_mass (1 / mass), charge: [n_body]
    """
    n, dim = pos.shape
    out[:] = 0.0
    fastest_rate2 = 0.0  # max over pairs of 1 / time scale^2
    for i in range(n):
        for j in range(i + 1, n):
            dist2 = 0.0
            speed2 = 0.0
            for k in range(dim):
                d = pos[i, k] - pos[j, k]
                w = vel[i, k] - vel[j, k]
                dist2 += d * d
                speed2 += w * w
            dist = np.sqrt(dist2)
            r_soft = dist + softening
            inv_r_soft = 1.0 / r_soft
            inv_dist = 1.0 / dist if dist > 0.0 else 0.0
            coef, slope = _coefficient_and_slope(law, r_soft, inv_r_soft, mass[i], mass[j], charge[i], charge[j])
            scale = coef * inv_dist
            omega2 = max(abs(slope), abs(scale)) * (inv_mass[i] + inv_mass[j])
            fastest_rate2 = max(fastest_rate2, omega2, speed2 * inv_r_soft * inv_r_soft)
            if law == _DISCONTINUOUS:
                gap = abs(r_soft - 2.0) + THRESHOLD_MARGIN
                fastest_rate2 = max(fastest_rate2, speed2 / (gap * gap))
            elif law == _DAMPED:
                damping_rate = damping * (inv_mass[i] + inv_mass[j])
                fastest_rate2 = max(fastest_rate2, damping_rate * damping_rate)
            for k in range(dim):
                f = scale * (pos[i, k] - pos[j, k])
                if law == _DAMPED:
                    f -= damping * (vel[i, k] - vel[j, k])
                out[i, k] += f * inv_mass[i]
                out[j, k] -= f * inv_mass[j]
    return 1.0 / np.sqrt(fastest_rate2) if fastest_rate2 > 0.0 else np.inf


@njit(cache=True, error_model="numpy")
def system_energy(pos, vel, mass, charge, law, softening):
    """Kinetic and pair potential energy of one simulation (the potential of POTENTIALS)."""
    n, dim = pos.shape
    kinetic = 0.0
    potential = 0.0
    for i in range(n):
        speed2 = 0.0
        for k in range(dim):
            speed2 += vel[i, k] * vel[i, k]
        kinetic += 0.5 * mass[i] * speed2
        for j in range(i + 1, n):
            dist2 = 0.0
            for k in range(dim):
                d = pos[i, k] - pos[j, k]
                dist2 += d * d
            r_soft = np.sqrt(dist2) + softening
            if law == _R2:
                potential -= mass[i] * mass[j] / r_soft
            elif law == _R1:
                potential += mass[i] * mass[j] * np.log(r_soft)
            elif law == _CHARGE:
                potential += charge[i] * charge[j] / r_soft
            elif law != _DISCONTINUOUS or r_soft >= 2.0:
                potential += (r_soft - 1.0) ** 2
    return kinetic, potential


@njit(cache=True, error_model="numpy")
def accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, scale, out):
    """Write the acceleration of every body of a block of simulations into ``out``.

    Naive algorithm: for each pair i < j, F = coef(r') d / |d| (minus damping on relative velocity);
    a_i += F / m_i and a_j -= F / m_j (Newton's third law).
    Optimization: the innermost loops run over the simulations of the block, which are independent,
    so sqrt and division vectorize across them.
    pos, vel, out: [n_body, dim, n_block]; mass, inv_mass, charge: [n_body, n_block]; scale: [n_block] scratch
    """
    n, dim, block = pos.shape
    for i in range(n):
        for k in range(dim):
            for b in range(block):
                out[i, k, b] = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            for b in range(block):
                scale[b] = 0.0
            for k in range(dim):
                for b in range(block):
                    d = pos[i, k, b] - pos[j, k, b]
                    scale[b] += d * d
            for b in range(block):
                dist = np.sqrt(scale[b])
                coef = _radial_coefficient(law, dist + softening, mass[i, b], mass[j, b], charge[i, b], charge[j, b])
                scale[b] = coef / dist if dist > 0.0 else 0.0
            for k in range(dim):
                for b in range(block):
                    f = scale[b] * (pos[i, k, b] - pos[j, k, b])
                    if law == _DAMPED:
                        f -= damping * (vel[i, k, b] - vel[j, k, b])
                    out[i, k, b] += f * inv_mass[i, b]
                    out[j, k, b] -= f * inv_mass[j, b]


def pair_potential(law: ForceLaw, r_soft, mi, mj, qi, qj):
    """Numpy pair potential U_ij(r') of a conservative law (for energy checks)."""
    if law.name == "r2":
        return -mi * mj / r_soft
    if law.name == "r1":
        return mi * mj * np.log(r_soft)
    if law.name == "charge":
        return qi * qj / r_soft
    if law.name in ("spring", "damped"):
        return (r_soft - 1.0) ** 2
    return np.where(r_soft < 2.0, 0.0, (r_soft - 1.0) ** 2)


def pair_force(law: ForceLaw, d, dv, mi, mj, qi, qj):
    """Numpy force on body i from body j: d = x_i - x_j, dv = v_i - v_j: [..., dim]; mi..qj: [...]."""
    dist = np.sqrt((d ** 2).sum(-1))
    r_soft = dist + law.softening
    if law.name == "r2":
        coef = -mi * mj / r_soft ** 2
    elif law.name == "r1":
        coef = -mi * mj / r_soft
    elif law.name == "charge":
        coef = qi * qj / r_soft ** 2
    else:
        coef = -2.0 * (r_soft - 1.0)
        if law.name == "discontinuous":
            coef = np.where(r_soft < 2.0, 0.0, coef)
    scale = np.where(dist > 0, coef / np.where(dist > 0, dist, 1.0), 0.0)
    force = scale[..., None] * d
    if law.name == "damped":
        force = force - law.damping * dv
    return force

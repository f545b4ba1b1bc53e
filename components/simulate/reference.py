"""Plain numpy implementation of the same integrators, vectorized over simulations and pairs.

It is the yardstick the numba simulator is tested and benchmarked against; it is not used by the pipeline.
"""
import numpy as np

from symdistill.components.simulate.forces import ForceLaw, pair_force


def reference_accelerations(pos, vel, mass, charge, law: ForceLaw):
    """pos, vel: [n_sim, n_body, dim]; mass, charge: [n_sim, n_body] -> acc [n_sim, n_body, dim]."""
    d = pos[:, :, None, :] - pos[:, None, :, :]  # d[s, i, j] = x_i - x_j; the i = j term is zero
    dv = vel[:, :, None, :] - vel[:, None, :, :]
    pairs = pair_force(law, d, dv, mass[:, :, None], mass[:, None, :], charge[:, :, None], charge[:, None, :])
    force = pairs.sum(axis=2)
    return force / mass[..., None]


def reference_integrate(pos0, vel0, mass, charge, law: ForceLaw, dt, n_steps, record_every, integrator):
    """Same contract as ``integrate.integrate``, one numpy call per operation."""
    pos, vel = pos0.copy(), vel0.copy()
    acc = reference_accelerations(pos, vel, mass, charge, law)
    records = [(pos.copy(), vel.copy(), acc.copy())]
    for step in range(1, n_steps + 1):
        if integrator == "leapfrog":
            vel = vel + 0.5 * dt * acc
            pos = pos + dt * vel
            acc = reference_accelerations(pos, vel, mass, charge, law)
            vel = vel + 0.5 * dt * acc
        else:
            pos, vel, acc = _reference_rk4(pos, vel, acc, mass, charge, law, dt)
        if step % record_every == 0:
            records.append((pos.copy(), vel.copy(), acc.copy()))
    return tuple(np.stack([r[i] for r in records], axis=1) for i in range(3))


def _reference_rk4(pos, vel, acc, mass, charge, law, dt):
    def a(p, v):
        return reference_accelerations(p, v, mass, charge, law)

    k1x, k1v = vel, acc
    k2x = vel + 0.5 * dt * k1v
    k2v = a(pos + 0.5 * dt * k1x, k2x)
    k3x = vel + 0.5 * dt * k2v
    k3v = a(pos + 0.5 * dt * k2x, k3x)
    k4x = vel + dt * k3v
    k4v = a(pos + dt * k3x, k4x)
    pos = pos + dt / 6.0 * (k1x + 2 * k2x + 2 * k3x + k4x)
    vel = vel + dt / 6.0 * (k1v + 2 * k2v + 2 * k3v + k4v)
    return pos, vel, a(pos, vel)

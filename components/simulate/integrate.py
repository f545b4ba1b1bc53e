"""Fixed-step integrators over many independent simulations, compiled with numba.

Leapfrog is velocity Verlet (kick-drift-kick), symplectic for the conservative laws;
RK4 is the classical fourth-order Runge-Kutta, needed for the velocity-dependent damped law.
"""
import numpy as np
from numba import njit, prange

from symdistill.components.simulate.forces import accelerations

LEAPFROG, RK4 = 0, 1
INTEGRATORS = ("leapfrog", "rk4")


@njit(cache=True)
def _leapfrog_step(pos, vel, acc, mass, charge, law, softening, damping, dt):
    """One kick-drift-kick step; ``acc`` holds a(pos) on entry and on exit."""
    vel += 0.5 * dt * acc
    pos += dt * vel
    accelerations(pos, vel, mass, charge, law, softening, damping, acc)
    vel += 0.5 * dt * acc


@njit(cache=True)
def _rk4_step(pos, vel, acc, mass, charge, law, softening, damping, dt):
    """One classical RK4 step of (pos, vel); ``acc`` holds a(pos, vel) on entry and on exit."""
    k1x = vel.copy()
    k1v = acc.copy()
    p = pos + 0.5 * dt * k1x
    k2x = vel + 0.5 * dt * k1v
    k2v = np.empty_like(acc)
    accelerations(p, k2x, mass, charge, law, softening, damping, k2v)
    p = pos + 0.5 * dt * k2x
    k3x = vel + 0.5 * dt * k2v
    k3v = np.empty_like(acc)
    accelerations(p, k3x, mass, charge, law, softening, damping, k3v)
    p = pos + dt * k3x
    k4x = vel + dt * k3v
    k4v = np.empty_like(acc)
    accelerations(p, k4x, mass, charge, law, softening, damping, k4v)
    pos += dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
    vel += dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
    accelerations(pos, vel, mass, charge, law, softening, damping, acc)


@njit(cache=True, parallel=True)
def integrate(pos0, vel0, mass, charge, law, softening, damping, dt, n_steps, record_every, integrator):
    """Integrate every simulation and return the recorded (pos, vel, acc).

    pos0, vel0: [n_sim, n_body, dim]; mass, charge: [n_sim, n_body]
    returns three arrays [n_sim, n_record, n_body, dim] with n_record = n_steps // record_every + 1;
    record 0 is the initial state. Simulations are independent, so they run in parallel.
    """
    n_sim, n_body, dim = pos0.shape
    n_record = n_steps // record_every + 1
    out_pos = np.empty((n_sim, n_record, n_body, dim))
    out_vel = np.empty((n_sim, n_record, n_body, dim))
    out_acc = np.empty((n_sim, n_record, n_body, dim))
    for s in prange(n_sim):
        pos = pos0[s].copy()
        vel = vel0[s].copy()
        acc = np.empty((n_body, dim))
        accelerations(pos, vel, mass[s], charge[s], law, softening, damping, acc)
        out_pos[s, 0] = pos
        out_vel[s, 0] = vel
        out_acc[s, 0] = acc
        for step in range(1, n_steps + 1):
            if integrator == LEAPFROG:
                _leapfrog_step(pos, vel, acc, mass[s], charge[s], law, softening, damping, dt)
            else:
                _rk4_step(pos, vel, acc, mass[s], charge[s], law, softening, damping, dt)
            if step % record_every == 0:
                r = step // record_every
                out_pos[s, r] = pos
                out_vel[s, r] = vel
                out_acc[s, r] = acc
    return out_pos, out_vel, out_acc

"""Fixed-step integrators over many independent simulations, compiled with numba.

Leapfrog is velocity Verlet (kick-drift-kick), symplectic for the conservative laws;
RK4 is the classical fourth-order Runge-Kutta, needed for the velocity-dependent damped law.
Simulations are integrated in blocks laid out [body, dim, sim], so the innermost loops run over
independent simulations and vectorize; blocks run in parallel.
"""
import numpy as np
from numba import njit, prange

from symdistill.components.simulate.forces import accelerations

LEAPFROG, RK4 = 0, 1
INTEGRATORS = ("leapfrog", "rk4")
BLOCK = 32  # simulations per block: several SIMD widths, small enough to stay in L1


@njit(cache=True, inline="always", error_model="numpy")
def _axpy(out, x, a, y):
    """out = x + a * y elementwise, without the temporaries an array expression allocates."""
    n, dim, block = x.shape
    for i in range(n):
        for k in range(dim):
            for b in range(block):
                out[i, k, b] = x[i, k, b] + a * y[i, k, b]


@njit(cache=True, error_model="numpy")
def _leapfrog_step(pos, vel, acc, mass, inv_mass, charge, law, softening, damping, dt, work, scale):
    """One kick-drift-kick step; ``acc`` holds a(pos) on entry and on exit."""
    _axpy(vel, vel, 0.5 * dt, acc)
    _axpy(pos, pos, dt, vel)
    accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, scale, acc)
    _axpy(vel, vel, 0.5 * dt, acc)


@njit(cache=True, error_model="numpy")
def _rk4_step(pos, vel, acc, mass, inv_mass, charge, law, softening, damping, dt, work, scale):
    """One classical RK4 step of (pos, vel); ``acc`` holds a(pos, vel) on entry and on exit.

    work: [7, n_body, dim, n_block] scratch: k2x, k2v, k3x, k3v, k4x, k4v and a stage position.
    """
    k2x, k2v, k3x, k3v, k4x, k4v, p = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    _axpy(p, pos, 0.5 * dt, vel)
    _axpy(k2x, vel, 0.5 * dt, acc)
    accelerations(p, k2x, mass, inv_mass, charge, law, softening, damping, scale, k2v)
    _axpy(p, pos, 0.5 * dt, k2x)
    _axpy(k3x, vel, 0.5 * dt, k2v)
    accelerations(p, k3x, mass, inv_mass, charge, law, softening, damping, scale, k3v)
    _axpy(p, pos, dt, k3x)
    _axpy(k4x, vel, dt, k3v)
    accelerations(p, k4x, mass, inv_mass, charge, law, softening, damping, scale, k4v)
    n, dim, block = pos.shape
    sixth = dt / 6.0
    for i in range(n):
        for k in range(dim):
            for b in range(block):
                pos[i, k, b] += sixth * (vel[i, k, b] + 2.0 * k2x[i, k, b] + 2.0 * k3x[i, k, b] + k4x[i, k, b])
                vel[i, k, b] += sixth * (acc[i, k, b] + 2.0 * k2v[i, k, b] + 2.0 * k3v[i, k, b] + k4v[i, k, b])
    accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, scale, acc)


@njit(cache=True, error_model="numpy")
def _record(out, r, start, state):
    n, dim, block = state.shape
    for b in range(block):
        for i in range(n):
            for k in range(dim):
                out[start + b, r, i, k] = state[i, k, b]


@njit(cache=True, parallel=True, error_model="numpy")
def integrate(pos0, vel0, mass, charge, law, softening, damping, dt, n_steps, record_every, integrator):
    """Integrate every simulation and return the recorded (pos, vel, acc).

    pos0, vel0: [n_sim, n_body, dim]; mass, charge: [n_sim, n_body]
    returns three arrays [n_sim, n_record, n_body, dim] with n_record = n_steps // record_every + 1;
    record 0 is the initial state.
    """
    n_sim, n_body, dim = pos0.shape
    n_record = n_steps // record_every + 1
    out_pos = np.empty((n_sim, n_record, n_body, dim))
    out_vel = np.empty((n_sim, n_record, n_body, dim))
    out_acc = np.empty((n_sim, n_record, n_body, dim))
    n_blocks = (n_sim + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        start = blk * BLOCK
        size = min(BLOCK, n_sim - start)
        pos = np.ascontiguousarray(pos0[start:start + size].transpose(1, 2, 0))
        vel = np.ascontiguousarray(vel0[start:start + size].transpose(1, 2, 0))
        m = np.ascontiguousarray(mass[start:start + size].T)
        q = np.ascontiguousarray(charge[start:start + size].T)
        inv_m = 1.0 / m
        acc = np.empty((n_body, dim, size))
        work = np.empty((7, n_body, dim, size))
        scale = np.empty(size)
        accelerations(pos, vel, m, inv_m, q, law, softening, damping, scale, acc)
        _record(out_pos, 0, start, pos)
        _record(out_vel, 0, start, vel)
        _record(out_acc, 0, start, acc)
        for step in range(1, n_steps + 1):
            if integrator == LEAPFROG:
                _leapfrog_step(pos, vel, acc, m, inv_m, q, law, softening, damping, dt, work, scale)
            else:
                _rk4_step(pos, vel, acc, m, inv_m, q, law, softening, damping, dt, work, scale)
            if step % record_every == 0:
                r = step // record_every
                _record(out_pos, r, start, pos)
                _record(out_vel, r, start, vel)
                _record(out_acc, r, start, acc)
    return out_pos, out_vel, out_acc

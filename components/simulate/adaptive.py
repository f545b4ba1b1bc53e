"""Adaptive-step integration that still records at fixed times, one simulation per thread.

Each simulation steps at its own pace: a close encounter takes tiny steps only while it lasts, and a quiet
simulation is not held back by a busy one. Sub-steps end exactly on the record times, so the output has the
same time grid as fixed-step integration. Steps follow the simulation's shortest pair time scale
(``forces.system_accelerations``); how finely is set by an error control that depends on the law:

energy (laws with a potential: r2, r1, spring, charge)
    Each step is ``eta`` times the time scale. A record interval is kept when the energy drift at its end
    obeys ``|E_r - E_0| <= tolerance * (s_0 + ... + s_r) / (n_intervals + 1)``, s_k = K + |U| at record k;
    else it is redone with a smaller eta. The right side never exceeds ``tolerance`` times the mean of K plus
    the mean of |U| over the whole run, so the diagnostics' max |E - E_0| / (mean K + mean |U|) ends at most
    ``tolerance``. Only the drift at the records counts, so leapfrog's bounded energy oscillation within a
    tight binary's orbit need not be resolved ever more finely. eta follows the interval's own change of
    energy, 0.9 (room left / change)^(1/p) (p: the integrator's order), up to ETA_MAX.
step doubling (damped and discontinuous: no conserved energy)
    Every step (at most ETA_MAX times the time scale) is taken once with h and as two steps of h/2. Their
    difference in positions, divided by 2^p - 1, estimates the error of the two half steps, which are kept
    when it is at most ``tolerance * L * h / duration`` (L: the simulation's initial rms distance from its
    centre, plus the softening): position errors made per unit time would add up to ``tolerance * L`` over
    the run. That is a local check, not a global bound: velocities are not checked, and chaotic dynamics
    (the discontinuous law) grow any error. Against fine fixed steps, the damped law's positions stay within
    2e-6 L at the default 1e-3, and within 3 tolerance at 1e-8. The next h is h * 0.9 (allowed / error)^(1/p),
    within [h / 5, 5 h].
"""
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import numba
import numpy as np
from numba import njit

from symdistill.components.simulate.forces import system_accelerations, system_energy

LEAPFROG, RK4 = 0, 1  # the codes of integrate.INTEGRATORS
ORDER = (2, 4)
STEP_CONTROLS = ("energy", "step_doubling")
ENERGY, STEP_DOUBLING = 0, 1
# Largest step as a fraction of the shortest pair time scale, well inside leapfrog's stability limit (2);
# the control only lowers it. 0.2 and 0.4 cost the same within 15% on r2, spring, r1 and charge (500
# simulations); 0.05 costs up to twice as much on the smooth laws.
ETA_MAX = 0.2
ETA_MIN = ETA_MAX * 2.0 ** -30
MAX_STEPS_PER_INTERVAL = 10_000_000  # beyond this a record interval is hopeless (e.g. softening 0 in a collision)
CHUNK = 4  # simulations per task: costs differ 100-fold between simulations, so threads take small chunks
STATS = ("steps", "rejected", "min_step", "force_evaluations", "failed_at")


@njit(cache=True, inline="always", error_model="numpy")
def _axpy(out, x, a, y):
    """out = x + a * y for [n_body, dim] arrays, without temporaries."""
    n, dim = x.shape
    for i in range(n):
        for k in range(dim):
            out[i, k] = x[i, k] + a * y[i, k]


@njit(cache=True, error_model="numpy")
def _rk4(pos, vel, acc, mass, inv_mass, charge, law, softening, damping, h, work):
    """One classical RK4 step; ``acc`` holds a(pos, vel) on entry and exit; work: [7, n_body, dim] scratch."""
    k2x, k2v, k3x, k3v, k4x, k4v, p = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    _axpy(p, pos, 0.5 * h, vel)
    _axpy(k2x, vel, 0.5 * h, acc)
    system_accelerations(p, k2x, mass, inv_mass, charge, law, softening, damping, k2v)
    _axpy(p, pos, 0.5 * h, k2x)
    _axpy(k3x, vel, 0.5 * h, k2v)
    system_accelerations(p, k3x, mass, inv_mass, charge, law, softening, damping, k3v)
    _axpy(p, pos, h, k3x)
    _axpy(k4x, vel, h, k3v)
    system_accelerations(p, k4x, mass, inv_mass, charge, law, softening, damping, k4v)
    n, dim = pos.shape
    for i in range(n):
        for k in range(dim):
            pos[i, k] += h / 6.0 * (vel[i, k] + 2.0 * k2x[i, k] + 2.0 * k3x[i, k] + k4x[i, k])
            vel[i, k] += h / 6.0 * (acc[i, k] + 2.0 * k2v[i, k] + 2.0 * k3v[i, k] + k4v[i, k])
    return system_accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, acc)


@njit(cache=True)
def _next_step(step, remaining):
    """The step to take: ``step``, or the rest of the interval, split in two halves rather than leave a sliver."""
    if step >= remaining:
        return remaining
    if step > 0.5 * remaining:
        return 0.5 * remaining
    return step


@njit(cache=True)
def _copy_state(pos, vel, acc, from_pos, from_vel, from_acc):
    pos[:] = from_pos
    vel[:] = from_vel
    acc[:] = from_acc


@njit(cache=True)
def _store(out_pos, out_vel, out_acc, r, pos, vel, acc):
    out_pos[r] = pos
    out_vel[r] = vel
    out_acc[r] = acc


@njit(cache=True, error_model="numpy")
def _largest_difference(a, b):
    """max |a - b|, NaN if either holds NaN."""
    largest = 0.0
    n, dim = a.shape
    for i in range(n):
        for k in range(dim):
            d = abs(a[i, k] - b[i, k])
            if d != d:
                return d
            largest = max(largest, d)
    return largest


@njit(cache=True, error_model="numpy")
def _step_factor(allowed, error, order):
    """How much the step may change: 0.9 (allowed / error)^(1/order), the error growing as step^order."""
    if error != error:  # NaN: the step blew up
        return 0.0
    if error <= 0.0:
        return np.inf
    return 0.9 * (allowed / error) ** (1.0 / order)


@njit(cache=True, error_model="numpy")
def _energy_controlled(pos, vel, mass, charge, law, softening, damping, integrator, interval, n_intervals,
                       tolerance, out_pos, out_vel, out_acc, stats):
    n, dim = pos.shape
    inv_mass = 1.0 / mass
    acc, work = np.empty((n, dim)), np.empty((7, n, dim))
    start_pos, start_vel, start_acc = np.empty((n, dim)), np.empty((n, dim)), np.empty((n, dim))
    timescale = system_accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, acc)
    _store(out_pos, out_vel, out_acc, 0, pos, vel, acc)
    kinetic, potential = system_energy(pos, vel, mass, charge, law, softening)
    initial_energy = start_energy = kinetic + potential
    scale_sum = kinetic + abs(potential)  # sum of K + |U| over the records so far
    evaluations_per_step = 1 if integrator == LEAPFROG else 4
    order = ORDER[integrator]
    eta = ETA_MAX
    for r in range(1, n_intervals + 1):
        _copy_state(start_pos, start_vel, start_acc, pos, vel, acc)
        start_timescale = timescale
        start_drift = abs(start_energy - initial_energy)
        while True:
            t, steps, smallest = 0.0, 0, np.inf
            while t < interval and steps < MAX_STEPS_PER_INTERVAL:
                h = _next_step(eta * timescale, interval - t)
                t = interval if h == interval - t else t + h
                smallest = min(smallest, h)
                if integrator == LEAPFROG:  # written out: a call per step would cost half a force evaluation
                    _axpy(vel, vel, 0.5 * h, acc)
                    _axpy(pos, pos, h, vel)
                    timescale = system_accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, acc)
                    _axpy(vel, vel, 0.5 * h, acc)
                else:
                    timescale = _rk4(pos, vel, acc, mass, inv_mass, charge, law, softening, damping, h, work)
                steps += 1
            stats[3] += steps * evaluations_per_step
            kinetic, potential = system_energy(pos, vel, mass, charge, law, softening)
            energy = kinetic + potential
            allowed = tolerance * (scale_sum + kinetic + abs(potential)) / (n_intervals + 1)
            # The step adapts to this interval's own change against the room it had left.
            factor = _step_factor(allowed - start_drift, abs(energy - start_energy), order)
            if abs(energy - initial_energy) <= allowed and t >= interval:
                stats[0] += steps
                stats[2] = min(stats[2], smallest)
                break
            eta *= min(0.5, factor)
            if eta < ETA_MIN or steps >= MAX_STEPS_PER_INTERVAL:
                stats[4] = (r - 1) * interval
                return
            stats[1] += 1
            _copy_state(pos, vel, acc, start_pos, start_vel, start_acc)
            timescale = start_timescale
        start_energy = energy
        scale_sum += kinetic + abs(potential)
        eta = min(ETA_MAX, eta * max(0.5, min(2.0, factor)))
        _store(out_pos, out_vel, out_acc, r, pos, vel, acc)


@njit(cache=True, error_model="numpy")
def _doubling_controlled(pos, vel, mass, charge, law, softening, damping, integrator, interval, n_intervals,
                         tolerance, out_pos, out_vel, out_acc, stats):
    n, dim = pos.shape
    inv_mass = 1.0 / mass
    acc, work = np.empty((n, dim)), np.empty((7, n, dim))
    coarse_pos, coarse_vel, coarse_acc = np.empty((n, dim)), np.empty((n, dim)), np.empty((n, dim))
    fine_pos, fine_vel, fine_acc = np.empty((n, dim)), np.empty((n, dim)), np.empty((n, dim))
    timescale = system_accelerations(pos, vel, mass, inv_mass, charge, law, softening, damping, acc)
    _store(out_pos, out_vel, out_acc, 0, pos, vel, acc)
    centre = pos.sum(axis=0) / n
    length = np.sqrt(((pos - centre) ** 2).sum() / n) + softening
    allowed_per_time = tolerance * length / (interval * n_intervals)
    order = ORDER[integrator]
    richardson = 2.0 ** order - 1.0
    evaluations_per_attempt = 3 if integrator == LEAPFROG else 12
    h = min(ETA_MAX * timescale, interval)
    for r in range(1, n_intervals + 1):
        t, attempts = 0.0, 0
        while t < interval:
            step = _next_step(min(h, ETA_MAX * timescale), interval - t)
            _copy_state(coarse_pos, coarse_vel, coarse_acc, pos, vel, acc)
            _copy_state(fine_pos, fine_vel, fine_acc, pos, vel, acc)
            for j in range(3):  # one step of h on the coarse state, two of h/2 on the fine one
                p, v, a, h_j = coarse_pos, coarse_vel, coarse_acc, step
                if j > 0:
                    p, v, a, h_j = fine_pos, fine_vel, fine_acc, 0.5 * step
                if integrator == LEAPFROG:
                    _axpy(v, v, 0.5 * h_j, a)
                    _axpy(p, p, h_j, v)
                    fine_timescale = system_accelerations(p, v, mass, inv_mass, charge, law, softening, damping, a)
                    _axpy(v, v, 0.5 * h_j, a)
                else:
                    fine_timescale = _rk4(p, v, a, mass, inv_mass, charge, law, softening, damping, h_j, work)
            stats[3] += evaluations_per_attempt
            error = _largest_difference(fine_pos, coarse_pos) / richardson
            allowed = allowed_per_time * step
            factor = min(5.0, max(0.2, _step_factor(allowed, error, order)))
            if error <= allowed:
                _copy_state(pos, vel, acc, fine_pos, fine_vel, fine_acc)
                timescale = fine_timescale
                t = interval if step == interval - t else t + step
                stats[0] += 1
                stats[2] = min(stats[2], step)
                h = step * factor if step == h else max(h, step * factor)
            else:
                h = step * factor
                stats[1] += 1
            attempts += 1
            if attempts >= MAX_STEPS_PER_INTERVAL or not h > 0.0:
                stats[4] = (r - 1) * interval
                return
        _store(out_pos, out_vel, out_acc, r, pos, vel, acc)


@njit(cache=True, nogil=True, error_model="numpy")
def _integrate_range(pos0, vel0, mass, charge, law, softening, damping, interval, n_intervals, integrator,
                     control, tolerance, start, stop, out_pos, out_vel, out_acc, stats):
    """Simulations start..stop-1 into the output arrays; releases the GIL so threads run side by side."""
    for s in range(start, stop):
        stats[s, 2] = np.inf
        stats[s, 4] = -1.0
        pos, vel = pos0[s].copy(), vel0[s].copy()
        m, q = mass[s].copy(), charge[s].copy()
        if control == ENERGY:
            _energy_controlled(pos, vel, m, q, law, softening, damping, integrator, interval, n_intervals,
                               tolerance, out_pos[s], out_vel[s], out_acc[s], stats[s])
        else:
            _doubling_controlled(pos, vel, m, q, law, softening, damping, integrator, interval, n_intervals,
                                 tolerance, out_pos[s], out_vel[s], out_acc[s], stats[s])


def integrate_adaptive(pos0, vel0, mass, charge, law: int, softening: float, damping: float, interval: float,
                       n_intervals: int, integrator: int, control: int, tolerance: float,
                       progress: Callable[[int], None] | None = None):
    """Integrate every simulation with adaptive steps, recording every ``interval`` time units.

    pos0, vel0: [n_sim, n_body, dim]; mass, charge: [n_sim, n_body]; law, integrator, control: codes.
    Returns (pos, vel, acc) [n_sim, n_intervals + 1, n_body, dim] (record 0: the initial state) and
    stats [n_sim, len(STATS)]: kept steps; rejected steps (step doubling) or redone intervals (energy);
    the smallest kept step; force evaluations (all work, rejected included); and the time a simulation gave
    up at, -1 if it did not (its later records are NaN). ``progress`` gets the simulations finished per chunk.
    """
    n_sim, n_body, dim = pos0.shape
    out_pos, out_vel, out_acc = (np.full((n_sim, n_intervals + 1, n_body, dim), np.nan) for _ in range(3))
    stats = np.zeros((n_sim, len(STATS)))
    inputs = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in (pos0, vel0, mass, charge))
    settings = (int(law), float(softening), float(damping), float(interval), int(n_intervals), int(integrator),
                int(control), float(tolerance))

    def run(start):
        stop = min(start + CHUNK, n_sim)
        _integrate_range(*inputs, *settings, start, stop, out_pos, out_vel, out_acc, stats)
        return stop - start

    with ThreadPoolExecutor(max_workers=numba.get_num_threads()) as pool:
        for done in as_completed([pool.submit(run, start) for start in range(0, n_sim, CHUNK)]):
            if progress is not None:
                progress(done.result())
    return out_pos, out_vel, out_acc, stats

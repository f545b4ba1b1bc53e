"""The simulator: numba equals the numpy reference, conservation laws hold, output follows the schema."""
import numpy as np
import pytest

from symdistill.components.simulate import FORCE_LAWS, ForceLaw, simulate, total_energy, total_momentum
from symdistill.components.simulate.dataset import initial_conditions
from symdistill.components.simulate.integrate import INTEGRATORS, integrate
from symdistill.components.simulate.reference import reference_accelerations, reference_integrate


@pytest.mark.parametrize("law_name", FORCE_LAWS)
@pytest.mark.parametrize("dim", [2, 3])
def test_numba_matches_numpy_reference(law_name, dim):
    law = ForceLaw(law_name)
    integrator = "rk4" if law_name == "damped" else "leapfrog"
    pos, vel, mass, charge = initial_conditions(3, 5, dim, seed=11)
    pos *= 2.0  # spread bodies so the discontinuous law has pairs on both sides of its threshold
    got = integrate(pos, vel, mass, charge, law.code, law.softening, law.damping, 1e-3, 60, 20,
                    INTEGRATORS.index(integrator))
    want = reference_integrate(pos, vel, mass, charge, law, 1e-3, 60, 20, integrator)
    for name, a, b in zip(("pos", "vel", "acc"), got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=name)


def test_rk4_matches_reference_for_a_conservative_law():
    law = ForceLaw("r1")
    pos, vel, mass, charge = initial_conditions(2, 4, 2, seed=3)
    got = integrate(pos, vel, mass, charge, law.code, law.softening, law.damping, 1e-3, 30, 10, INTEGRATORS.index("rk4"))
    want = reference_integrate(pos, vel, mass, charge, law, 1e-3, 30, 10, "rk4")
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10, atol=1e-12)


def test_acceleration_is_the_stated_law_for_one_pair():
    law = ForceLaw("r2")
    pos = np.array([[[0.0, 0.0], [3.0, 4.0]]])  # distance 5
    vel = np.zeros_like(pos)
    mass = np.array([[2.0, 3.0]])
    charge = np.ones((1, 2))
    _, _, acc = integrate(pos, vel, mass, charge, law.code, 0.0, 0.0, 1e-3, 1, 1, 0)
    expected_force = 2.0 * 3.0 / 25.0 * np.array([3.0, 4.0]) / 5.0  # attraction of 0 toward 1
    np.testing.assert_allclose(acc[0, 0, 0], expected_force / 2.0, rtol=1e-12)
    np.testing.assert_allclose(acc[0, 0, 1], -expected_force / 3.0, rtol=1e-12)


@pytest.mark.parametrize("law_name", ["r2", "r1", "spring", "charge"])
def test_energy_is_conserved_for_conservative_laws(law_name):
    law = ForceLaw(law_name, softening=0.1)
    ds = simulate(law, n_bodies=4, dim=3, n_sims=4, n_steps=2000, dt=2e-4, record_every=100, seed=5)
    energy = total_energy(ds, law).values
    kinetic_scale = 0.5 * (ds["mass"] * (ds["vel"] ** 2).sum("dim")).sum("body").mean("time").values
    drift = np.abs(energy - energy[:, :1]).max(axis=1) / (np.abs(energy[:, 0]) + kinetic_scale)
    assert drift.max() < 1e-4, drift


@pytest.mark.parametrize("law_name", FORCE_LAWS)
def test_momentum_is_conserved(law_name):
    integrator = "rk4" if law_name == "damped" else "leapfrog"
    ds = simulate(ForceLaw(law_name), n_bodies=5, dim=2, n_sims=3, n_steps=200, dt=1e-3, record_every=50,
                  integrator=integrator, seed=2)
    momentum = total_momentum(ds).values
    np.testing.assert_allclose(momentum, np.broadcast_to(momentum[:, :1], momentum.shape), atol=1e-10)


def test_damped_law_loses_energy():
    law = ForceLaw("damped", damping=0.5)
    ds = simulate(law, n_bodies=4, dim=2, n_sims=3, n_steps=500, dt=1e-2, record_every=100, integrator="rk4")
    energy = total_energy(ds, law).values
    assert (energy[:, -1] < energy[:, 0]).all()


def test_output_schema_and_recorded_truth():
    ds = simulate(ForceLaw("charge"), n_bodies=3, dim=3, n_sims=2, n_steps=20, dt=1e-3, record_every=10)
    assert ds["pos"].dims == ("sim", "time", "body", "dim")
    assert ds["mass"].dims == ("sim", "body")
    assert ds.sizes == {"sim": 2, "time": 3, "body": 3, "dim": 3}
    assert list(ds["dim"].values) == ["x", "y", "z"]
    assert ds["acc"].attrs["units"] == "m/s**2" and ds["time"].attrs["units"] == "s"
    assert ds.attrs["force_law"]["name"] == "charge"
    assert ds.attrs["force_law"]["parameters"] == {"softening": 0.01}
    np.testing.assert_allclose(ds["time"].values, [0.0, 0.01, 0.02])


def test_a_simulation_does_not_depend_on_how_many_are_drawn():
    small = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=2, n_steps=20, dt=1e-2, record_every=5, seed=9)
    large = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=5, n_steps=20, dt=1e-2, record_every=5, seed=9)
    np.testing.assert_array_equal(small["pos"].values, large["pos"].values[:2])


def test_progress_reports_every_simulation():
    seen = []
    simulate(ForceLaw("spring"), n_bodies=2, dim=2, n_sims=10, n_steps=5, dt=1e-2, record_every=5,
             progress=seen.append, batch_size=4)
    assert seen == [4, 4, 2]


def test_divergence_is_reported():
    with pytest.raises(ValueError, match="diverged.*reduce dt"):
        simulate(ForceLaw("spring"), n_bodies=4, dim=2, n_sims=4, n_steps=2000, dt=5.0, record_every=100)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown force law 'hooke'; choose one of r2, r1"):
        ForceLaw("hooke")
    with pytest.raises(ValueError, match="use integrator 'rk4'"):
        simulate(ForceLaw("damped"), n_bodies=2, dim=2, n_sims=1, n_steps=2, dt=1e-2, record_every=1,
                 integrator="leapfrog")
    with pytest.raises(ValueError, match="unknown integrator 'euler'"):
        simulate(ForceLaw("spring"), n_bodies=2, dim=2, n_sims=1, n_steps=2, dt=1e-2, record_every=1,
                 integrator="euler")


def small(law, **options):
    """Four bodies in 2D, a few simulations over 2 time units, recorded every 0.1."""
    return simulate(law, **{"n_bodies": 4, "dim": 2, "n_sims": 8, "duration": 2.0, "record_interval": 0.1,
                            **options})


def test_auto_dt_keeps_gravity_energy_drift_within_tolerance_through_close_encounters():
    law = ForceLaw("r2", softening=0.01)  # the paper's softening; masses exp(N(0, 1))
    auto = small(law)
    pos = auto["pos"].values
    pair_distance = np.sqrt(((pos[:, :, :, None] - pos[:, :, None]) ** 2).sum(-1)) + 1e9 * np.eye(4)
    assert pair_distance.min() < 0.02  # a close encounter happened ...
    assert auto.attrs["integrator"]["min_step"] < 1e-4  # ... and was stepped through finely
    assert auto.attrs["diagnostics"]["max_relative_energy_drift"] <= 1e-3
    fixed = small(law, dt=1e-3)  # ten times the old default's steps, fixed, is not enough
    assert fixed.attrs["diagnostics"]["max_relative_energy_drift"] > 0.1


def test_auto_dt_records_at_fixed_times_with_the_laws_accelerations():
    law = ForceLaw("charge")
    ds = small(law, n_sims=3, duration=0.5)
    np.testing.assert_allclose(ds["time"].values, np.arange(6) * 0.1, rtol=0, atol=1e-15)
    pos, vel = ds["pos"].values, ds["vel"].values
    for t in range(ds.sizes["time"]):
        want = reference_accelerations(pos[:, t], vel[:, t], ds["mass"].values, ds["charge"].values, law)
        np.testing.assert_allclose(ds["acc"].values[:, t], want, rtol=1e-10, atol=1e-10)
    momentum = total_momentum(ds).values
    np.testing.assert_allclose(momentum, np.broadcast_to(momentum[:, :1], momentum.shape), atol=1e-10)


def test_auto_integrator_is_leapfrog_with_energy_control_and_rk4_with_step_doubling_for_damping():
    spring = small(ForceLaw("spring"), n_sims=2, duration=0.2).attrs["integrator"]
    damped = small(ForceLaw("damped"), n_sims=2, duration=0.2).attrs["integrator"]
    assert (spring["name"], spring["dt"], spring["step_control"]) == ("leapfrog", "auto", "energy")
    assert (damped["name"], damped["dt"], damped["step_control"]) == ("rk4", "auto", "step_doubling")
    chosen = small(ForceLaw("spring"), n_sims=2, duration=0.2, integrator="rk4").attrs["integrator"]
    assert chosen["name"] == "rk4" and chosen["steps"] > 0
    fixed = small(ForceLaw("spring"), n_sims=2, duration=0.2, dt=0.01).attrs["integrator"]
    assert (fixed["name"], fixed["dt"], fixed["step_control"], fixed["n_steps"]) == ("leapfrog", 0.01, "fixed", 20)


def test_step_doubling_stays_within_tolerance_of_a_fine_fixed_step_solution():
    law = ForceLaw("damped")
    fine = small(law, duration=1.0, dt=1e-4, integrator="rk4")
    initial = fine["pos"].values[:, 0]
    size = np.sqrt(((initial - initial.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1)) + law.softening
    steps, errors = {}, {}
    for tolerance in (1e-3, 1e-8):
        auto = small(law, duration=1.0, tolerance=tolerance)
        errors[tolerance] = (np.abs(auto["pos"].values - fine["pos"].values).max(axis=(1, 2, 3)) / size).max()
        steps[tolerance] = auto.attrs["integrator"]["steps"]
    assert errors[1e-3] <= 1e-3
    # A local check, not a global guarantee: the error is of the order of the tolerance, and the control
    # (not only the time scale) sets the steps.
    assert errors[1e-8] <= 1e-7 and steps[1e-8] > 2 * steps[1e-3]


def test_the_record_grid_in_steps_equals_the_grid_in_time():
    law = ForceLaw("spring")
    in_steps = simulate(law, n_bodies=3, dim=2, n_sims=2, n_steps=40, dt=0.01, record_every=10, seed=4)
    in_time = simulate(law, n_bodies=3, dim=2, n_sims=2, duration=0.4, record_interval=0.1, dt=0.01, seed=4)
    np.testing.assert_array_equal(in_steps["pos"].values, in_time["pos"].values)
    np.testing.assert_allclose(in_steps["time"].values, in_time["time"].values, rtol=1e-15)


def test_fixed_masses_are_the_same_bodies_in_every_simulation():
    drawn = small(ForceLaw("r1"), n_sims=4, duration=0.2)
    fixed = small(ForceLaw("r1"), n_sims=4, duration=0.2, fixed_masses=True, fixed_charges=True)
    for name in ("mass", "charge"):
        np.testing.assert_array_equal(fixed[name].values, np.repeat(drawn[name].values[:1], 4, axis=0))
    assert not np.allclose(drawn["mass"].values[0], drawn["mass"].values[1])
    np.testing.assert_array_equal(fixed["pos"].values[:, 0], drawn["pos"].values[:, 0])  # only masses change
    assert fixed.attrs["bodies"] == {"masses": "fixed", "charges": "fixed"}
    given = small(ForceLaw("r1"), n_sims=3, duration=0.2, masses=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(given["mass"].values, [[1.0, 2.0, 3.0, 4.0]] * 3)
    assert given.attrs["bodies"]["masses"] == "given"


@pytest.mark.parametrize("options, message", [
    ({"masses": [1.0, 2.0]}, "masses lists 2 values but there are 4 bodies"),
    ({"masses": [1.0, 2.0, 0.0, 1.0]}, "masses must all be positive and finite"),
    ({"masses": [1.0, 2.0, np.nan, 1.0]}, "masses must all be positive and finite"),
    ({"masses": [1.0] * 4, "fixed_masses": True}, "give fixed_masses or masses, not both"),
    ({"charges": [1.0, np.inf, 1.0, 1.0]}, "charges must all be finite"),
    ({"duration": 0.25}, r"duration \(0.25\) must be a whole number of record intervals \(0.1\)"),
    ({"dt": 0.03}, r"a fixed dt \(0.03\) must divide record_interval"),
    ({"dt": "fast"}, "dt must be 'auto' or a step greater than 0"),
])
def test_bad_bodies_and_time_grids_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        small(ForceLaw("spring"), n_sims=2, **options)

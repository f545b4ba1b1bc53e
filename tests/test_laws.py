"""The benchmark's truths (benchmarks/laws.py) and the novel-law data (benchmarks/novel_laws.py)."""
import json
import sys

import numpy as np
import pytest
import sympy

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import laws  # noqa: E402
import novel_laws  # noqa: E402

dx, dvx, r, mass, mass_j = (laws.S[n] for n in ("dx_ij", "dvx_ij", "r_ij", "mass", "mass_j"))
SPRING = -2 * (r - 1) * dx / (r * mass)


def test_simulator_truths_in_the_softening_limit():
    assert sympy.simplify(laws.pair_truth("spring", {}, "x").expression - SPRING) == 0
    assert sympy.simplify(laws.pair_truth("r2", {"softening": 0.1}, "x").expression + mass_j * dx / r ** 3) == 0
    damped = laws.pair_truth("damped", {"damping": 0.5}, "x").expression
    assert sympy.simplify(damped - SPRING + dvx / (2 * mass)) == 0
    charge = laws.pair_truth("charge", {}, "y").expression
    assert sympy.simplify(charge - laws.S["charge"] * laws.S["charge_j"] * laws.S["dy_ij"] / (mass * r ** 3)) == 0


def test_softening_is_kept_when_asked():
    truth = laws.pair_truth("r2", {"softening": 0.1}, "x", softening_limit=False).expression
    assert sympy.simplify(truth + mass_j * dx / (r * (r + sympy.Rational(1, 10)) ** 2)) == 0


def test_a_found_softening_is_taken_to_its_limit_like_the_truths():
    found = -0.9998 * mass_j * dx / (1.0 * r + 0.004904) ** 2  # r1 with a softening of its own form
    assert sympy.simplify(laws.softening_limit(found) + 0.9998 * mass_j * dx / r ** 2) == 0
    assert laws.recovered(laws.softening_limit(found), laws.pair_truth("r1", {}, "x").expression)
    spring = 1.98 * dx / r - 0.03 * dx  # neither beside r alone nor small: both kept
    assert laws.softening_limit(spring) == spring


def test_discontinuous_law_has_two_regions():
    (inner, zero), (outer, spring) = laws.pair_truth("discontinuous", {}, "x")
    assert zero == 0 and inner == (r < 2) and outer == (r >= 2)
    assert sympy.simplify(spring - SPRING) == 0
    assert laws.recovered(-1.998 * (r - 1.0) * dx / (r * mass), spring, region=outer)
    assert not laws.recovered(-2.0 * (r - 1.0) * dx / (r * mass), zero, region=inner)


def test_recovered_accepts_constants_within_one_percent_only():
    assert laws.recovered(-2.0 * (r - 1.0) * dx / (r * mass), SPRING)
    assert laws.recovered(-2.008 * (r - 0.996) * dx / (r * mass), SPRING)          # 0.4% off
    assert laws.recovered(-2.0 * dx / mass + 2.0 * dx / (r * sympy.Symbol("mass_i")), SPRING)
    assert not laws.recovered(-2.04 * (r - 1.0) * dx / (r * mass), SPRING)         # 2% off
    assert not laws.recovered(-2.0 * (r - 1.0) * dx / (r ** 2 * mass), SPRING)     # wrong power
    assert not laws.recovered(-2.0 * (r - 1.0) * dx / (r * mass) + 0.001 * dx, SPRING)  # spurious term


def test_max_constant_error_measures_matched_constants_or_falls_back_to_pointwise():
    error = laws.max_constant_error(-2.008 * (r - 1.0) * dx / (r * mass), SPRING)
    assert error.measure == "constants" and error.value == pytest.approx(0.004, rel=1e-6)
    assert laws.max_constant_error(-2.0 * dx / (r ** 2 * mass), SPRING).measure == "pointwise"


def test_morse_with_rounded_e_constants_is_recovered():
    morse = laws.pair_truth("morse", {}, "x").expression  # -6 (e^{1-r} - e^{2-2r}) dx / (r mass)
    found = (-16.31 * sympy.exp(-r) + 44.33 * sympy.exp(-2.0 * r)) * dx / (r * mass)
    assert laws.recovered(found, morse)
    assert not laws.recovered((-16.31 * sympy.exp(-r) + 44.33 * sympy.exp(-2.2 * r)) * dx / (r * mass), morse)


def test_a_law_written_with_the_relative_speed_is_read_as_its_velocity_components():
    drag2 = laws.pair_truth("quadratic_drag", {}, "x", dim=2).expression
    drag3 = laws.pair_truth("quadratic_drag", {}, "x", dim=3).expression
    speed, dvy = laws.S["speed_ij"], laws.S["dvy_ij"]
    found = (dx * (2.0 - 2.0 * r) / r - 0.25 * speed * dvx) / mass
    assert laws.recovered(found, drag2) and laws.recovered(found, drag3)  # the truth's |dv| sets the axes
    assert not laws.recovered((dx * (2.0 - 2.0 * r) / r - 0.25 * sympy.Abs(dvx) * dvx) / mass, drag2)
    assert not laws.recovered((dx * (2.0 - 2.0 * r) / r - 0.25 * speed * dvy) / mass, drag2)


@pytest.mark.parametrize("law", list(laws.NOVEL_LAWS))
@pytest.mark.parametrize("dim", [2, 3])
def test_numpy_forces_of_the_novel_laws_match_their_sympy_truths(law, dim):
    rng = np.random.default_rng(3)
    pos, vel = rng.normal(size=(50, 2, dim)), rng.normal(size=(50, 2, dim))
    mass_ = np.exp(rng.normal(size=(50, 2)))
    p = laws.NOVEL_LAWS[law]["parameters"]
    acc, _ = novel_laws.evaluate(law, p, novel_laws.Pairs(2), pos, vel, mass_)
    d, dv = pos[:, 0] - pos[:, 1], vel[:, 0] - vel[:, 1]
    values = {"r_ij": np.linalg.norm(d, axis=1), "mass": mass_[:, 0], "mass_j": mass_[:, 1]}
    for k, axis in enumerate("xyz"[:dim]):
        values[f"d{axis}_ij"], values[f"dv{axis}_ij"] = d[:, k], dv[:, k]
    for k, axis in enumerate("xyz"[:dim]):
        truth = laws.pair_truth(law, p, axis, softening_limit=False, dim=dim).expression
        symbols = sorted(truth.free_symbols, key=str)
        expected = sympy.lambdify(symbols, truth, "numpy")(*[values[s.name] for s in symbols])
        np.testing.assert_allclose(acc[:, 0, k], expected, rtol=1e-10)


@pytest.mark.parametrize("law", ["morse", "r3"])
def test_numpy_force_is_minus_the_gradient_of_the_numpy_potential(law):
    rng = np.random.default_rng(5)
    pos, mass_ = rng.normal(size=(20, 3, 2)), np.exp(rng.normal(size=(20, 3)))
    p, pairs, h = laws.NOVEL_LAWS[law]["parameters"], novel_laws.Pairs(3), 1e-6
    acc, _ = novel_laws.evaluate(law, p, pairs, pos, np.zeros_like(pos), mass_)
    gradient = np.zeros_like(pos)
    for body in range(3):
        for k in range(2):
            step = np.zeros_like(pos)
            step[:, body, k] = h
            gradient[:, body, k] = (novel_laws.potential_energy(law, p, pairs, pos + step, mass_)
                                    - novel_laws.potential_energy(law, p, pairs, pos - step, mass_)) / (2 * h)
    np.testing.assert_allclose(acc * mass_[..., None], -gradient, rtol=1e-5, atol=1e-7)


def test_generated_file_reads_through_ingest(tmp_path):
    report = novel_laws.generate("morse", tmp_path, dim=2, n_sims=3, n_bodies=4, n_frames=11, seed=0)
    assert report["max_relative_energy_drift"] < 1e-3  # generate() has already read it back via ingest
    meta = json.loads((tmp_path / "morse2d.json").read_text())
    assert meta["name"] == "morse" and meta["parameters"] == laws.NOVEL_LAWS["morse"]["parameters"]


def test_an_ablation_setting_reaches_the_case_config_as_toml_and_a_bad_one_is_refused(tmp_path):
    import tomllib
    import discovery_matrix
    config, _ = discovery_matrix.write_case("spring-2d", discovery_matrix.cases()["spring-2d"], tmp_path,
                                            ['search.weighting="relative"', "search.max_size=24"])
    parsed = tomllib.loads(config.read_text())
    assert parsed["search"] == {"weighting": "relative", "max_size": 24} and parsed["simulate"]["law"] == "spring"
    for bad, message in (("weighting=1", "section.key=value"), ("search.weighting=relative", "TOML literal")):
        with pytest.raises(SystemExit, match=message):
            discovery_matrix.settings_text([bad])

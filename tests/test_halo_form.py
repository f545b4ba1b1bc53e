"""benchmarks/halo_form.py: a law is the paper's halo form, up to constants, or it is not."""
import sys

import numpy as np
import sympy

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import halo_form  # noqa: E402

mass, mass_j, r = (sympy.Symbol(n, real=True) for n in ("mass", "mass_j", "r_ij"))
j, n = sympy.symbols("j N", integer=True)
MASSES = np.random.default_rng(0).lognormal(-0.6, 0.5, 1000)


def law(term, outside=sympy.Float(-0.157)):
    return sympy.Sum(term, (j, 1, n)) + outside


def test_a_member_of_the_papers_family_has_the_form_and_its_constants_come_back():
    term = (3.6e-23 + 8.1e-23 * mass_j) / ((10 * mass + 471) * (r ** 20.3 + 4.6e-24))
    result = halo_form.check(law(term), MASSES, 0.08)
    assert result["form"] and result["worst_relative_misfit"] < 1e-9
    assert abs(result["C4"] - 3.6 / 8.1) < 1e-6 and abs(result["C3/C2"] - 10 / 471) < 1e-6
    assert abs(result["C7"] - 20.3) < 1e-6 and result["C1"] == -0.157


def test_a_stand_in_for_the_cut_off_or_the_host_mass_factor_is_not_the_form():
    cut_off = sympy.exp(2 * sympy.cos(1.36e9 * r ** 8))  # what one search without pow gave
    stand_in = (mass_j + 0.42) * sympy.exp(sympy.exp(-0.022 * mass)) * cut_off * 7.5e-4
    assert not halo_form.check(law(stand_in), MASSES, 0.08)["form"]
    host = (0.44 + mass_j) * sympy.exp(sympy.exp(-0.022 * mass)) / (r ** 20.3 + 4.6e-24) * 6e-26
    assert not halo_form.check(law(host), MASSES, 0.08)["form"]


def test_a_law_reading_anything_else_is_not_the_form():
    dx = sympy.Symbol("dx_ij", real=True)
    result = halo_form.check(law((dx + mass_j) / (1 + r ** 20)), MASSES, 0.08)
    assert not result["form"] and "dx_ij" in result["why"]
    assert not halo_form.check(law(mass_j / (1 + r ** 20), mass), MASSES, 0.08)["form"]

"""Units of a law's constants follow from the units of its variables and its output."""
import sympy

from symdistill.components.constant_units import constant_units

dx, r, m, mj, q, qj, latent = sympy.symbols("dx_ij r_ij mass mass_j charge charge_j latent0_j", real=True)
j, N = sympy.symbols("j N", integer=True)
SI = {"dx_ij": "m", "r_ij": "m", "mass": "kg", "mass_j": "kg", "charge": "C", "charge_j": "C"}


def test_spring_constants_come_out_as_force_and_stiffness():
    law = sympy.Sum(dx * (sympy.Rational(99, 50) - 2 * r) / (m * r), (j, 1, N))
    found = constant_units(law, SI, "m/s**2")
    assert found["consistent"] and dict(found["constants"]) == {"99/50": "kg·m/s²", "-2": "kg/s²"}
    # written with the numbers pulled out of the sum, as SymPy prints it, the units are the same
    pulled_out = dx * (99 - 100 * r) / (50 * m * r)
    assert dict(constant_units(pulled_out, SI, "m/s**2")["constants"]) == {"99/50": "kg·m/s²", "-2": "kg/s²"}


def test_gravity_coulomb_and_a_transcendental_argument():
    assert constant_units(-0.968 * dx * mj / r ** 3, SI, "m/s**2")["constants"] == [("-0.968", "m³/kg/s²")]
    coulomb = constant_units(8.99e9 * q * qj * dx / (m * r ** 3), SI, "m/s**2")
    assert coulomb["constants"] == [("8.99e+09", "kg·m³/A²/s⁴")]
    morse = constant_units(3.0 * dx * sympy.exp(-1.2 * r) / m, SI, "m/s**2")
    assert dict(morse["constants"]) == {"3": "kg/s²", "-1.2": "1/m"}


def test_what_the_data_do_not_fix_is_left_open_and_an_inconsistent_law_is_named():
    softened = constant_units(-1e4 * dx * mj / (r * (100 * r + 1) ** 2), SI, "m/s**2")
    assert softened["consistent"] and all(units is None for _, units in softened["constants"])
    assert constant_units(sympy.sin(r) * dx, SI, "m/s**2") == {"consistent": False, "constants": []}
    # a latent parameter has units of its own, so the constant beside it is not fixed
    assert constant_units(-1.0 * latent * dx / r ** 3, SI, "m/s**2")["constants"] == [("-1", None)]
    assert constant_units(dx / m, SI, None) is None


def test_data_in_non_si_units_give_dimensions_not_si_units():
    found = constant_units(2 * dx * r / m, {"dx_ij": "cm", "r_ij": "cm", "mass": "g"}, "cm/s**2")
    assert found["constants"] == [("2", "[length]^-1 [mass] [time]^-2 (in the data's units)")]

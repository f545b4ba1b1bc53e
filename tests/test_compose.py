"""Composition, re-fitting and OOD splits, checked against the simulator's own law."""
import numpy as np
import pytest
import sympy
import torch

from symdistill.components.compose import (ComposedModel, Composition, latex_text, numpy_model, plain_text,
                                            prediction_errors, sympy_model)
from symdistill.components.refit import refit
from symdistill.components.ood import OODError, OODRule, ood_frames
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.sr.export import from_sympy
from symdistill.components.train_surrogate import build_graphs

UNITS = {"length": "m", "time": "s", "mass": "kg", "charge": "C"}
EDGE = ("dx", "dy", "r", "charge_i", "charge_j", "mass_i", "mass_j")
NODE = ("charge", "mass", "sum_message0", "sum_message1")


@pytest.fixture(scope="module")
def spring_data():
    return simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=12, n_steps=100, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=5, units=UNITS)


def spring_composition(k=-2.0, rest=0.99, names=EDGE, node=NODE, mass="mass"):
    dx, dy, r = sympy.symbols("dx dy r", real=True)
    s0, s1, m = sympy.symbols(f"sum_message0 sum_message1 {mass}", real=True)
    force = [k * (r - rest) * d / r for d in (dx, dy)]  # r' - 1 = r + 0.01 - 1
    return Composition({0: from_sympy(force[0], names), 1: from_sympy(force[1], names)},
                       {"acc_x": from_sympy(s0 / m, node), "acc_y": from_sympy(s1 / m, node)}, names, node)


def test_composition_of_the_true_law_equals_the_simulator(spring_data):
    graphs = build_graphs(spring_data, dtype=np.float64)
    with torch.no_grad():
        predicted = ComposedModel(spring_composition())(graphs).numpy()
    np.testing.assert_allclose(predicted, graphs.target, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(numpy_model(spring_composition())(graphs), predicted, rtol=1e-12)
    expressions = sympy_model(spring_composition())
    assert "Sum" in str(expressions["acc_x"]) and "dx_ij" in str(expressions["acc_x"])


def test_refit_recovers_planted_constants(spring_data):
    graphs = build_graphs(spring_data, dtype=np.float64)
    model = ComposedModel(spring_composition(k=-1.5, rest=0.8))
    errors = refit(model, graphs, iterations=100)
    assert errors["relative_mae_after"] < 1e-8 < errors["relative_mae_before"]
    fitted = model.composition_now()
    for component in (0, 1):
        constants = sorted(fitted.edge[component].constants)
        np.testing.assert_allclose(constants, [-2.0, 1.98], rtol=1e-6)  # SymPy expands -2 (r - 0.99)


def test_refit_reaches_the_exact_law_through_constants_that_multiply_across_functions(spring_data):
    """The node's scale times the edge's is one direction of the fit, and a shift beside the mass another
    that the data barely constrain: the fit must still land on the simulator's constants."""
    graphs = build_graphs(spring_data, dtype=np.float64)
    dx, dy, r = sympy.symbols("dx dy r", real=True)
    s0, s1, m = sympy.symbols("sum_message0 sum_message1 mass", real=True)
    edge = {k: from_sympy(-0.95 * (r - 0.8) * d / r, EDGE) for k, d in enumerate((dx, dy))}
    node = {f"acc_{a}": from_sympy(2.47 * s / (m + 1e-3), NODE) for a, s in zip("xy", (s0, s1))}
    model = ComposedModel(Composition(edge, node, EDGE, NODE))
    errors = refit(model, graphs, iterations=100)
    assert errors["relative_mae_after"] < 1e-9
    fitted = model.composition_now()
    for k, axis in enumerate("xy"):
        scale, rest = sorted(fitted.edge[k].constants, key=abs)[::-1]  # |-0.95 k| > |0.8 k'|: see from_sympy's form
        node_scale, shift = sorted(fitted.node[f"acc_{axis}"].constants, key=abs)[::-1]
        assert abs(shift) < 1e-8
        np.testing.assert_allclose(node_scale * scale, -2.0, rtol=1e-7)


def test_the_jacobian_built_in_chunks_of_frames_gives_the_same_fit(spring_data, monkeypatch):
    import symdistill.components.least_squares as least_squares
    graphs = build_graphs(spring_data, sims=[0, 1, 2], dtype=np.float64)
    fits = []
    for budget in (10 ** 12, 20_000):  # one chunk; several chunks of a few frames
        monkeypatch.setattr(least_squares, "JACOBIAN_BUDGET", budget)
        model = ComposedModel(spring_composition(k=-1.5, rest=0.8))
        refit(model, graphs, iterations=30)
        fits.append(np.concatenate([p.constants for p in model.composition_now().functions().values()]))
    np.testing.assert_allclose(fits[1], fits[0], rtol=1e-9)


def test_a_law_with_a_steep_exponential_step_prints(spring_data):
    """exp(-1e14 exp(-49 r/3)), a smooth step the search found for the discontinuous law: polynomial
    factoring read it as a polynomial of degree 1e14 in exp(r/3) and took 24 GB."""
    dx, dy, r = sympy.symbols("dx dy r", real=True)
    s0, s1, m = sympy.symbols("sum_message0 sum_message1 mass", real=True)
    step = sympy.exp(-1e14 * sympy.exp(-16.3333 * r))
    law = Composition({0: from_sympy(0.25 * dx * step, EDGE), 1: from_sympy(0.25 * dy * step, EDGE)},
                      {"acc_x": from_sympy(-5.0 * s0 / m, NODE), "acc_y": from_sympy(-5.0 * s1 / m, NODE)}, EDGE, NODE)
    pair = sympy_model(law)["acc_x"].args[0]
    values = {sympy.Symbol("dx_ij", real=True): 0.6, sympy.Symbol("r_ij", real=True): 2.5,
              sympy.Symbol("mass", real=True): 2.0}
    assert float(pair.xreplace(values)) == pytest.approx(-1.25 * 0.6 / 2.0 * float(step.subs(r, 2.5)), rel=1e-9)


def test_an_offset_inside_a_power_prints_as_a_softening():
    """Fitted constants scale freely between a power and its coefficient: (3.253e4 r + 325.3)^2 must print
    as (r + 0.01)^2 with the scale outside, the same value."""
    dx, r, mass_j = sympy.symbols("dx r mass_j", real=True)
    s0, m = sympy.symbols("sum_message0 mass", real=True)
    edge = -1.058e9 * mass_j * dx / (r * (3.253e4 * r + 325.3) ** 2)
    law = Composition({0: from_sympy(edge, EDGE)}, {"acc_x": from_sympy(s0 / m, NODE)}, EDGE, NODE)
    pair = sympy_model(law)["acc_x"].args[0]
    assert "(r_ij + 0.01)**2" in str(pair), pair
    values = {sympy.Symbol("dx_ij", real=True): 0.6, sympy.Symbol("r_ij", real=True): 0.7,
              sympy.Symbol("mass_j", real=True): 2.0, m: 1.5}
    expected = float(edge.xreplace({dx: 0.6, r: 0.7, mass_j: 2.0})) / 1.5
    assert float(pair.xreplace(values)) == pytest.approx(expected, rel=1e-12)


def test_refit_recovers_planted_masses_as_latent_parameters():
    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=12, n_steps=100, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=5, units=UNITS)
    masses = np.array([0.5, 1.5, 3.0])  # the same bodies in every simulation, as planets are
    data["acc"] = data["acc"] * data["mass"] / xr_mass(data, masses)
    data["mass"] = xr_mass(data, masses)
    graphs = build_graphs(data, edge_features=("dx", "r"), node_features=(), dtype=np.float64)
    names = ("dx", "dy", "r", "latent0_i", "latent0_j")
    node = ("latent0", "sum_message0", "sum_message1")
    start = np.array([[1.0], [1.0], [1.0]])
    model = ComposedModel(spring_composition(names=names, node=node, mass="latent0"), latent=start)
    errors = refit(model, graphs, iterations=200)
    assert errors["relative_mae_after"] < 1e-6
    np.testing.assert_array_equal(start, [[1.0], [1.0], [1.0]])  # the caller's array is never fitted in place
    fitted_masses = model.latent.detach().numpy()[:, 0]
    with torch.no_grad():
        np.testing.assert_allclose(numpy_model(model.composition_now(), model.latent.detach().numpy())(graphs),
                                   model(graphs).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fitted_masses / fitted_masses[0], masses / masses[0], rtol=1e-5)


def test_edges_read_the_latent_parameters_their_composition_names(spring_data):
    """A composition whose edges see only the sender's latent (latent0_j) reads latent[sender]; both model
    forms agree with a plain loop over the pairs."""
    graphs = build_graphs(spring_data, sims=[0], edge_features=("dx", "r"), node_features=(), dtype=np.float64)
    dx, r, lj, li, s0 = sympy.symbols("dx r latent0_j latent0 sum_message0", real=True)
    names, node = ("dx", "dy", "r", "latent0_j"), ("latent0", "sum_message0")
    composition = Composition({0: from_sympy(lj * dx / r, names)}, {"acc_x": from_sympy(s0 / li, node)}, names, node)
    latent = np.array([[0.5], [2.0], [4.0]])
    with torch.no_grad():
        predicted = ComposedModel(composition, latent)(graphs).numpy()[..., 0]
    np.testing.assert_allclose(numpy_model(composition, latent)(graphs)[..., 0], predicted, rtol=1e-12)
    pos = spring_data["pos"].values[0]  # [time, body, dim]
    expected = np.zeros(pos.shape[:2])
    for i in range(3):
        for j in set(range(3)) - {i}:
            d = pos[:, i] - pos[:, j]
            expected[:, i] += latent[j, 0] * d[:, 0] / np.linalg.norm(d, axis=1) / latent[i, 0]
    np.testing.assert_allclose(predicted, expected, rtol=1e-10)
    bad = Composition(composition.edge, composition.node, ("dx", "dy", "r", "latent0_k"), node)
    with pytest.raises(ValueError, match="latent0_k.*latent<c>_i / latent<c>_j"):
        numpy_model(bad, latent)(graphs)


def xr_mass(data, masses):
    return data["mass"] * 0 + masses[None, :]


def test_ood_split_withholds_exactly_the_frames_it_names(spring_data):
    rule = OODRule("body_property", "mass", high=2.0)
    mask = ood_frames(spring_data, rule)
    heavy = (spring_data["mass"].values > 2.0).any(axis=1)
    assert (mask == heavy[:, None]).all() and 0 < heavy.sum() < len(heavy)
    far = ood_frames(spring_data, OODRule("pair_distance", high=2.5))
    pos = spring_data["pos"].values
    distances = [np.linalg.norm(pos[:, :, a] - pos[:, :, b], axis=-1) for a, b in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_array_equal(far, np.max(distances, axis=0) > 2.5)
    with pytest.raises(OODError, match="OOD variable 'density' is not a per-body property"):
        ood_frames(spring_data, OODRule("body_property", "density", high=1.0))


def test_prediction_errors_are_relative_to_the_target_scale():
    errors = prediction_errors(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    assert errors == {"mae": 1.0, "relative_mae": 0.5}


def test_a_given_expression_is_parsed_without_evaluation_and_hostile_text_is_refused():
    from symdistill.components.compose_choice import ComposeError, given_program
    program = given_program("edge_message0", "-2*(r - 0.99)*dx/r", EDGE)
    graphs_x = np.array([[1.0, 0.0, 2.0, 1, 1, 1, 1]])
    from symdistill.components.sr.export import to_numpy
    assert to_numpy(program)(graphs_x)[0] == pytest.approx(-2 * (2 - 0.99) / 2)
    for hostile, message in (("__import__('os').system('true')", "unsupported syntax"),
                             ("dx.__class__", "unsupported syntax"), ("speed * 2", "unknown name 'speed'"),
                             ("dx +", "cannot parse")):
        with pytest.raises(ComposeError, match=message):
            given_program("edge_message0", hostile, EDGE)


def test_message_offsets_are_summed_apart_so_the_pair_term_is_the_law():
    """Offsets c in the messages and a node constant b: only b + (N - 1) c is identifiable with N bodies."""
    dx, dy, r, mass_j = sympy.symbols("dx dy r mass_j", real=True)
    s0, s1, m = sympy.symbols("sum_message0 sum_message1 mass", real=True)
    composition = Composition({0: from_sympy(-mass_j * dx / r ** 3 + sympy.Rational(1, 4), EDGE),
                               1: from_sympy(-mass_j * dy / r ** 3 - 1, EDGE)},
                              {"acc_x": from_sympy(2 * s0 - sympy.Rational(1, 2), NODE),
                               "acc_y": from_sympy(s1 + 2, NODE)}, EDGE, NODE)
    model = sympy_model(composition)
    pair_dx, pair_dy, r_ij, j_mass = sympy.symbols("dx_ij dy_ij r_ij mass_j", real=True)
    for output, law, offset, constant in (("acc_x", -2 * j_mass * pair_dx / r_ij ** 3, 0.5, -0.5),
                                         ("acc_y", -j_mass * pair_dy / r_ij ** 3, -1, 2)):
        sums = [t for t in sympy.Add.make_args(model[output]) if isinstance(t, sympy.Sum)]
        rest = [t for t in sympy.Add.make_args(model[output]) if not isinstance(t, sympy.Sum)]
        pair = [s.args[0] for s in sums if s.args[0].free_symbols]
        assert len(pair) == 1 and sympy.simplify(pair[0] - law) == 0, model[output]
        assert [float(s.args[0]) for s in sums if not s.args[0].free_symbols] == [offset]
        assert [float(t) for t in rest] == [constant]


def test_function_names_round_trip_and_unknown_forms_name_the_allowed_ones():
    from symdistill.components.function_names import FunctionName, function_role, summed_message
    assert str(FunctionName.edge(1)) == "edge_message1" and function_role("edge_message1") == ("edge", 1)
    assert FunctionName.parse("node_acc_x") == FunctionName.node("acc_x") and summed_message(2) == "sum_message2"
    for bad in ("edge_messagex", "node_", "message0"):
        with pytest.raises(ValueError, match="names are edge_message<k> or node_<output>"):
            FunctionName.parse(bad)


def test_the_jacobian_built_in_pieces_of_one_box_gives_the_same_fit(monkeypatch):
    """A catalog of one box is one frame: with a node split its Jacobian is built from runs of nodes, each with
    its incoming edges and their senders, and lands where the whole box at once does."""
    import symdistill.components.least_squares as least_squares
    from symdistill.components.halo_catalog import PAPER_CONSTANTS as C, halo_catalog
    data = halo_catalog(400, neighbours=12, seed=5, noise=0.0)
    graphs = build_graphs(data, target="delta", edge_features=("dx", "r", "sender_properties"),
                          node_features=("properties",), radius=data.attrs["radius"], dtype=np.float64)
    counted = np.random.default_rng(0).random(graphs.n_nodes) < 0.7
    graphs = graphs.with_mask(counted, per_node=True).trimmed()
    edge_names, node_names = list(graphs.edge_features), ["sum_message0", "mass"]
    r, mj = sympy.symbols("r mass_j", real=True)
    s0, m = sympy.symbols("sum_message0 mass", real=True)
    edge = {0: from_sympy((0.45 + mj) / (7.0 + (15.3 * r) ** 20.0), edge_names)}  # near the paper's constants
    node = {"delta": from_sympy(-0.15 + s0 / (3.7 + 0.08 * m), node_names)}
    fits = []
    for budget in (10 ** 12, 200_000):  # the box at once; pieces of a few dozen nodes
        monkeypatch.setattr(least_squares, "JACOBIAN_BUDGET", budget)
        model = ComposedModel(Composition(edge, node, tuple(edge_names), tuple(node_names)))
        errors = refit(model, graphs, iterations=40)
        fits.append(np.concatenate([p.constants for p in model.composition_now().functions().values()]))
    assert errors["relative_mae_after"] < errors["relative_mae_before"] / 10
    assert len(least_squares._node_pieces(graphs, 1000)) > 10
    np.testing.assert_allclose(fits[1], fits[0], rtol=1e-7)


def test_a_piece_of_a_box_gives_its_nodes_the_outputs_of_the_whole_box():
    from symdistill.components.halo_catalog import halo_catalog
    data = halo_catalog(300, neighbours=12, seed=6)
    graphs = build_graphs(data, target="delta", edge_features=("dx", "r", "sender_properties"),
                          radius=data.attrs["radius"], dtype=np.float64).with_mask(
                              np.ones(300, dtype=bool), per_node=True)
    r, mj = sympy.symbols("r mass_j", real=True)
    s0, m = sympy.symbols("sum_message0 mass", real=True)
    composition = Composition({0: from_sympy((0.4 + mj) * sympy.exp(-r), list(graphs.edge_features))},
                              {"delta": from_sympy(s0 / (1 + m), ["sum_message0", "mass"])},
                              tuple(graphs.edge_features), ("sum_message0", "mass"))
    whole = graphs.rows(numpy_model(composition)(graphs))
    nodes = np.array([3, 50, 51, 299])
    piece = graphs.around(nodes)
    assert piece.counted.sum() == 4 and piece.n_nodes > 4  # the senders come along, uncounted
    np.testing.assert_allclose(piece.rows(numpy_model(composition)(piece)), whole[nodes], rtol=1e-12)


def test_latex_holds_symbolic_exponents_opaque_and_keeps_plain_fractions():
    """A fitted exp(-c/(e^(e^r) - d)^2) factor prints in the numerator as e^{...} (SymPy would simplify its
    exponent to decide whether it is constant); a law with numeric powers still prints as a fraction."""
    dx_, r_, m_ = sympy.symbols("dx_ij r_ij mass", real=True)
    steep = -1.291 * dx_ * sympy.exp(-1358762.37 / (sympy.exp(sympy.exp(r_)) - 556.29) ** 2) / (m_ + 0.009114)
    text = latex_text({"steep": steep, "plain": dx_ * m_ / (r_ * (r_ + 0.01) ** 2)})
    assert r"e^{- 1.359 \cdot 10^{6}" in text["steep"] and text["steep"].startswith(r"- \frac{1.291 dx_{ij} e^{")
    assert text["plain"] == r"\frac{dx_{ij} mass}{r_{ij} \left(r_{ij} + 0.01\right)^{2}}"


def test_printed_constants_that_are_whole_at_the_printed_precision_are_written_as_whole_numbers():
    dx_, r_, m_ = sympy.symbols("dx_ij r_ij mass", real=True)
    law = 1.0000000004 * dx_ * (1.98 - 2.0000000001 * r_) / (m_ * r_ ** 3.0) + 1.23e10 * m_
    assert plain_text({"a": law})["a"] == "dx_ij*(1.98 - 2*r_ij)/(mass*r_ij**3) + 1.23e+10*mass"
    assert latex_text({"a": 0.99999999 * dx_ / r_})["a"] == r"\frac{dx_{ij}}{r_{ij}}"
    assert plain_text({"a": 0.9995 * dx_})["a"] == "0.9995*dx_ij"  # not whole at 6 digits: kept
    # whole at LaTeX's 4 digits (it printed as r^{2.0}); not whole at 6
    assert latex_text({"a": dx_ / r_ ** 1.99969})["a"] == r"\frac{dx_{ij}}{r_{ij}^{2}}"
    assert plain_text({"a": dx_ / r_ ** 1.99969})["a"] == "dx_ij/r_ij**1.99969"


@pytest.mark.parametrize("node_split", [False, True])
def test_the_kernel_jacobian_equals_torchs_forward_mode(spring_data, node_split):
    """The numba kernel's normal equations (edge derivatives summed into receivers, carried through the node
    function by the chain rule) against torch's forward-mode differentiation of the same model."""
    from symdistill.components.least_squares import KernelResiduals, TorchResiduals
    graphs = build_graphs(spring_data, sims=[0, 1], dtype=np.float64)
    if node_split:
        graphs = graphs.with_mask(np.random.default_rng(1).random(graphs.n_nodes) < 0.6, per_node=True)
    dx, dy, r = sympy.symbols("dx dy r", real=True)
    s0, s1, m = sympy.symbols("sum_message0 sum_message1 mass", real=True)
    edge = {0: from_sympy(-0.95 * (r - 0.8) * dx / r + sympy.sin(0.3 * dy), EDGE),
            1: from_sympy(-1.1 * (r - 0.7) * dy / sympy.exp(0.2 * r), EDGE)}
    node = {"acc_x": from_sympy(2.47 * s0 / (m + 1e-3) + 0.1 * s1 * s0, NODE),
            "acc_y": from_sympy(1.3 * s1 / m - 0.4, NODE)}
    model = ComposedModel(Composition(edge, node, EDGE, NODE))
    target = torch.as_tensor(graphs.rows(graphs.target))
    weights = torch.rand(target.shape[0], 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kernel = KernelResiduals.of(model, graphs, target, weights)
    torch_fit = TorchResiduals(model, graphs, target, weights)
    theta = kernel.start() * 1.1
    np.testing.assert_allclose(kernel.start(), torch_fit.start())
    np.testing.assert_allclose(kernel.cost(theta), torch_fit.cost(theta), rtol=1e-12)
    for mine, reference in zip(kernel.normal_equations(theta), torch_fit.normal_equations(theta)):
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())
    assert KernelResiduals.of(ComposedModel(Composition(edge, node, EDGE, NODE), np.ones((3, 1))),
                              graphs, target, weights) is None  # latent parameters: torch's route

"""A latent per-body parameter read through one factor everywhere becomes that factor: the same model,
a shorter law."""
import numpy as np
import pytest
import sympy

from symdistill.components.compose import Composition, numpy_model
from symdistill.components.latent import absorb_latent_factor
from symdistill.components.refit import shared_latent_factor
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.sr.export import from_sympy, to_sympy
from symdistill.components.train_surrogate import build_graphs

EDGE = ("dx", "dy", "r", "latent0_j")
NODE = ("latent0", "sum_message0", "sum_message1")
dx, dy, r, lj, li, s0, s1 = sympy.symbols("dx dy r latent0_j latent0 sum_message0 sum_message1", real=True)


@pytest.fixture(scope="module")
def graphs():
    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=2, n_steps=50, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=5, units={"length": "m", "time": "s", "mass": "kg", "charge": "C"})
    return build_graphs(data, edge_features=("dx", "r"), node_features=(), dtype=np.float64)


def composition(edge_factor, node):
    edge = {k: from_sympy(edge_factor * d / r ** 3, EDGE) for k, d in enumerate((dx, dy))}
    return Composition(edge, {"acc_x": from_sympy(node(s0), NODE), "acc_y": from_sympy(node(s1), NODE)}, EDGE, NODE)


def test_a_polynomial_in_the_latent_becomes_the_latent(graphs):
    # as r2 with unknown masses came out: the mass a polynomial in the network's 1/latent
    law = composition(-1.3e4 - 2586.0 / lj - 126.5 / lj ** 2, lambda s: 0.5 * s)
    latent = np.array([[0.4], [1.1], [2.5]])
    new, new_latent, factor = absorb_latent_factor(law, latent)
    assert factor is not None and new_latent.shape == (3, 1)
    np.testing.assert_allclose(numpy_model(new, new_latent)(graphs), numpy_model(law, latent)(graphs), rtol=1e-9)
    edge = to_sympy(new.edge[0], EDGE)
    assert sympy.Poly(edge * r ** 3 / dx, lj).degree() == 1  # c * latent0_j * dx / r**3
    assert to_sympy(new.node["acc_x"], NODE).free_symbols == {s0}


def test_a_node_that_divides_by_the_edge_factor_is_read_the_other_way_up(graphs):
    law = composition(2.0 + lj ** 2, lambda s: s / (2.0 + li ** 2))
    latent = np.array([[0.4], [1.1], [2.5]])
    new, new_latent, factor = absorb_latent_factor(law, latent)
    assert factor is not None
    np.testing.assert_allclose(numpy_model(new, new_latent)(graphs), numpy_model(law, latent)(graphs), rtol=1e-9)
    assert not sympy.cancel(to_sympy(new.node["acc_x"], NODE) * li / s0).free_symbols  # c * s / latent0


@pytest.mark.parametrize("edge_factor, node", [
    (lj + r, lambda s: s),             # not a factor: the latent mixes with the distance
    (1.0 + lj ** 2, lambda s: s * li),  # two different factors
    (3.0 * lj, lambda s: s),            # already the parameter itself
])
def test_no_single_factor_leaves_the_law_alone(graphs, edge_factor, node):
    law = composition(edge_factor, node)
    latent = np.array([[0.4], [1.1], [2.5]])
    new, new_latent, factor = absorb_latent_factor(law, latent)
    assert factor is None and new is law and new_latent is latent


@pytest.fixture(scope="module")
def split_graphs():
    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=12, n_steps=100, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=6, units={"length": "m", "time": "s", "mass": "kg", "charge": "C"})
    graphs = build_graphs(data, edge_features=("dx", "r"), node_features=(), dtype=np.float64)
    return graphs.subset(slice(0, 80)), graphs.subset(slice(80, None))


def two_factor_law(deviation):
    """x reads the mass as 1 + l², y as (1 + l²)(1 + deviation l): the same factor up to ``deviation``."""
    factors = (1.0 + lj ** 2, (1.0 + lj ** 2) * (1.0 + deviation * lj))
    edge = {k: from_sympy(f * d / r ** 3, EDGE) for k, (f, d) in enumerate(zip(factors, (dx, dy)))}
    return Composition(edge, {"acc_x": from_sympy(0.5 * s0, NODE), "acc_y": from_sympy(0.5 * s1, NODE)}, EDGE, NODE)


@pytest.mark.parametrize("truth_deviation, shared", [(0.0, True), (3e-3, False)])
def test_factors_that_nearly_agree_are_shared_only_if_the_held_out_data_agree(split_graphs, truth_deviation, shared):
    """The fitted law's two messages read the mass through factors 0.3% apart. When the data come from one
    mass per body, the shared factor is re-fitted and kept (the law reads the latent itself); when the
    data really have two factors, the shared one is worse beyond noise and the law is left alone."""
    latent = np.array([[0.4], [1.1], [2.5]])
    train, held_out = (g.with_target(numpy_model(two_factor_law(truth_deviation), latent)(g)) for g in split_graphs)
    fitted_law = two_factor_law(3e-3)
    new, new_latent, factor, refitted = shared_latent_factor(fitted_law, latent, train, held_out)
    assert (factor is not None) == shared and refitted == shared
    if shared:
        assert all(sympy.cancel(to_sympy(new.edge[k], EDGE) * r ** 3 / (d * lj)).free_symbols == set()
                   for k, d in enumerate((dx, dy)))  # c * latent0_j * d / r**3
        predicted = numpy_model(new, new_latent)(held_out)
        np.testing.assert_allclose(predicted, held_out.target, rtol=1e-6, atol=1e-9)
    else:
        assert new is fitted_law and new_latent is latent

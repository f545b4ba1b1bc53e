"""A latent per-body parameter read through one factor everywhere becomes that factor: the same model,
a shorter law."""
import numpy as np
import pytest
import sympy

from symdistill.components.compose import Composition, numpy_model
from symdistill.components.latent import absorb_latent_factor
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

"""A force component distorted along one axis takes its sibling's chain, moved onto its axis, when the held-out
evidence says so clearly; a component already right keeps its own."""
import numpy as np
import pytest
import sympy

from symdistill.components.compose import ComposedModel, Composition, sympy_model
from symdistill.components.evidence import HeldOut
from symdistill.components.isotropy import adopt_sibling_chains, swapped_chain
from symdistill.components.refit import readable_law, refit
from symdistill.components.sr.export import from_sympy, to_sympy

from test_compose import EDGE, NODE
from test_evidence import graphs, with_targets  # noqa: F401  (the module's simulated graphs)

dx, dy, r, mass_j = sympy.symbols("dx dy r mass_j", real=True)
s0, s1, mass = sympy.symbols("sum_message0 sum_message1 mass", real=True)
AXES = {"edge_message0": 0, "edge_message1": 1, "node_acc_x": 0, "node_acc_y": 1}


def softened(d):
    return -mass_j * d / (r * (r + sympy.Rational(1, 20)) ** 2)


def law_with_x_chain(edge_x, node_x) -> Composition:
    return Composition({0: from_sympy(edge_x, EDGE), 1: from_sympy(softened(dy), EDGE)},
                       {"acc_x": from_sympy(node_x, NODE), "acc_y": from_sympy(s1 / mass, NODE)}, EDGE, NODE)


def exact(program, names):
    return sympy.nsimplify(to_sympy(program, list(names)), rational=True)


def pair_term(composition, output="acc_x"):
    printed = sympy_model(composition)[output]
    return [t.args[0] for t in sympy.Add.make_args(printed) if isinstance(t, sympy.Sum)][0]


def test_a_chain_moves_onto_another_axis_with_both_axes_features_exchanged():
    law = law_with_x_chain(2.0 * dx * r, s0 ** 3 + s1)
    node_y = from_sympy(s1 / mass + 0.5 * s0, NODE)  # reads the other axis's sum too
    programs = law.functions() | {"node_acc_y": node_y}
    chain = swapped_chain(programs, AXES, 1, 0, EDGE, NODE)
    assert sorted(chain) == ["edge_message0", "node_acc_x"]
    assert sympy.simplify(exact(chain["edge_message0"], EDGE) - softened(dx)) == 0
    assert sympy.simplify(exact(chain["node_acc_x"], NODE) - (s0 / mass + s1 / 2)) == 0
    # no counterpart along the target axis, or functions that are no force component: nothing to move
    assert swapped_chain(programs, {"edge_message0": 0, "edge_message1": 1, "node_acc_y": 1}, 1, 0, EDGE, NODE) is None
    assert swapped_chain(programs, {}, 1, 0, EDGE, NODE) is None


def test_a_component_the_network_distorted_takes_its_siblings_law(graphs):  # noqa: F811
    """acc_x planted as the network's distortion of the law (a steeper message with its own softening under
    a cubic node function that stands in for the difference), acc_y as the law: the x chain must become the
    law, re-fitted, and the record must say where it came from."""
    truth = law_with_x_chain(softened(dx), s0 / mass)
    planted = law_with_x_chain(-0.9 * mass_j * dx * r / (r + 0.03) ** 4, (s0 + 0.01 * s0 ** 3) / mass)
    train = with_targets(graphs.subset(slice(0, 120)), truth)
    held_out = with_targets(graphs.subset(slice(120, None)), truth)
    model = ComposedModel(planted)
    refit(model, train)  # as the refit stage does before making the law readable
    readable, _, record = readable_law(model.composition_now(), None, train, held_out, AXES)
    assert [(c["axis"], c["from_axis"], c["functions"]) for c in record["sibling_chains"]] == [
        (0, 1, ["edge_message0", "node_acc_x"])]
    assert record["held_out_loss"] < 1e-12
    dx_ij, r_ij, mass_ij = sympy.symbols("dx_ij r_ij mass_j", real=True)
    expected = -mass_ij * dx_ij / (mass * r_ij * (r_ij + sympy.Rational(1, 20)) ** 2)
    assert sympy.simplify(pair_term(readable) - expected) == 0, pair_term(readable)


def test_the_same_law_written_two_ways_prints_the_simpler_way_on_both_axes(graphs):  # noqa: F811
    truth = law_with_x_chain(softened(dx), s0 / mass)
    rewritten = law_with_x_chain(-dx * mass_j / (r * (r ** 2 + r / 10 + sympy.Rational(1, 400))), s0 / mass)
    train = with_targets(graphs.subset(slice(0, 120)), truth)
    held_out = with_targets(graphs.subset(slice(120, None)), truth)
    readable, _, record = readable_law(rewritten, None, train, held_out, AXES)
    assert [(c["axis"], c["from_axis"]) for c in record["sibling_chains"]] == [(0, 1)]
    assert record["sibling_chains"][0]["size"] < record["sibling_chains"][0]["size_before"]
    assert readable.edge[0].structure_key() == swapped_chain(readable.functions(), AXES, 1, 0, EDGE, NODE)[
        "edge_message0"].structure_key()


@pytest.mark.parametrize("gain, adopted", [(0.02, False), (0.5, True)])
def test_a_larger_sibling_chain_must_be_better_beyond_noise(gain, adopted):
    """x's own chain is the smaller; y's, moved onto x, lowers the held-out loss by ``gain`` on average
    with frame-to-frame noise of 0.3: a 2% gain is noise, a 50% gain is evidence."""
    small = law_with_x_chain(-mass_j * dx / r ** 3, s0 / mass)
    programs = small.functions()
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.5, 300)
    spread = rng.normal(0, 0.3, 300)

    def evidence(trial):
        moved = {n for n in trial if trial[n].structure_key() != programs[n].structure_key()}
        if "edge_message1" in moved:  # x's smaller chain, moved onto y, is clearly wrong there
            return HeldOut(10 * base)
        return HeldOut(base * (1 - gain) + spread if moved else base)
    kept, _, record = adopt_sibling_chains(programs, AXES, EDGE, NODE, lambda p: p, evidence, evidence(programs))
    assert bool(record) == adopted
    assert (kept["edge_message0"].structure_key() != programs["edge_message0"].structure_key()) == adopted

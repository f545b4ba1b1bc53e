"""The split artifact: disjoint frame masks made once from the data, and the graphs each later stage reads."""
import numpy as np
import pytest

from symdistill.components.ood import OODError, OODRule
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.split import ROLES, SplitError, SplitSettings, make_split, split_simulations
from symdistill.config import Experiment
from symdistill.tasks.surrogate_io import role_graphs

UNITS = {"length": "m", "time": "s", "mass": "kg", "charge": "C"}


@pytest.fixture(scope="module")
def spring_data():
    return simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=20, n_steps=60, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=3, units=UNITS)


def test_masks_are_disjoint_cover_every_node_and_withhold_what_the_rule_names(spring_data):
    masks = make_split(spring_data, SplitSettings(0.2, 0.2, 7, OODRule("body_property", "mass", high=2.0)))
    stacked = np.stack([masks[role].values for role in ROLES])
    assert (stacked.sum(axis=0) == 1).all()  # every node of every frame has exactly one role
    heavy = (spring_data["mass"].values > 2.0).any(axis=1)  # by simulation, the rule withholds whole frames
    shape = (20, spring_data.sizes["time"], 3)
    np.testing.assert_array_equal(masks["out_of_distribution"].values, np.broadcast_to(heavy[:, None, None], shape))
    for role, sims in zip(("train", "validation", "test"), split_simulations(20, 0.2, 0.2, 7)):
        expected = np.zeros_like(heavy)
        expected[sims] = ~heavy[sims]  # whole simulations, less the withheld frames
        np.testing.assert_array_equal(masks[role].values.any(axis=(1, 2)), expected)


def test_a_node_split_assigns_single_nodes_and_withholds_nodes_by_their_target(spring_data):
    one_box = spring_data.isel(sim=[0], time=[0])  # one frame: nothing to split by simulation
    with pytest.raises(SplitError, match="at least 3 simulations"):
        make_split(one_box, SplitSettings())
    data = spring_data.isel(sim=[0, 1])
    high = float(np.quantile(np.abs(data["acc"].values).max(axis=-1), 0.8))
    masks = make_split(data, SplitSettings(0.2, 0.2, 3, OODRule("target", high=high), unit="node"))
    outside = (np.abs(data["acc"].values) > high).any(axis=-1)  # [sim, time, body]
    np.testing.assert_array_equal(masks["out_of_distribution"].values, outside)
    stacked = np.stack([masks[role].values for role in ROLES])
    assert (stacked.sum(axis=0) == 1).all()
    mixed = [(masks[role].values.any(axis=2) & masks["train"].values.any(axis=2)).any() for role in ("test",)]
    assert all(mixed)  # a frame holds training and test nodes alike
    n = outside.size
    assert abs(masks["test"].values.sum() - 0.2 * n * (1 - outside.mean())) < 0.05 * n
    with pytest.raises(SplitError, match="pair_distance"):
        SplitSettings(ood=OODRule("pair_distance", high=2.0), unit="node")


def test_role_graphs_hold_exactly_the_nodes_of_their_mask(spring_data):
    experiment = Experiment.model_validate({"experiment": {"name": "x"}, "simulate": {"law": "spring"}})
    for settings in (SplitSettings(ood=OODRule("pair_distance", high=2.0)),
                     SplitSettings(ood=OODRule("target", high=3.0), unit="node")):
        masks = make_split(spring_data, settings)
        together = role_graphs(experiment, spring_data, {"masks": masks}, *ROLES)  # built once, shared
        for role, graphs in zip(ROLES, together):
            (alone,) = role_graphs(experiment, spring_data, {"masks": masks}, role)
            for field in ("edge_x", "receiver", "sender", "node_x", "node_target", "body", "node_mask"):
                np.testing.assert_array_equal(getattr(graphs, field), getattr(alone, field))
            sims, times, bodies = np.nonzero(masks[role].values)
            counted = graphs.counted
            node_graph = graphs.node_graph[counted]
            np.testing.assert_array_equal(graphs.sim[node_graph], sims)
            np.testing.assert_array_equal(graphs.time[node_graph], spring_data["time"].values[times])
            np.testing.assert_array_equal(graphs.body[counted], bodies)
            assert counted[graphs.receiver].all()  # only the edges into counted nodes are kept
            assert graphs.per_node == (settings.unit == "node")


def test_a_split_that_cannot_be_made_is_named(spring_data):
    with pytest.raises(SplitError, match=r"the training split has no frame inside \[-inf, 0.001\] left"):
        make_split(spring_data, SplitSettings(ood=OODRule("pair_distance", high=0.001)))
    with pytest.raises(SplitError, match="no frame of the data lies outside"):
        make_split(spring_data, SplitSettings(ood=OODRule("pair_distance", high=1e9)))
    with pytest.raises(SplitError, match="at least 3 simulations"):
        make_split(spring_data.isel(sim=[0, 1]), SplitSettings())
    with pytest.raises(SplitError, match="leave no training simulation out of 4"):
        split_simulations(4, 0.4, 0.4, 0)
    with pytest.raises(OODError, match="OOD variable 'density' is not a per-body property"):
        make_split(spring_data, SplitSettings(ood=OODRule("body_property", "density", high=1.0)))

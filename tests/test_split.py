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


def test_masks_are_disjoint_cover_every_frame_and_withhold_what_the_rule_names(spring_data):
    masks = make_split(spring_data, SplitSettings(0.2, 0.2, 7, OODRule("body_property", "mass", high=2.0)))
    stacked = np.stack([masks[role].values for role in ROLES])
    assert (stacked.sum(axis=0) == 1).all()  # every frame has exactly one role
    heavy = (spring_data["mass"].values > 2.0).any(axis=1)
    np.testing.assert_array_equal(masks["out_of_distribution"].values, np.repeat(heavy[:, None],
                                                                                 spring_data.sizes["time"], 1))
    for role, sims in zip(("train", "validation", "test"), split_simulations(20, 0.2, 0.2, 7)):
        expected = np.zeros_like(heavy)
        expected[sims] = ~heavy[sims]  # whole simulations, less the withheld frames
        np.testing.assert_array_equal(masks[role].values.any(axis=1), expected)


def test_role_graphs_hold_exactly_the_frames_of_their_mask(spring_data):
    masks = make_split(spring_data, SplitSettings(ood=OODRule("pair_distance", high=2.0)))
    experiment = Experiment.model_validate({"experiment": {"name": "x"}, "simulate": {"law": "spring"}})
    for role in ROLES:
        graphs = role_graphs(experiment, spring_data, {"masks": masks}, role)
        sims, times = np.nonzero(masks[role].values)
        np.testing.assert_array_equal(graphs.sim, spring_data["sim"].values[sims] if "sim" in spring_data.coords
                                      else sims)
        np.testing.assert_array_equal(graphs.time, spring_data["time"].values[times])


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

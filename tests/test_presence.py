"""Frames with different numbers of bodies: graphs, the composed model and the split see only present bodies."""
import numpy as np
import pytest
import torch

from symdistill.components.compose import ComposedModel, numpy_model
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.simulate.forces import pair_force
from symdistill.components.split import SplitSettings, make_split
from symdistill.components.train_surrogate import build_graphs
from symdistill.components.train_surrogate.graphs import GraphDataError

from test_compose import UNITS, spring_composition


@pytest.fixture(scope="module")
def ragged_spring():
    """Spring systems of 4 bodies from which some bodies are taken out of some frames, the remaining bodies'
    accelerations those of the law among the bodies still there."""
    ds = simulate(ForceLaw("spring"), n_bodies=4, dim=2, n_sims=6, n_steps=100, dt=0.01, record_every=10,
                  integrator="leapfrog", seed=7, units=UNITS)
    absent = np.random.default_rng(0).random(ds["pos"].shape[:3]) < 0.3
    absent[..., 0] = False  # at least 2 bodies per frame
    absent[..., 1] = False
    pos, mass = ds["pos"].values.copy(), ds["mass"].values
    acc = np.zeros_like(pos)
    law = ForceLaw("spring")
    for s, t in np.ndindex(*pos.shape[:2]):
        here = np.flatnonzero(~absent[s, t])
        for i in here:
            others = here[here != i]
            d = pos[s, t, i] - pos[s, t, others]
            force = pair_force(law, d, np.zeros_like(d), mass[s, i], mass[s, others], 0.0, 0.0)
            acc[s, t, i] = force.sum(axis=0) / mass[s, i]
    pos[absent] = np.nan
    acc[absent] = np.nan
    vel = ds["vel"].values.copy()
    vel[absent] = np.nan
    return ds.assign(pos=(ds["pos"].dims, pos, ds["pos"].attrs), acc=(ds["acc"].dims, acc, ds["acc"].attrs),
                     vel=(ds["vel"].dims, vel, ds["vel"].attrs)), absent


def test_graphs_hold_only_the_bodies_present_and_the_law_gives_their_targets(ragged_spring):
    data, absent = ragged_spring
    graphs = build_graphs(data, dtype=np.float64)
    present = ~absent.reshape(-1, absent.shape[2])
    assert graphs.ragged and graphs.per_node  # frames differ in size: errors are per node
    np.testing.assert_array_equal(np.diff(graphs.node_offsets), present.sum(axis=1))
    np.testing.assert_array_equal(graphs.body, np.nonzero(present)[1])
    n = present.sum(axis=1)
    np.testing.assert_array_equal(np.diff(graphs.edge_offsets), n * (n - 1))  # every ordered pair of those present
    assert np.isfinite(graphs.edge_x).all() and np.isfinite(graphs.node_target).all()
    with torch.no_grad():
        predicted = ComposedModel(spring_composition())(graphs).numpy()
    np.testing.assert_allclose(graphs.rows(predicted), graphs.rows(graphs.target), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(numpy_model(spring_composition())(graphs), predicted, rtol=1e-12)


def test_a_radius_graph_links_only_present_bodies(ragged_spring):
    data, absent = ragged_spring
    graphs = build_graphs(data, radius=1.5, dtype=np.float64)
    full = build_graphs(data.isel(sim=[0]), radius=1.5, dtype=np.float64)
    assert graphs.n_edges < sum(n * (n - 1) for n in np.diff(graphs.node_offsets))
    assert np.all(graphs.edge_x[:, 2] < 1.5) and full.ragged


def test_the_split_gives_no_role_to_an_absent_body(ragged_spring):
    data, absent = ragged_spring
    for unit in ("simulation", "node"):
        split = make_split(data, SplitSettings(validation_fraction=0.2, test_fraction=0.2, seed=0, unit=unit))
        for role in ("train", "validation", "test"):
            assert not (split[role].values & absent).any()
        covered = sum(split[role].values.astype(int) for role in ("train", "validation", "test"))
        np.testing.assert_array_equal(covered, ~absent)  # every present body has exactly one role


def test_a_nan_no_absent_body_explains_is_named(ragged_spring):
    data, _ = ragged_spring
    bad = data.copy(deep=True)
    bad["acc"][0, 0, 0, 0] = np.nan
    with pytest.raises(GraphDataError, match="'acc' has 1 NaN/Inf value\\(s\\) where its body is present; first "
                                             "at index sim=0, time=0, body=0"):
        build_graphs(bad)


TRAJECTORIES = """
[experiment]
name = "ragged"

[ingest]
path = "ragged.nc"

[split]
validation_fraction = 0.2
test_fraction = 0.2

[train_surrogate]
epochs = 3
hidden = 16
layers = 2
threads = 1

"""
STAGES = ("ingest", "split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")


@pytest.mark.slow
def test_trajectories_whose_frames_lack_bodies_run_end_to_end(ragged_spring, tmp_path):
    from conftest import TINY_SEARCH, run_stages
    data, absent = ragged_spring
    data.assign_attrs(force_law="").drop_attrs(deep=False).to_netcdf(tmp_path / "ragged.nc")
    config = tmp_path / "ragged.toml"
    config.write_text(TRAJECTORIES + TINY_SEARCH)
    run = run_stages(config, tmp_path / "store", STAGES)
    assert run.executed == list(STAGES)
    captured = run.store.read(run.ref("capture"))["node"]
    sims, times, bodies = (captured[c].values for c in ("sim", "time", "body"))
    time_index = np.searchsorted(data["time"].values, times)
    assert not absent[sims, time_index, bodies].any()  # only bodies in their frames are recorded
    errors = run.store.provenance(run.ref("validate_ood"))["figures"]["errors"]
    for model in ("gnn", "symbolic"):
        assert np.isfinite(errors[model]["in_distribution"]["mae"]), errors

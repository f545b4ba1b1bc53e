"""Radius graphs from the KD-tree against the plain all-pairs definition, with and without a periodic box."""
import numpy as np
import pytest

from symdistill.components.neighbours import NeighbourError, radius_edges


def all_pairs(positions, radius, box=None):
    d = positions[:, None, :] - positions[None, :, :]
    if box is not None:
        d -= box * np.round(d / box)
    close = (np.sqrt((d ** 2).sum(-1)) < radius) & ~np.eye(len(positions), dtype=bool)
    receiver, sender = np.nonzero(close)
    return receiver, sender, d[receiver, sender]


@pytest.mark.parametrize("dim, box", [(2, None), (3, None), (2, 1.0), (3, 1.0)])
def test_radius_edges_equal_the_all_pairs_definition(dim, box):
    positions = np.random.default_rng(dim).uniform(0, 1, size=(400, dim))
    got = radius_edges(positions, 0.12, box)
    want = all_pairs(positions, 0.12, box)
    assert len(got[0]) > 400  # enough edges to mean something
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_periodic_neighbours_across_the_boundary():
    positions = np.array([[0.02, 0.5], [0.97, 0.5], [0.5, 0.5]])
    receiver, sender, displacement = radius_edges(positions, 0.1, box=1.0)
    assert list(zip(receiver, sender)) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(displacement[0], [0.05, 0.0])
    assert len(radius_edges(positions, 0.1)[0]) == 0  # without the box they are far apart


@pytest.mark.parametrize("positions, radius, box, message", [
    (np.zeros((3, 4)), 0.1, None, r"\[n, dim\] with dim 1, 2 or 3"),
    (np.array([[0.0, np.nan]]), 0.1, None, "NaN or Inf"),
    (np.zeros((3, 2)), 0.0, None, "radius must be a positive number"),
    (np.full((3, 2), 1.5), 0.1, 1.0, r"must lie in \[0, 1.0\)"),
    (np.zeros((3, 2)), 0.6, 1.0, "below half the box"),
])
def test_bad_input_is_named(positions, radius, box, message):
    with pytest.raises(NeighbourError, match=message):
        radius_edges(positions, radius, box)


def test_the_halo_generator_computes_the_papers_law_over_neighbours_within_the_radius():
    from symdistill.components.halo_catalog import PAPER_CONSTANTS, halo_catalog
    ds = halo_catalog(300, neighbours=15, seed=3, noise=0.0)
    pos, mass = ds["pos"].values[0, 0], ds["mass"].values[0]
    box, radius, c = ds.attrs["box"], ds.attrs["radius"], PAPER_CONSTANTS
    d = pos[:, None, :] - pos[None, :, :]
    d -= box * np.round(d / box)
    r = np.sqrt((d ** 2).sum(-1))
    near = (r < radius) & ~np.eye(len(pos), dtype=bool)
    pair = np.where(near, (c["C4"] + mass[None, :]) / (c["C5"] + (c["C6"] * r) ** c["C7"]), 0.0)
    expected = c["C1"] + pair.sum(axis=1) / (c["C2"] + c["C3"] * mass)
    np.testing.assert_allclose(ds["delta"].values[0, 0], expected, rtol=1e-12)
    assert 10 < ds.attrs["mean_neighbours"] < 20 and expected.std() > 0.1  # the sum varies from halo to halo

"""A point catalog end to end: one periodic box as a sparse radius graph, split by node, the halos with
overdensity above 1 withheld as the paper's out-of-distribution test."""
import numpy as np
import pytest

from conftest import TINY_SEARCH, run_stages
from symdistill.components.halo_catalog import halo_catalog
from symdistill.components.neighbours import radius_edges

pytestmark = pytest.mark.slow

CONFIG = """
[experiment]
name = "halos"

[ingest]
path = "halos.nc"
target = "delta"

[split]
unit = "node"

[split.ood]
kind = "target"
high = 1.0

[train_surrogate]
radius = {radius}
edge_features = ["dx", "r", "sender_properties"]
epochs = 3
hidden = 16
layers = 2
threads = 1

""" + TINY_SEARCH
STAGES = ("ingest", "split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")


def test_a_one_box_catalog_is_split_by_node_and_withholds_the_high_overdensity_halos(tmp_path):
    ds = halo_catalog(600, neighbours=15, seed=2)
    ds.to_netcdf(tmp_path / "halos.nc")
    config = tmp_path / "halos.toml"
    config.write_text(CONFIG.format(radius=ds.attrs["radius"]))
    run = run_stages(config, tmp_path / "store", STAGES)
    assert run.executed == list(STAGES)
    masks = run.store.read(run.ref("split"))["masks"]
    delta = ds["delta"].values[0, 0]
    assert masks.attrs["unit"] == "node"
    np.testing.assert_array_equal(masks["out_of_distribution"].values[0, 0], delta > 1)
    test = masks["test"].values[0, 0]
    assert 0.1 < test.sum() / (delta <= 1).sum() < 0.3  # about 20% of the in-distribution halos
    # capture records the test halos and exactly the radius graph's edges into them
    captured = run.store.read(run.ref("capture"))
    np.testing.assert_array_equal(captured["node"]["body"].values, np.flatnonzero(test))
    receiver, _, _ = radius_edges(ds["pos"].values[0, 0], ds.attrs["radius"], ds.attrs["box"])
    assert captured["edge"].sizes["edge"] == test[receiver].sum()
    assert set(captured["edge"]["receiver"].values) <= set(np.flatnonzero(test))
    errors = run.store.provenance(run.ref("validate_ood"))["figures"]["errors"]
    for model in ("gnn", "symbolic"):
        for split in ("in_distribution", "out_of_distribution"):
            assert np.isfinite(errors[model][split]["mae"]), errors
    # the lineage names the artifacts each stage read (its key stands on their content digests)
    for stage in STAGES[1:]:
        provenance = run.store.provenance(run.ref(stage))
        assert provenance["input_keys"] == {name: run.ref(name).key for name in provenance["inputs"]}
        assert all(run.store.is_complete(run.ref(name)) for name in provenance["input_keys"])
    n_graphs = run.store.provenance(run.ref("validate_ood"))["figures"]["n_graphs"]
    assert n_graphs == {"in_distribution": 1, "out_of_distribution": 1}  # one box, evaluated node by node

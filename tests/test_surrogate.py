"""The graph network surrogate, its training and the capture of its internal functions."""
import numpy as np
import pytest
import torch

from symdistill.catalogs import ArtifactRef, ArtifactStore
from symdistill.catalogs.weights import arrays_to_dataset, dataset_to_arrays
from symdistill.components.capture import capture, message_force_fit
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.split import SplitError, split_simulations
from symdistill.components.train_surrogate import (
    Batch, GraphDataError, GraphNetwork, SurrogateSpec, TrainingSettings, build_graphs, from_arrays,
    feature_units, to_arrays, train)

UNITS = {"length": "m", "time": "s", "mass": "kg", "charge": "C"}


@pytest.fixture(scope="module")
def spring_data():
    return simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=40, n_steps=200, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=3, units=UNITS)


def small_model(graphs, variant="standard", message_dim=8, n_latent=0, seed=0, latent_ends=("i", "j")):
    torch.manual_seed(seed)
    spec = SurrogateSpec(len(graphs.edge_features), len(graphs.node_features), len(graphs.target_names),
                         graphs.bodies_per_graph, message_dim=message_dim, hidden=16, layers=2, variant=variant,
                         n_latent=n_latent, latent_ends=latent_ends)
    model = GraphNetwork(spec)
    if n_latent:
        with torch.no_grad():
            model.latent.normal_()
    return model.double().eval()


def forward(model, graphs):
    """(outputs [node, output], messages [edge, message], kl [edge])."""
    with torch.no_grad():
        return Batch.of(graphs).run(model)


@pytest.mark.parametrize("n_latent, latent_ends", [(0, ("i", "j")), (2, ("i", "j")), (2, ("j",)), (1, ())])
def test_batched_edges_equal_a_per_edge_loop(spring_data, n_latent, latent_ends):
    graphs = build_graphs(spring_data, sims=[0, 1], dtype=np.float64)
    model = small_model(graphs, n_latent=n_latent, latent_ends=latent_ends)
    output = graphs.per_graph(forward(model, graphs)[0].numpy())
    pos, mass, charge = spring_data["pos"].values, spring_data["mass"].values, spring_data["charge"].values
    latent = model.latent.detach().double()
    n_times = spring_data.sizes["time"]
    for graph in (0, 5, n_times + 3):
        s, t = divmod(graph, n_times)
        for i in range(3):
            summed = torch.zeros(8, dtype=torch.float64)
            for j in range(3):
                if j == i:
                    continue
                d = pos[s, t, i] - pos[s, t, j]
                features = [*d, np.linalg.norm(d), charge[s, i], charge[s, j], mass[s, i], mass[s, j]]
                x = torch.cat([torch.tensor(features), *[latent[{"i": i, "j": j}[end]] for end in latent_ends]])
                summed += model.edge_model(x)
            node_in = torch.cat([torch.tensor([charge[s, i], mass[s, i]]), latent[i], summed])
            np.testing.assert_allclose(output[graph, i], model.node_model(node_in).detach().numpy(), rtol=1e-12)


def test_gradients_of_the_edge_list_equal_those_of_a_fully_connected_loop(spring_data):
    """Training sees the same gradients as a plain all-pairs computation: the sparse edge list changes the
    layout, not the model (issue 16's regression check for fully connected systems)."""
    graphs = build_graphs(spring_data, sims=[0], dtype=np.float64)
    model = small_model(graphs)
    weights = torch.as_tensor(np.random.default_rng(0).normal(size=(graphs.n_nodes, 2)))
    model.zero_grad()
    (Batch.of(graphs).run(model)[0] * weights).sum().backward()
    batched = [None if p.grad is None else p.grad.clone() for p in model.parameters()]  # latent: unused
    pos, mass, charge = spring_data["pos"].values, spring_data["mass"].values, spring_data["charge"].values
    model.zero_grad()
    total = torch.zeros((), dtype=torch.float64)
    for t in range(spring_data.sizes["time"]):
        for i in range(3):
            summed = sum(model.edge_model(torch.tensor(
                [*(pos[0, t, i] - pos[0, t, j]), np.linalg.norm(pos[0, t, i] - pos[0, t, j]), charge[0, i],
                 charge[0, j], mass[0, i], mass[0, j]])) for j in range(3) if j != i)
            out = model.node_model(torch.cat([torch.tensor([charge[0, i], mass[0, i]]), summed]))
            total = total + (out * weights[3 * t + i]).sum()
    total.backward()
    plain = [p.grad for p in model.parameters()]
    assert [g is None for g in batched] == [g is None for g in plain] and sum(g is not None for g in plain) > 4
    for fast, slow in zip(batched, plain):
        if fast is not None:
            np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-10, atol=1e-12)


def test_radius_graph_holds_exactly_the_near_pairs_and_sums_only_them(spring_data):
    full = build_graphs(spring_data, sims=[0], dtype=np.float64)
    near = build_graphs(spring_data, sims=[0], radius=1.0, dtype=np.float64)
    r = full.edge_x[:, full.edge_features.index("r")]
    keep = r < 1.0
    assert 0 < keep.mean() < 1 and near.n_edges == keep.sum()
    for graphs, rows in ((full, keep), (near, slice(None))):  # the same (frame, receiver, sender) triples, in order
        triples = np.stack([graphs.edge_graph, graphs.body[graphs.receiver], graphs.body[graphs.sender]], 1)[rows]
        if graphs is full:
            expected = triples
    np.testing.assert_array_equal(triples, expected)
    np.testing.assert_allclose(near.edge_x, full.edge_x[keep], rtol=1e-12)
    model = small_model(full)
    # the full graph with its far messages zeroed gives the radius graph's outputs
    output, messages, _ = forward(model, full)
    summed = np.zeros((full.n_nodes, messages.shape[1]))
    np.add.at(summed, full.receiver[keep], messages.numpy()[keep])
    node_in = torch.cat([torch.from_numpy(full.node_x), torch.from_numpy(summed)], dim=1)
    np.testing.assert_allclose(forward(model, near)[0].numpy(), model.node_model(node_in).detach().numpy(),
                               rtol=1e-12)


def test_sender_properties_give_the_edges_only_the_senders_properties(spring_data):
    both = build_graphs(spring_data, sims=[0], dtype=np.float64)
    sender = build_graphs(spring_data, sims=[0], edge_features=("dx", "r", "sender_properties"), dtype=np.float64)
    assert sender.edge_features == ("dx", "dy", "r", "charge_j", "mass_j")
    for name in sender.edge_features:
        np.testing.assert_array_equal(sender.edge_x[..., sender.edge_features.index(name)],
                                      both.edge_x[..., both.edge_features.index(name)])


def test_the_speed_feature_is_the_norm_of_the_relative_velocity_with_velocity_units(spring_data):
    graphs = build_graphs(spring_data, sims=[0], edge_features=("dv", "speed"), dtype=np.float64)
    assert graphs.edge_features == ("dvx", "dvy", "speed")
    np.testing.assert_allclose(graphs.edge_x[:, 2], np.hypot(graphs.edge_x[:, 0], graphs.edge_x[:, 1]), rtol=1e-12)
    vel = spring_data["vel"].isel(sim=0, time=0).values  # the first graph's first edge, by hand
    i, j = graphs.receiver[0], graphs.sender[0]
    assert graphs.edge_x[0, 2] == pytest.approx(np.linalg.norm(vel[i] - vel[j]))
    units = feature_units(spring_data.assign(vel=spring_data["vel"].assign_attrs(units="m/s")), ["speed"])
    assert units == {"speed": "m/s"}
    with pytest.raises(GraphDataError, match="'speed' needs a 'vel'"):
        build_graphs(spring_data.drop_vars("vel"), edge_features=("dx", "speed"))


def test_captured_functions_equal_a_fresh_forward_pass(spring_data):
    graphs = build_graphs(spring_data, sims=[2, 3], dtype=np.float64)
    model = small_model(graphs, variant="kl")
    datasets = capture(model, graphs)
    edge, node = datasets["edge"], datasets["node"]
    output, messages, _ = forward(model, graphs)
    assert edge.sizes["edge"] == graphs.n_edges == len(graphs) * 6
    np.testing.assert_allclose(node["outputs"].values, output.numpy().reshape(-1, 2), rtol=1e-12)
    mu = model.edge_model(torch.from_numpy(edge["inputs"].values)).detach().numpy()[:, :8]
    np.testing.assert_allclose(edge["messages"].values, mu, rtol=1e-12)  # kl: messages are the means
    assert list(edge["edge_feature"].values) == ["dx", "dy", "r", "charge_i", "charge_j", "mass_i", "mass_j"]
    std = edge["messages"].values.std(axis=0)
    assert (np.diff(std[edge["message_rank"].values]) <= 0).all()


def test_model_reloaded_from_the_store_gives_identical_outputs(spring_data, tmp_path):
    graphs = build_graphs(spring_data, sims=[4])
    model = small_model(graphs, n_latent=1).float()
    store = ArtifactStore(tmp_path / "store")
    ref = ArtifactRef("train_surrogate", "k1")
    store.write(ref, {"weights": arrays_to_dataset(to_arrays(model))}, {})
    reloaded = from_arrays(model.spec, dataset_to_arrays(store.read(ref)["weights"])).eval()
    batch = Batch.of(graphs)
    with torch.no_grad():
        assert torch.equal(batch.run(model)[0], batch.run(reloaded)[0])
    with pytest.raises(ValueError, match="stored weight 'edge_model.1.weight' has shape"):
        bad = dataset_to_arrays(store.read(ref)["weights"])
        bad["edge_model.1.weight"] = bad["edge_model.1.weight"][:, :2]
        from_arrays(model.spec, bad)


def train_small(spring_data, variant, epochs, **settings):
    train_sims, val_sims, _ = split_simulations(spring_data.sizes["sim"], 0.1, 0.2, 0)
    train_set, val_set = build_graphs(spring_data, sims=train_sims), build_graphs(spring_data, sims=val_sims)
    spec = SurrogateSpec(len(train_set.edge_features), len(train_set.node_features), 2, 3, message_dim=16,
                         hidden=32, layers=2, variant=variant)
    return spec, train_set, val_set, TrainingSettings(epochs=epochs, batch_size=32, learning_rate=3e-3, **settings)


def test_training_resumes_exactly_from_a_checkpoint(spring_data):
    spec, train_set, val_set, settings = train_small(spring_data, "l1", 4, checkpoint_every=2, patience=10)
    saved = []
    straight = train(spec, settings, train_set, val_set, on_checkpoint=saved.append)
    assert [c.epoch for c in saved] == [2]
    resumed = train(spec, settings, train_set, val_set, resume=saved[0])
    assert resumed.resumed_from_epoch == 2
    assert resumed.curves == straight.curves
    for name, value in straight.weights.items():
        np.testing.assert_array_equal(resumed.weights[name], value)


def test_l1_gives_fewer_significant_message_components_than_standard(spring_data):
    counts = {}
    for variant in ("standard", "l1"):
        spec, train_set, val_set, settings = train_small(spring_data, variant, 12, l1_weight=0.3, patience=20)
        model = from_arrays(spec, train(spec, settings, train_set, val_set).weights).eval()
        counts[variant] = capture(model, val_set)["edge"].attrs["significant_components"]
    assert counts["l1"] < counts["standard"], counts


def test_message_force_fit_finds_a_planted_linear_message(spring_data):
    graphs = build_graphs(spring_data, sims=[0, 1], dtype=np.float64)
    datasets = capture(small_model(graphs, message_dim=3), graphs)
    edge = datasets["edge"]
    force = np.random.default_rng(0).normal(size=(edge.sizes["edge"], 2))
    planted = edge["messages"].values.copy()
    planted[:, 0] = 10 * (2 * force[:, 0] - force[:, 1] + 0.5)  # the largest-std component, linear in F
    edge = edge.assign(messages=(("edge", "message_component"), planted),
                       force=(("edge", "force_component"), force), message_rank=("rank", [0, 1, 2]))
    fit = message_force_fit(edge, n_components=2, outlier_quantile=1.0)
    assert fit["components"] == [0, 1]
    assert fit["r2"][0] == pytest.approx(1.0, abs=1e-12) and fit["r2"][1] < 0.5
    np.testing.assert_allclose(fit["coefficients"][0], [20, -10, 5], rtol=1e-9)

    # a message that carries the force per receiver mass is recognized as such
    from symdistill.components.capture_check import message_force_check
    mass = np.random.default_rng(1).uniform(0.5, 3.0, size=edge.sizes["edge"])
    per_mass = edge.assign(force=edge["force"] * mass[:, None])  # so messages are linear in force / mass
    summary, png = message_force_check(per_mass, {"mass": mass}, 2, 1.0)
    assert summary["message_force_per_receiver_mass_r2"][0] == pytest.approx(1.0, abs=1e-12)
    assert summary["message_force_r2"][0] < 0.95 and png[:4].tobytes() == b"\x89PNG"
    # and as the force per receiver charge and mass (charges: the receiver's sign cancels too)
    charge = np.random.default_rng(2).choice([-1.0, 1.0], size=edge.sizes["edge"])
    per_charge = edge.assign(force=edge["force"] * (mass * charge)[:, None])
    summary, _ = message_force_check(per_charge, {"mass": mass, "charge": charge}, 2, 1.0)
    assert summary["message_force_per_receiver_charge_mass_r2"][0] == pytest.approx(1.0, abs=1e-12)
    assert summary["message_force_per_receiver_mass_r2"][0] < 0.5


def test_bad_data_gets_clear_errors(spring_data):
    with_nan = spring_data.copy(deep=True)
    with_nan["pos"][1, 2, 0, 0] = np.nan
    with pytest.raises(GraphDataError, match=r"'pos' is NaN in some but not all components at sim=1, time=2, "
                                             r"body=0; a body absent from a frame has all of pos NaN there"):
        build_graphs(with_nan)
    with pytest.raises(GraphDataError, match="'pos' has dims"):
        build_graphs(spring_data.isel(time=0))
    with pytest.raises(GraphDataError, match="the data has no 'force' variable"):
        build_graphs(spring_data, target="force")
    with pytest.raises(GraphDataError, match="unknown edge feature"):
        build_graphs(spring_data, edge_features=("dx", "angle"))
    with pytest.raises(SplitError, match="at least 3 simulations"):
        split_simulations(2, 0.1, 0.2, 0)
    with pytest.raises(ValueError, match="unknown surrogate variant 'sparse'"):
        SurrogateSpec(3, 1, 2, 3, variant="sparse")


def test_data_without_per_body_properties_trains_with_latent_parameters_and_captures():
    from symdistill.config import TrainSurrogateConfig
    from symdistill.tasks.surrogate_io import graphs_for
    from symdistill.tasks.train_surrogate import surrogate_spec, training_settings
    # The same bodies in every simulation, their masses left out of the data: unknown masses (Lemos et al.).
    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=12, duration=1.0, record_interval=0.1, dt=0.01,
                    fixed_masses=True, seed=3, units=UNITS).drop_vars(["mass", "charge"])
    cfg = TrainSurrogateConfig(latent_per_body=1, epochs=2, hidden=8, layers=1, batch_size=16, message_dim=4,
                               variant="standard", edge_features=["dx", "r", "properties"],
                               node_features=["properties"])  # features that ask for properties
    sims = split_simulations(data.sizes["sim"], 0.1, 0.2, 0)
    train_set, val_set, test_set = (graphs_for(cfg, data, split) for split in sims)
    assert train_set.edge_features == ("dx", "dy", "r") and train_set.node_x.shape[-1] == 0
    spec = surrogate_spec(cfg, train_set)
    result = train(spec, training_settings(cfg), train_set, val_set)
    assert len(result.curves["epoch"]) == 2 and np.isfinite(result.curves["train_loss"]).all()
    assert np.abs(result.weights["latent"]).max() > 0  # the stand-ins for the masses were learned
    captured = capture(from_arrays(spec, result.weights).eval(), test_set)
    assert list(captured["edge"]["edge_feature"].values) == ["dx", "dy", "r", "latent0_i", "latent0_j"]
    assert list(captured["node"]["node_feature"].values) == ["latent0"] + [f"sum_message{c}" for c in range(4)]
    assert np.isfinite(captured["node"]["outputs"].values).all()
    # With the default sender_properties an edge sees the sender's latent only, as it would its properties.
    sender_only = cfg.model_copy(update={"edge_features": ["dx", "r", "sender_properties"]})
    spec = surrogate_spec(sender_only, train_set)
    assert spec.latent_ends == ("j",)
    captured = capture(GraphNetwork(spec).eval(), test_set)
    assert list(captured["edge"]["edge_feature"].values) == ["dx", "dy", "r", "latent0_j"]
    with pytest.raises(GraphDataError, match=r"properties, node properties need per-body properties, but the data "
                                             r"has no per-body variable.*latent_per_body >= 1"):
        graphs_for(cfg.model_copy(update={"latent_per_body": 0}), data, sims[0])


def test_node_batches_give_each_counted_node_its_full_graph_output_once():
    from symdistill.components.halo_catalog import halo_catalog
    from symdistill.components.train_surrogate.train import node_batches
    data = halo_catalog(200, neighbours=12, seed=4)
    graphs = build_graphs(data, target="delta", edge_features=("dx", "r", "sender_properties"),
                          radius=data.attrs["radius"], dtype=np.float64)
    counted = np.random.default_rng(0).random(graphs.n_nodes) < 0.6
    graphs = graphs.with_mask(counted, per_node=True)
    model = small_model(graphs, n_latent=1, latent_ends=("j",))
    full = forward(model, graphs)[0].numpy()
    seen, outputs = [], []
    with torch.no_grad():
        for batch in node_batches(graphs, 7, np.random.default_rng(1)):
            outputs.append(batch.run(model)[0].numpy())
            seen.append(batch.body.numpy())  # one box: a node's body index is its row
    seen = np.concatenate(seen)
    assert sorted(seen) == list(np.flatnonzero(counted))  # every counted node once, no other
    np.testing.assert_allclose(np.concatenate(outputs), full[seen], rtol=1e-10, atol=1e-12)


def test_a_bottleneck_message_has_as_many_components_as_the_target(spring_data):
    from symdistill.components.halo_catalog import halo_catalog
    from symdistill.config import TrainSurrogateConfig
    from symdistill.tasks.train_surrogate import surrogate_spec
    cfg = TrainSurrogateConfig()  # the default variant: bottleneck
    assert cfg.variant == "bottleneck"
    forces = build_graphs(spring_data)
    assert surrogate_spec(cfg, forces).message_dim == spring_data.sizes["dim"] == len(forces.target_names)
    halos = halo_catalog(100, neighbours=10, seed=0)
    overdensity = build_graphs(halos, target="delta", edge_features=("dx", "r", "sender_properties"),
                               radius=halos.attrs["radius"])
    assert surrogate_spec(cfg, overdensity).message_dim == 1  # a scalar target: one pair term, not one per axis

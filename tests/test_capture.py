"""Capture turns bottleneck messages that mix the force's components back into the force's own axes."""
import json

import numpy as np
import pytest
import torch

from symdistill.components.capture import capture
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.train_surrogate import GraphNetwork, SurrogateSpec, build_graphs

MIXING = np.array([[0.8, -0.5, 0.3], [0.2, 0.9, -0.4], [-0.6, 0.1, 0.7]])
OFFSET = np.array([0.3, -0.2, 0.5])


def spring_pull(edge_x: torch.Tensor) -> torch.Tensor:
    """The spring law's pair force from [dx, dy, dz, r, ...] edge features."""
    dx, r = edge_x[..., :3], edge_x[..., 3:4]
    return dx * (1.0 - r) / r


class Function(torch.nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


class MixedMessages(GraphNetwork):
    """A bottleneck network whose messages are MIXING @ F + OFFSET for the true spring force F."""

    def __init__(self, spec, mixing=MIXING, law=spring_pull):
        super().__init__(spec)
        mix, offset = torch.tensor(mixing, dtype=torch.float64), torch.tensor(OFFSET, dtype=torch.float64)
        self.edge_model = Function(lambda x: law(x) @ mix.T + offset)
        self.node_model = Function(lambda x: x[..., -3:])  # the summed messages themselves


@pytest.fixture(scope="module")
def graphs():
    data = simulate(ForceLaw("spring"), n_bodies=4, dim=3, n_sims=2, duration=1.0, record_interval=0.1, seed=1)
    return build_graphs(data, edge_features=("dx", "r", "sender_properties"), dtype=np.float64)


def spec_for(graphs):
    return SurrogateSpec(len(graphs.edge_features), len(graphs.node_features), 3, 4, message_dim=3,
                         variant="bottleneck")


def test_mixed_messages_come_back_as_the_force_axes(graphs):
    recorded = capture(MixedMessages(spec_for(graphs)), graphs)
    edge, node = recorded["edge"], recorded["node"]
    force = spring_pull(torch.from_numpy(graphs.edge_x)).numpy()
    messages = edge["messages"].values
    for axis in range(3):  # each message is one force component times a scale, nothing of the others
        scale = messages[:, axis] @ force[:, axis] / (force[:, axis] @ force[:, axis])
        np.testing.assert_allclose(messages[:, axis], scale * force[:, axis], atol=1e-9)
    assert json.loads(edge.attrs["message_alignment"])["explained"] == pytest.approx([1, 1, 1])
    # the node function's inputs are the sums of exactly these messages
    sums = node["inputs"].values[:, -3:]
    per_receiver = np.zeros_like(sums)
    np.add.at(per_receiver, graphs.receiver, messages)
    np.testing.assert_allclose(sums, per_receiver, atol=1e-9)


def test_messages_that_are_not_a_force_vector_are_left_as_they_are(graphs):
    def even(edge_x):  # unchanged by every reflection: no axis to find
        return edge_x[..., 3:4].expand(*edge_x.shape[:-1], 3) ** torch.tensor([1.0, 2.0, 3.0], dtype=edge_x.dtype)
    model = MixedMessages(spec_for(graphs), law=even)
    recorded = capture(model, graphs)
    assert json.loads(recorded["edge"].attrs["message_alignment"]) is None
    raw = model.edge_model(torch.from_numpy(graphs.edge_x)).numpy()
    np.testing.assert_allclose(recorded["edge"]["messages"].values, raw)

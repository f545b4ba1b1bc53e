"""The graph network surrogate: an edge model playing the force, a node model playing Newton's law.

messages = edge_model(edge features)                     # [edge, message_dim]
summed   = sum of the messages into each receiver        # [node, message_dim] (a scatter-add)
output   = node_model(node features, summed)             # [node, n_out]
Edges go through the edge model in chunks of EDGE_CHUNK rows; while training, each chunk's activations are
recomputed in the backward pass instead of kept, so memory grows with the edges, not with edges x hidden.
Variants: standard, l1 (L1 penalty on messages), kl (variational messages with a KL term to N(0, 1)),
bottleneck (message_dim = the target's components). Optional learned per-body latent parameters are appended
to the node features and to the edge features of the ends that see per-body properties (unknown masses,
Lemos et al.): both ends with ``properties``, the sender only with ``sender_properties``.
Weights travel as plain numpy arrays (``to_arrays``/``from_arrays``), never pickle.
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

VARIANTS = ("standard", "l1", "kl", "bottleneck")
EDGE_CHUNK = 1 << 16


@dataclass(frozen=True)
class SurrogateSpec:
    """Everything needed to rebuild the network; stored as JSON beside the weights."""

    n_edge_features: int
    n_node_features: int
    n_out: int
    n_bodies: int
    message_dim: int = 100
    hidden: int = 128
    layers: int = 3
    variant: str = "l1"
    n_latent: int = 0
    latent_ends: tuple[str, ...] = ("i", "j")  # ends whose latent parameters an edge sees: i receiver, j sender

    def __post_init__(self):
        object.__setattr__(self, "latent_ends", tuple(self.latent_ends))  # JSON gives a list
        if not set(self.latent_ends) <= {"i", "j"} or len(set(self.latent_ends)) != len(self.latent_ends):
            raise ValueError(f"latent_ends must be distinct ends 'i' (receiver) and 'j' (sender), "
                             f"got {self.latent_ends}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown surrogate variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        for name in ("n_out", "n_bodies", "message_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def as_dict(self) -> dict:
        return asdict(self)


class Affine(nn.Module):
    """x * scale + shift with fixed (buffer) scale and shift: input standardization and output scaling.

    Kept inside the edge and node models, so what capture records is in the data's own units.
    """

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(n))
        self.register_buffer("shift", torch.zeros(n))

    def forward(self, x):
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)

    def set(self, scale, shift) -> None:
        with torch.no_grad():
            self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))
            self.shift.copy_(torch.as_tensor(shift, dtype=self.shift.dtype))


def mlp(n_in: int, hidden: int, layers: int, n_out: int) -> nn.Sequential:
    """Standardize, then ReLU layers, then a linear layer and an output scale."""
    sizes = [n_in] + [hidden] * layers
    parts = [Affine(n_in)]
    for a, b in zip(sizes[:-1], sizes[1:]):
        parts += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*parts, nn.Linear(sizes[-1], n_out), Affine(n_out))


class GraphNetwork(nn.Module):
    def __init__(self, spec: SurrogateSpec):
        super().__init__()
        self.spec = spec
        n_message_out = spec.message_dim * (2 if spec.variant == "kl" else 1)
        n_edge_in = spec.n_edge_features + len(spec.latent_ends) * spec.n_latent
        self.edge_model = mlp(n_edge_in, spec.hidden, spec.layers, n_message_out)
        self.node_model = mlp(spec.n_node_features + spec.n_latent + spec.message_dim, spec.hidden, spec.layers,
                              spec.n_out)
        self.latent = nn.Parameter(torch.zeros(spec.n_bodies, spec.n_latent))

    def fit_scales(self, edge_x: np.ndarray, node_x: np.ndarray, target: np.ndarray,
                   scale_outputs: bool = False) -> None:
        """Standardize the data features (latent and message inputs stay as they are); scale outputs to the target.

        ``edge_x``: [edge, feature]; ``node_x``: [node, feature]; ``target``: [node, component].
        """
        def standardizer(values, n_total):
            mean, std = values.mean(axis=0), values.std(axis=0)
            std = np.where(std > 0, std, 1.0)
            scale, shift = np.ones(n_total), np.zeros(n_total)
            scale[:values.shape[1]], shift[:values.shape[1]] = 1.0 / std, -mean / std
            return scale, shift
        edge_in, node_in = self.edge_model[0], self.node_model[0]
        edge_in.set(*standardizer(edge_x, edge_in.scale.numel()))
        node_in.set(*standardizer(node_x, node_in.scale.numel()))
        spread = target.reshape(-1, target.shape[-1]).std(axis=0)
        if scale_outputs:
            self.node_model[-1].set(np.where(spread > 0, spread, 1.0), np.zeros(spread.size))

    def edge_inputs(self, edge_x: torch.Tensor, receiver_body: torch.Tensor, sender_body: torch.Tensor) -> torch.Tensor:
        """edge_x [edge, feature] plus the latent parameters of the ends in ``latent_ends`` (i: receiver, j: sender)."""
        if self.spec.n_latent == 0 or not self.spec.latent_ends:
            return edge_x
        of_end = {"i": receiver_body, "j": sender_body}
        pair = [self.latent[of_end[end]].to(edge_x.dtype) for end in self.spec.latent_ends]
        return torch.cat([edge_x, *pair], dim=-1)

    def edge_outputs(self, edge_x: torch.Tensor, receiver_body: torch.Tensor, sender_body: torch.Tensor) -> torch.Tensor:
        """The edge model's raw outputs [edge, n_message_out], in chunks of EDGE_CHUNK edges."""
        def run(x, rb, sb):
            return self.edge_model(self.edge_inputs(x, rb, sb))
        parts = []
        for start in range(0, max(len(edge_x), 1), EDGE_CHUNK):
            chunk = (edge_x[start:start + EDGE_CHUNK], receiver_body[start:start + EDGE_CHUNK],
                     sender_body[start:start + EDGE_CHUNK])
            if torch.is_grad_enabled() and len(edge_x) > EDGE_CHUNK:
                parts.append(checkpoint(run, *chunk, use_reentrant=False))
            else:
                parts.append(run(*chunk))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def node_inputs(self, node_x: torch.Tensor, body: torch.Tensor, summed: torch.Tensor) -> torch.Tensor:
        parts = [node_x]
        if self.spec.n_latent:
            parts.append(self.latent[body].to(node_x.dtype))
        return torch.cat(parts + [summed], dim=-1)

    def forward(self, edge_x, receiver, sender_body, node_x, body, sample: bool = False):
        """Returns (output [node, n_out], messages [edge, message_dim], kl per edge).

        ``receiver``: [edge] node rows; ``sender_body``: [edge] the sender's body index and ``body``: [node]
        each node's (for the latent parameters). A sender need not be a node row of the batch: its features
        are on the edge. With the kl variant, ``sample`` draws messages from N(mu, exp(logvar)); otherwise
        messages are mu.
        """
        raw = self.edge_outputs(edge_x, body[receiver], sender_body)
        kl = torch.zeros(len(edge_x), dtype=edge_x.dtype)
        if self.spec.variant == "kl":
            mu, logvar = raw.chunk(2, dim=-1)
            messages = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
            kl = 0.5 * (torch.exp(logvar) + mu ** 2 - logvar - 1.0).sum(-1)
        else:
            messages = raw
        summed = torch.zeros(len(node_x), messages.shape[-1], dtype=messages.dtype).index_add(0, receiver, messages)
        return self.node_model(self.node_inputs(node_x, body, summed)), messages, kl


def to_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameter name -> float64 array copy."""
    return {name: value.detach().cpu().numpy().astype(np.float64).copy() for name, value in model.state_dict().items()}


def from_arrays(spec: SurrogateSpec, arrays: dict[str, np.ndarray]) -> GraphNetwork:
    """Rebuild a network from ``to_arrays`` output; raise ValueError naming any missing or misshapen weight."""
    model = GraphNetwork(spec)
    state = model.state_dict()
    missing = set(state) - set(arrays)
    if missing:
        raise ValueError(f"stored weights lack {sorted(missing)}; the artifact does not match its model spec")
    for name, value in state.items():
        if tuple(arrays[name].shape) != tuple(value.shape):
            raise ValueError(f"stored weight {name!r} has shape {arrays[name].shape}, the model needs {tuple(value.shape)}")
    model.load_state_dict({name: torch.as_tensor(np.asarray(arrays[name]), dtype=state[name].dtype) for name in state})
    return model

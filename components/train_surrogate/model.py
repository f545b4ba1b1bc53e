"""The graph network surrogate: an edge model playing the force, a node model playing Newton's law.

messages = edge_model(edge features)                     # [graph, receiver, other, message_dim]
summed   = sum over incoming edges (masked)              # [graph, receiver, message_dim]
output   = node_model(node features, summed)             # [graph, receiver, n_out]
Variants: standard, l1 (L1 penalty on messages), kl (variational messages with a KL term to N(0, 1)),
bottleneck (message_dim = spatial dimension). Optional learned per-body latent parameters are appended
to the node features and to the edge features of the ends that see per-body properties (unknown masses,
Lemos et al.): both ends with ``properties``, the sender only with ``sender_properties``.
Weights travel as plain numpy arrays (``to_arrays``/``from_arrays``), never pickle.
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

VARIANTS = ("standard", "l1", "kl", "bottleneck")


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

    def fit_scales(self, edge_x: np.ndarray, edge_mask: np.ndarray, node_x: np.ndarray, target: np.ndarray,
                   scale_outputs: bool = False) -> None:
        """Standardize the data features (latent and message inputs stay as they are); scale outputs to the target."""
        def standardizer(values, n_total):
            mean, std = values.mean(axis=0), values.std(axis=0)
            std = np.where(std > 0, std, 1.0)
            scale, shift = np.ones(n_total), np.zeros(n_total)
            scale[:values.shape[1]], shift[:values.shape[1]] = 1.0 / std, -mean / std
            return scale, shift
        edge_in, node_in = self.edge_model[0], self.node_model[0]
        edge_in.set(*standardizer(edge_x[edge_mask], edge_in.scale.numel()))
        # Explicit row count: reshape(-1, 0) is ambiguous, and data without per-body properties has no node features.
        node_in.set(*standardizer(node_x.reshape(node_x.shape[0] * node_x.shape[1], node_x.shape[-1]),
                                  node_in.scale.numel()))
        spread = target.reshape(-1, target.shape[-1]).std(axis=0)
        if scale_outputs:
            self.node_model[-1].set(np.where(spread > 0, spread, 1.0), np.zeros(spread.size))

    def edge_inputs(self, edge_x: torch.Tensor, sender: torch.Tensor) -> torch.Tensor:
        """edge_x: [graph, receiver, other, feature] plus the latent parameters of the ends in ``latent_ends``."""
        if self.spec.n_latent == 0 or not self.spec.latent_ends:
            return edge_x
        g, n, k, _ = edge_x.shape
        of_end = {"i": self.latent[:, None, :].expand(n, k, -1), "j": self.latent[sender]}  # [receiver, other, n_latent]
        pair = torch.cat([of_end[end] for end in self.spec.latent_ends], dim=-1).to(edge_x.dtype)
        return torch.cat([edge_x, pair.expand(g, -1, -1, -1)], dim=-1)

    def node_inputs(self, node_x: torch.Tensor, summed: torch.Tensor) -> torch.Tensor:
        parts = [node_x]
        if self.spec.n_latent:
            parts.append(self.latent.to(node_x.dtype).expand(node_x.shape[0], -1, -1))
        return torch.cat(parts + [summed], dim=-1)

    def forward(self, edge_x, edge_mask, node_x, sender, sample: bool = False):
        """Returns (output [graph, body, n_out], messages [graph, body, other, message_dim], kl per graph).

        With the kl variant, ``sample`` draws messages from N(mu, exp(logvar)); otherwise messages are mu.
        """
        raw = self.edge_model(self.edge_inputs(edge_x, sender))
        kl = torch.zeros(edge_x.shape[0], dtype=edge_x.dtype)
        if self.spec.variant == "kl":
            mu, logvar = raw.chunk(2, dim=-1)
            messages = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
            per_edge = 0.5 * (torch.exp(logvar) + mu ** 2 - logvar - 1.0).sum(-1)
            kl = (per_edge * edge_mask).sum(dim=(1, 2))
        else:
            messages = raw
        summed = (messages * edge_mask[..., None]).sum(dim=2)  # [graph, receiver, message_dim]
        return self.node_model(self.node_inputs(node_x, summed)), messages, kl


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

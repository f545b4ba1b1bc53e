"""The split: which nodes train the network, stop its training, test it, and which are out of distribution.

It is made once from the data and read by every later stage, so training, capture, the expression choice,
refit and the final comparison all agree on what each node is for. Masks are per node, [sim, time, body].
By ``simulation`` (trajectories), simulations go whole to train, validation or test (frames of one
trajectory are correlated, so splitting inside one would leak) and the OOD rule withholds whole frames.
By ``node`` (point catalogs, where one box can be all the data), each node goes to train, validation or
test at random, and the OOD rule withholds nodes: every node still sends its messages to its
neighbours, but only the nodes of a role count in that role's loss, fit or error.
"""
from dataclasses import dataclass

import numpy as np
import xarray as xr

from symdistill.components.ood import OODRule, ood_frames, ood_nodes
from symdistill.components.presence import presence

ROLES = ("train", "validation", "test", "out_of_distribution")
UNITS = ("simulation", "node")
IN_DISTRIBUTION = ROLES[:3]
ROLE_NAMES = {"train": "training", "validation": "validation", "test": "test"}


class SplitError(ValueError):
    """The data cannot be split as asked: too few simulations, or a split left empty."""


@dataclass(frozen=True)
class SplitSettings:
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    seed: int = 0
    ood: OODRule | None = None
    unit: str = "simulation"

    @classmethod
    def of(cls, section) -> "SplitSettings":
        """From a [split] section (anything with its fields: fractions, seed, unit and ood)."""
        rule = section.ood
        if rule is not None:
            rule = OODRule(rule.kind, rule.variable, -np.inf if rule.low is None else rule.low,
                           np.inf if rule.high is None else rule.high)
        return cls(section.validation_fraction, section.test_fraction, section.seed, rule, section.unit)

    def __post_init__(self):
        if self.unit not in UNITS:
            raise SplitError(f"[split] unit = {self.unit!r}; choose one of {', '.join(UNITS)}")
        if self.unit == "node" and self.ood is not None and self.ood.kind == "pair_distance":
            raise SplitError("[split.ood] kind = 'pair_distance' withholds frames; with unit = 'node' use "
                             "'target' or 'body_property'")


def split_simulations(n_sims: int, validation_fraction: float, test_fraction: float, seed: int):
    """Disjoint (train, validation, test) simulation indices; each split gets at least one simulation."""
    return _assign(n_sims, validation_fraction, test_fraction, seed, "simulations")


def _assign(n: int, validation_fraction: float, test_fraction: float, seed: int, what: str):
    """Disjoint, sorted (train, validation, test) indices of ``n`` simulations or nodes, at random."""
    if n < 3:
        raise SplitError(f"[split] needs at least 3 {what} (train, validation, test); the data has {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = max(1, int(round(validation_fraction * n)))
    if n_test + n_val >= n:
        raise SplitError(f"[split] validation_fraction and test_fraction leave no training {what[:-1]} out of "
                         f"{n}; lower them")
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val]), np.sort(order[:n_test])


def make_split(data: xr.Dataset, settings: SplitSettings) -> xr.Dataset:
    """Boolean [sim, time, body] masks, one per role in ROLES; raise SplitError if a role would be empty.

    Raises OODError if the rule names a variable the data lacks.
    """
    shape = (data.sizes["sim"], data.sizes["time"], data.sizes["body"])
    present = presence(data).transpose("sim", "time", "body").values  # a body absent from a frame is no node
    outside = _outside(data, settings, shape) & present
    roles = np.full(shape, -1, dtype=np.int8)  # index into IN_DISTRIBUTION
    by_node = settings.unit == "node"
    flat = roles.reshape(-1) if by_node else roles  # a node split assigns every (sim, time, body) on its own
    for code, chosen in enumerate(_assign(len(flat), settings.validation_fraction, settings.test_fraction,
                                          settings.seed, "nodes" if by_node else "simulations")):
        flat[chosen] = code
    masks = {}
    for code, role in enumerate(IN_DISTRIBUTION):
        masks[role] = (roles == code) & ~outside & present
        if not masks[role].any():
            unit = "frame" if settings.unit == "simulation" else "node"
            raise SplitError(f"[split.ood] the {ROLE_NAMES[role]} split has no {unit} inside "
                             f"{bounds(settings.ood)} left; widen the bounds or change the split fractions")
    masks["out_of_distribution"] = outside
    if settings.ood is not None and not outside.any():
        raise SplitError(f"[split.ood] no frame of the data lies outside {bounds(settings.ood)}: there is nothing "
                         f"to test out of distribution; narrow the bounds")
    return xr.Dataset({role: (("sim", "time", "body"), mask) for role, mask in masks.items()},
                      attrs={"unit": settings.unit})


def _outside(data: xr.Dataset, settings: SplitSettings, shape) -> np.ndarray:
    """[sim, time, body]: withheld by the OOD rule (whole frames by simulation, single nodes by node)."""
    if settings.ood is None:
        return np.zeros(shape, dtype=bool)
    target = data.attrs.get("target", "acc")
    if settings.unit == "simulation":
        return np.broadcast_to(ood_frames(data, settings.ood, target)[:, :, None], shape).copy()
    return ood_nodes(data, settings.ood, target)


def bounds(rule: OODRule | None) -> str:
    if rule is None:
        return "[-inf, inf]"
    return f"[{rule.low:g}, {rule.high:g}]"


def simulations_of(split: xr.Dataset, role: str) -> np.ndarray:
    """Indices of the simulations that hold at least one node of ``role``."""
    return np.flatnonzero(split[role].values.any(axis=(1, 2)))


def counts(split: xr.Dataset) -> dict[str, dict[str, int]]:
    """Per role, the frames that hold any of its nodes, and its nodes."""
    return {role: {"frames": int(split[role].values.any(axis=2).sum()), "nodes": int(split[role].values.sum())}
            for role in ROLES}

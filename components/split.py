"""The split: which frames train the network, stop its training, test it, and which are out of distribution.

It is made once from the data and read by every later stage, so training, capture, the expression choice,
refit and the final comparison all agree on what each frame is for. Simulations go whole to train,
validation or test (frames of one trajectory are correlated, so splitting inside one would leak); the
frames the OOD rule flags are withheld from all three and form the out-of-distribution set.
Masks are per frame, [sim, time].
"""
from dataclasses import dataclass

import numpy as np
import xarray as xr

from symdistill.components.ood import OODRule, ood_frames

ROLES = ("train", "validation", "test", "out_of_distribution")
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


def split_simulations(n_sims: int, validation_fraction: float, test_fraction: float, seed: int):
    """Disjoint (train, validation, test) simulation indices; each split gets at least one simulation."""
    if n_sims < 3:
        raise SplitError(f"[split] needs at least 3 simulations (train, validation, test); the data has {n_sims}")
    order = np.random.default_rng(seed).permutation(n_sims)
    n_test = max(1, int(round(test_fraction * n_sims)))
    n_val = max(1, int(round(validation_fraction * n_sims)))
    if n_test + n_val >= n_sims:
        raise SplitError(f"[split] validation_fraction and test_fraction leave no training simulation out of "
                         f"{n_sims}; lower them")
    return np.sort(order[n_test + n_val:]), np.sort(order[n_test:n_test + n_val]), np.sort(order[:n_test])


def make_split(data: xr.Dataset, settings: SplitSettings) -> xr.Dataset:
    """Boolean [sim, time] masks, one per role in ROLES; raise SplitError if a role would be empty.

    Raises OODError if the rule names a variable the data lacks.
    """
    sims = dict(zip(IN_DISTRIBUTION, split_simulations(data.sizes["sim"], settings.validation_fraction,
                                                       settings.test_fraction, settings.seed)))
    shape = (data.sizes["sim"], data.sizes["time"])
    outside = (np.zeros(shape, dtype=bool) if settings.ood is None
               else ood_frames(data, settings.ood, data.attrs.get("target", "acc")))
    masks = {}
    for role, chosen in sims.items():
        mask = np.zeros(shape, dtype=bool)
        mask[chosen] = ~outside[chosen]
        if not mask.any():
            raise SplitError(f"[split.ood] the {ROLE_NAMES[role]} split has no frame inside {bounds(settings.ood)} "
                             f"left; widen the bounds or change the split fractions")
        masks[role] = mask
    masks["out_of_distribution"] = outside
    if settings.ood is not None and not outside.any():
        raise SplitError(f"[split.ood] no frame of the data lies outside {bounds(settings.ood)}: there is nothing "
                         f"to test out of distribution; narrow the bounds")
    return xr.Dataset({role: (("sim", "time"), mask) for role, mask in masks.items()})


def bounds(rule: OODRule | None) -> str:
    if rule is None:
        return "[-inf, inf]"
    return f"[{rule.low:g}, {rule.high:g}]"


def simulations_of(split: xr.Dataset, role: str) -> np.ndarray:
    """Indices of the simulations that hold at least one frame of ``role``."""
    return np.flatnonzero(split[role].values.any(axis=1))


def frame_counts(split: xr.Dataset) -> dict[str, int]:
    return {role: int(split[role].values.sum()) for role in ROLES}

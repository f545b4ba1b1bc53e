"""Out-of-distribution rules: which frames (sim, time), or which nodes, are withheld from training and search.

A split is a rule on the data, so it is known before anything trains:
- ``body_property``: a frame is OOD when any body's property (``variable``, e.g. mass) lies outside [low, high];
- ``pair_distance``: when any pair of bodies is farther apart than ``high`` (or closer than ``low``);
- ``target``: when any body's |target| component lies outside [low, high] (as the paper's mask on δ > 1).
"""
from dataclasses import dataclass

import numpy as np
import xarray as xr

KINDS = ("body_property", "pair_distance", "target")


class OODError(ValueError):
    pass


@dataclass(frozen=True)
class OODRule:
    kind: str
    variable: str = ""
    low: float = -np.inf
    high: float = np.inf

    def __post_init__(self):
        if self.kind not in KINDS:
            raise OODError(f"unknown OOD kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.low < self.high:
            raise OODError(f"OOD bounds need low < high, got low={self.low}, high={self.high}")


def ood_frames(ds: xr.Dataset, rule: OODRule, target: str = "acc") -> np.ndarray:
    """Boolean [sim, time]: True where the frame is out of distribution."""
    outside = _outside_per_body(ds, rule, target)
    dims = [d for d in outside.dims if d not in ("sim", "time")]
    flagged = outside.any(dims) if dims else outside
    return flagged.broadcast_like(ds["pos"].isel(body=0, dim=0, drop=True)).transpose("sim", "time").values


def ood_nodes(ds: xr.Dataset, rule: OODRule, target: str = "acc") -> np.ndarray:
    """Boolean [sim, time, body]: True where the node (the body in that frame) is out of distribution, by its
    property or its |target| (any component); pair distances flag frames, not nodes."""
    if rule.kind == "pair_distance":
        raise OODError("pair_distance flags whole frames; a per-node rule is target or body_property")
    outside = _outside_per_body(ds, rule, target)
    extra = [d for d in outside.dims if d not in ("sim", "time", "body")]
    flagged = outside.any(extra) if extra else outside
    like = ds["pos"].isel(dim=0, drop=True)
    return flagged.broadcast_like(like).transpose("sim", "time", "body").values


def _outside_per_body(ds, rule, target):
    def outside(values):
        return (values < rule.low) | (values > rule.high)
    if rule.kind == "body_property":
        if rule.variable not in ds or "body" not in ds[rule.variable].dims:
            raise OODError(f"OOD variable {rule.variable!r} is not a per-body property of the data; "
                           f"per-body variables: {', '.join(n for n, v in ds.data_vars.items() if 'body' in v.dims)}")
        return outside(ds[rule.variable])
    if rule.kind == "pair_distance":
        pos = ds["pos"].transpose("sim", "time", "body", "dim").values
        distance = np.sqrt(((pos[:, :, :, None, :] - pos[:, :, None, :, :]) ** 2).sum(-1))
        n = pos.shape[2]
        distance[:, :, np.arange(n), np.arange(n)] = np.nan  # no pair with itself
        flagged = np.nan_to_num(outside(distance), nan=0).astype(bool).any(axis=(2, 3))
        return xr.DataArray(flagged, dims=("sim", "time"))
    return outside(np.abs(ds[target]))

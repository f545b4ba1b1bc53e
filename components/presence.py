"""Frames that hold different numbers of bodies: a body absent from a frame has NaN for all of its position.

Halos form and merge, particles leave a field of view, a catalog's boxes hold different numbers of points:
data on [sim, time, body] marks a body missing from a frame by pos = NaN there. Its other values in that
frame (velocity, target, a time-varying property) are then not used and may be NaN too; everywhere else
NaN or Inf is an error, named with its place.
"""
import numpy as np
import xarray as xr


def presence(ds: xr.Dataset) -> xr.DataArray:
    """Boolean [sim, time, body] (the dims pos has besides dim): True where the body is in the frame."""
    return np.isfinite(ds["pos"]).all("dim")


def unexplained_nan(ds: xr.Dataset) -> str | None:
    """The first NaN/Inf that no absent body explains, described with its variable and place; None if none."""
    pos = ds["pos"]
    finite = np.isfinite(pos)
    partial = finite.any("dim") & ~finite.all("dim")
    if partial.any():
        return f"'pos' is NaN in some but not all components at {_place(partial)}; a body absent from a frame " \
               f"has all of pos NaN there"
    absent = ~presence(ds)
    for name, var in ds.data_vars.items():
        if name == "pos" or var.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(var)
        if "body" in var.dims:  # NaN is allowed where the body is absent (in every frame the value covers)
            spanned = [d for d in absent.dims if d not in var.dims]
            bad = bad & ~(absent.all(spanned) if spanned else absent)
        if bad.any():
            return (f"{name!r} has {int(bad.sum())} NaN/Inf value(s) where its body is present; "
                    f"first at index {_place(bad)}")
    return None


def _place(flags: xr.DataArray) -> str:
    first = np.argwhere(np.asarray(flags.values))[0]
    return ", ".join(f"{d}={int(i)}" for d, i in zip(flags.dims, first))

"""A JSON-ready summary of an artifact's contents, for ``symdistill show``."""
import numpy as np
import xarray as xr


def summarize(datasets: dict[str, xr.Dataset]) -> dict:
    """Per dataset: sizes, and per variable its dims, shape, dtype, units and numeric range."""
    return {name: {"sizes": {str(k): int(v) for k, v in ds.sizes.items()},
                   "variables": {str(v): _variable(ds[v]) for v in ds.data_vars},
                   "attrs": _jsonable(ds.attrs)}
            for name, ds in datasets.items()}


def _variable(var: xr.DataArray) -> dict:
    out = {"dims": [str(d) for d in var.dims], "shape": list(var.shape), "dtype": str(var.dtype),
           "units": var.attrs.get("units")}
    if var.dtype.kind in "fiu" and var.size:
        values = var.values
        out.update(min=float(np.min(values)), max=float(np.max(values)), mean=float(np.mean(values)))
    return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value

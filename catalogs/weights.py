"""Named numpy arrays (model weights, optimizer moments) as an xarray Dataset and back: no pickle anywhere."""
import numpy as np
import xarray as xr


def arrays_to_dataset(arrays: dict[str, np.ndarray], attrs: dict | None = None) -> xr.Dataset:
    """One variable per array, each with its own dims ``<name>:0``, ``<name>:1``, ..."""
    variables = {name: ([f"{name}:{axis}" for axis in range(np.ndim(value))], np.asarray(value))
                 for name, value in arrays.items()}
    return xr.Dataset(variables, attrs=dict(attrs or {}))


def dataset_to_arrays(ds: xr.Dataset) -> dict[str, np.ndarray]:
    return {str(name): np.asarray(var.values) for name, var in ds.data_vars.items()}

"""Read a user's data file (NetCDF, Zarr or long-format CSV) into an xarray Dataset, fully in memory."""
from pathlib import Path

import pandas as pd
import xarray as xr

from symdistill.components.ingest import DatasetError, dataset_from_long_table, ingest

FORMATS = ("netcdf", "zarr", "csv")
_SUFFIXES = {".nc": "netcdf", ".nc4": "netcdf", ".netcdf": "netcdf", ".h5": "netcdf", ".zarr": "zarr", ".csv": "csv"}


def detect_format(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None and path.is_dir() and ((path / "zarr.json").exists() or (path / ".zgroup").exists()):
        fmt = "zarr"
    if fmt is None:
        raise DatasetError(f"{path}: cannot tell the format from the name; set [ingest] format to one of "
                           f"{', '.join(FORMATS)}")
    return fmt


def read_dataset_file(path: str | Path, fmt: str = "auto") -> xr.Dataset:
    """Load ``path`` completely and close it; raise ``DatasetError`` if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such data file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    try:
        if fmt == "csv":
            return dataset_from_long_table(pd.read_csv(path))
        if fmt == "zarr":
            with xr.open_zarr(path, consolidated=False, decode_times=False) as ds:
                return ds.load()
        with xr.open_dataset(path, decode_times=False) as ds:
            return ds.load()
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None
    except Exception as err:  # readers raise many types for a broken file
        raise DatasetError(f"{path}: cannot read as {fmt} ({type(err).__name__}: {err})") from None


def read_ingest_file(path: str | Path, fmt: str = "auto", target: str = "acc", units=None) -> xr.Dataset:
    """A user's data file read and validated into the shared schema; every DatasetError names the file."""
    raw = read_dataset_file(path, fmt)  # its errors already name the file
    try:
        return ingest(raw, target=target, units=units)
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None

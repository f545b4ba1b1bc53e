"""Everything that persists: the content-addressed Zarr artifact store and readers of user data files.

Names are loaded on first use, so planning and ``symdistill status`` do not import zarr or xarray.
"""
import importlib

_HOME = {
    "read_dataset_file": "datasets",
    "summarize": "summary",
    "artifact_key": "keys",
    "file_digest": "keys",
    "ArtifactError": "store",
    "ArtifactRef": "store",
    "ArtifactStore": "store",
    "CorruptArtifactError": "store",
    "MissingArtifactError": "store",
}

__all__ = list(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'symdistill.catalogs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"symdistill.catalogs.{_HOME[name]}"), name)

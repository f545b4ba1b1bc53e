"""Pareto fronts and compositions as Datasets with JSON attributes: programs stored by operator names."""
import json

import numpy as np
import xarray as xr

from symdistill.components.compose import ComposedModel, Composition
from symdistill.components.search import FunctionFront
from symdistill.components.sr import Program


def front_to_dataset(front: FunctionFront) -> xr.Dataset:
    return xr.Dataset(
        {"complexity": ("candidate", front.complexity.astype(np.int64)), "loss": ("candidate", front.loss),
         "score": ("candidate", front.score), "expression": ("candidate", np.array(front.expressions, dtype=object)),
         "search": ("candidate", front.searches.astype(np.int64))},
        attrs={"function": front.name, "feature_names": list(front.feature_names), "best_index": front.best_index,
               "programs": json.dumps([p.to_dict() for p in front.programs])})


def searches_of(front: xr.Dataset) -> np.ndarray:
    """Which operator set's search found each member (0: the first; stores from before record none: all 0)."""
    return front["search"].values if "search" in front else np.zeros(front.sizes["candidate"], dtype=np.int64)


def programs_of(front: xr.Dataset) -> list[Program]:
    """The front's programs, validated name by name (a stored artifact is never trusted blindly)."""
    n_features = len(front.attrs["feature_names"])
    return [Program.from_dict(p, n_features) for p in json.loads(front.attrs["programs"])]


def composition_to_dataset(composition: Composition, expressions: dict[str, str], latex: dict[str, str],
                           axes: dict[str, int] | None = None) -> xr.Dataset:
    """``axes``: the spatial axis of each function that is a force component (the search records it on each
    front as ``axis``); refit offers sibling axes' chains by them (components/isotropy.py)."""
    names = list(expressions)
    return xr.Dataset({"expression": ("output", np.array([expressions[n] for n in names], dtype=object)),
                       "latex": ("output", np.array([latex[n] for n in names], dtype=object))},
                      coords={"output": names}, attrs={"composition": json.dumps(composition.to_dict()),
                                                       "axes": json.dumps(axes or {})})


def composition_of(ds: xr.Dataset) -> Composition:
    return Composition.from_dict(json.loads(ds.attrs["composition"]))


def function_axes_of(ds: xr.Dataset) -> dict[str, int]:
    """The axes a composition's dataset records (none in stores written before they were recorded)."""
    return {name: int(axis) for name, axis in json.loads(ds.attrs.get("axes", "{}")).items()}


def composed_model_of(ds: xr.Dataset) -> ComposedModel:
    """The model of a refit artifact's ``model`` dataset, with its latent parameters if it has any."""
    latent = ds["latent"].values if "latent" in ds else None
    return ComposedModel(composition_of(ds), latent)

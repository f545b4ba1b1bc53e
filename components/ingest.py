"""Bring a user's own measurements to the schema the simulator writes.

Schema: ``pos`` [sim, time, body, dim] (a missing ``sim`` or ``time`` dim is added with length 1,
for single systems and static point catalogs); optional ``vel`` likewise; a target that is ``acc``
(vector, derived from ``pos`` by central differences when absent) or any per-body quantity
[sim, time, body]; per-body properties on dims drawn from (sim, time, body). Every variable needs
a unit, from its ``units`` attribute or from the ``units`` table. A ``box`` attribute declares a
periodic cube [0, box)^dim (a simulation box of a point catalog).
"""
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pint
import xarray as xr

from symdistill.components.presence import presence, unexplained_nan

VECTOR_DIMS = ("sim", "time", "body", "dim")
DIM_LABELS = ("x", "y", "z")
EXPECTED_DIMENSIONS = {"pos": "[length]", "vel": "[length] / [time]", "acc": "[length] / [time] ** 2"}
FINITE_DIFFERENCE_RULE = ("acc[t] = (pos[t+1] - 2 pos[t] + pos[t-1]) / dt**2 (central second difference; "
                          "the first and last time steps are dropped)")

_UNITS = pint.UnitRegistry()


class DatasetError(ValueError):
    """The user's dataset cannot be used; the message says what is wrong and what is allowed."""


def ingest(raw: xr.Dataset, *, target: str = "acc", units: Mapping[str, str] | None = None) -> xr.Dataset:
    """Validate ``raw`` and return it in the shared schema with units checked and made consistent.

    Velocities and accelerations are converted to the units implied by ``pos`` and time, so every
    derived quantity agrees. Raises ``DatasetError`` naming the problem; ``raw`` is not modified.
    """
    if "pos" not in raw.data_vars:
        raise DatasetError(f"missing variable 'pos'; the dataset has {sorted(map(str, raw.data_vars)) or 'none'}")
    ds = _with_vector_dims(raw)
    _check_finite(ds)
    unit_of = _resolve_units(ds, dict(units or {}))
    attrs = {"source": "ingest", "target": target}
    if target == "acc" and "acc" not in ds:
        ds = _derive_acceleration(ds, unit_of.get("time"))
        unit_of["acc"] = f"({unit_of['pos']}) / ({unit_of['time']})**2"
        attrs["derived"] = {"acc": FINITE_DIFFERENCE_RULE}
    if target not in ds.data_vars:
        raise DatasetError(f"missing target variable {target!r}; the dataset has {sorted(map(str, ds.data_vars))}")
    if "body" not in ds[target].dims:
        raise DatasetError(f"target {target!r} has dims {ds[target].dims}; a per-body target needs 'body'")
    ds = _convert_kinematics(ds, unit_of, _parse("pos", unit_of["pos"]), unit_of.get("time"))
    if "box" in raw.attrs:
        attrs["box"] = _periodic_box(raw.attrs["box"], ds["pos"].values)
    ds.attrs = attrs
    return ds


def _periodic_box(value, pos: np.ndarray) -> float:
    """The file's ``box`` attribute: the side of the periodic cube [0, box)^dim the positions live in, in pos
    units (radius graphs then use minimum-image distances)."""
    try:
        box = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise DatasetError(f"attribute box = {value!r}: the side of a periodic box must be one number") from None
    if not (np.isfinite(box) and box > 0):
        raise DatasetError(f"attribute box = {box!r}: the side of a periodic box must be a positive number")
    low, high = np.nanmin(pos), np.nanmax(pos)  # NaN: a body absent from a frame
    if low < 0 or high >= box:
        raise DatasetError(f"attribute box = {box:g}: positions must lie in [0, {box:g}) in a periodic box; they "
                           f"span [{low:g}, {high:g}]")
    return box


def dataset_from_long_table(table: pd.DataFrame) -> xr.Dataset:
    """Turn a long table (columns sim, time, body, then quantities) into a Dataset.

    Vector quantities are columns ``<name>_x``, ``<name>_y`` [, ``<name>_z``]; other columns are
    scalars per body. A scalar constant over time (a mass) becomes [sim, body].
    """
    missing = [c for c in ("sim", "time", "body") if c not in table.columns]
    if missing:
        raise DatasetError(f"CSV lacks column(s) {missing}; a long table needs sim, time, body, then quantities")
    if table.empty:
        raise DatasetError("CSV has no rows")
    duplicated = table.duplicated(["sim", "time", "body"])
    if duplicated.any():
        first = {c: table.loc[duplicated, c].iloc[0] for c in ("sim", "time", "body")}
        raise DatasetError("CSV repeats the row " + ", ".join(f"{c}={v}" for c, v in first.items()))
    sims, times, bodies = (np.unique(table[c].to_numpy()) for c in ("sim", "time", "body"))
    # a (sim, time, body) without a row is a body absent from that frame: NaN there (presence.py)
    every = pd.MultiIndex.from_product([sims, times, bodies], names=["sim", "time", "body"])
    indexed = table.set_index(["sim", "time", "body"]).reindex(every)
    shape = (len(sims), len(times), len(bodies))
    data_vars = {}
    for name, columns in _group_columns(indexed.columns).items():
        values = indexed[columns].to_numpy(dtype=float)
        if len(columns) > 1:
            data_vars[name] = (VECTOR_DIMS, values.reshape(*shape, len(columns)))
            continue
        values = values.reshape(shape)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a body absent from a whole simulation
            first = np.nanmax(values, axis=1)
        constant = np.all((values == first[:, None]) | np.isnan(values))
        data_vars[name] = (("sim", "body"), first) if constant else (("sim", "time", "body"), values)
    return xr.Dataset(data_vars, coords={"sim": sims, "time": times, "body": bodies})


def _group_columns(columns) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for column in columns:
        name, _, suffix = str(column).rpartition("_")
        key = name if name and suffix in DIM_LABELS else str(column)
        groups.setdefault(key, []).append(str(column))
    for name, cols in groups.items():
        labels = [c.rpartition("_")[2] for c in cols] if len(cols) > 1 else None
        if labels is not None and labels != list(DIM_LABELS[: len(cols)]):
            raise DatasetError(f"vector columns of {name!r} must be {name}_x, {name}_y[, {name}_z] in order; got {cols}")
    return groups


def _with_vector_dims(raw: xr.Dataset) -> xr.Dataset:
    ds = raw.copy()
    allowed = set(VECTOR_DIMS)
    for name, var in ds.data_vars.items():
        extra = set(var.dims) - allowed
        if extra:
            raise DatasetError(f"variable {name!r} has dims {var.dims}; allowed dims are {VECTOR_DIMS}")
    pos_dims = set(ds["pos"].dims)
    if not {"body", "dim"} <= pos_dims:
        raise DatasetError(f"'pos' has dims {ds['pos'].dims}; it needs (sim, time, body, dim), sim and time optional")
    for dim in ("sim", "time"):
        if dim not in ds.dims:
            ds = ds.expand_dims(dim)
    n_dim = ds.sizes["dim"]
    if n_dim not in (2, 3):
        raise DatasetError(f"'dim' has length {n_dim}; only 2D and 3D data are supported")
    ds = ds.assign_coords(dim=list(DIM_LABELS[:n_dim]))
    for name in ("pos", "vel", "acc"):
        if name in ds and set(ds[name].dims) != set(VECTOR_DIMS):
            raise DatasetError(f"{name!r} has dims {ds[name].dims}; it needs {VECTOR_DIMS}")
    order = [d for d in VECTOR_DIMS if d in ds.dims]
    return ds.transpose(*order)


def _check_finite(ds: xr.Dataset) -> None:
    """No NaN/Inf in coordinates, nor in data variables except where a body is absent (presence.py)."""
    for name, var in ds.coords.items():
        if var.dtype.kind in "fc" and not np.isfinite(var.values).all():
            raise DatasetError(f"coordinate {name!r} has {int((~np.isfinite(var.values)).sum())} NaN/Inf value(s)")
    problem = unexplained_nan(ds)
    if problem:
        raise DatasetError(problem)


def _resolve_units(ds: xr.Dataset, table: dict[str, str]) -> dict[str, str]:
    """Units of every data variable (required) and of time (required when it has several steps)."""
    unknown = sorted(set(table) - {str(n) for n in ds.data_vars} - {"time"})
    if unknown:
        raise DatasetError(f"[ingest.units] names {unknown}, which the dataset does not have")
    unit_of = {}
    needs_time = ds.sizes["time"] > 1
    for name in [*map(str, ds.data_vars), "time"]:
        attr = ds[name].attrs.get("units") if name in ds.variables else None
        given = table.get(name)
        if attr is not None and given is not None and _parse(name, attr) != _parse(name, given):
            raise DatasetError(f"{name!r} has units {attr!r} in the file but {given!r} in the config")
        unit = given if given is not None else attr
        if unit is None:
            if name == "time" and not needs_time:
                continue
            raise DatasetError(f"{name!r} has no units; give a pint string in its 'units' attribute "
                               f"or in [ingest.units] (use 'dimensionless' for pure numbers)")
        _parse(name, unit)
        unit_of[name] = str(unit)
    for name, expected in EXPECTED_DIMENSIONS.items():
        if name in unit_of and _parse(name, unit_of[name]).dimensionality != _UNITS.get_dimensionality(expected):
            raise DatasetError(f"{name!r} has units {unit_of[name]!r}, which are not {expected}")
    return unit_of


def _parse(name: str, unit: str) -> pint.Unit:
    try:
        return _UNITS.parse_units(str(unit))
    except Exception:  # pint raises several types (UndefinedUnitError, syntax errors)
        raise DatasetError(f"{name!r} has unknown units {unit!r}; use a pint unit string such as 'm/s**2'") from None


def _derive_acceleration(ds: xr.Dataset, time_unit: str | None) -> xr.Dataset:
    times = ds["time"].values.astype(float)
    if times.size < 3:
        raise DatasetError(f"no 'acc' variable and only {times.size} time step(s); deriving it needs 3 or more")
    if time_unit is None:
        raise DatasetError("deriving 'acc' needs units for 'time'")
    absent = int((~presence(ds)).sum())
    if absent:
        raise DatasetError(f"deriving 'acc' needs every body in every frame, but {absent} (sim, time, body) "
                           f"entries have no position; give 'acc' in the file")
    steps = np.diff(times)
    if steps.min() <= 0 or not np.allclose(steps, steps[0], rtol=1e-9, atol=0):
        raise DatasetError("deriving 'acc' needs strictly increasing, evenly spaced time values; "
                           f"found steps from {steps.min()} to {steps.max()}")
    pos = ds["pos"]
    acc = (pos.shift(time=-1) - 2 * pos + pos.shift(time=1)) / steps[0] ** 2
    return ds.assign(acc=acc).isel(time=slice(1, -1))


def _convert_kinematics(ds, unit_of, length: pint.Unit, time_unit: str | None) -> xr.Dataset:
    """Express vel and acc in the units pos and time imply, and write every unit into attrs."""
    ds = ds.copy()
    implied = {"pos": length}
    if time_unit is not None:
        t = _UNITS.parse_units(time_unit)
        implied.update(vel=length / t, acc=length / t ** 2)
    for name, unit in unit_of.items():
        target = implied.get(name)
        if target is not None and name != "pos":
            factor = _UNITS.Quantity(1.0, _parse(name, unit)).to(target).magnitude
            ds[name] = ds[name] * factor
            unit = str(target)
        ds[name].attrs["units"] = unit
    return ds

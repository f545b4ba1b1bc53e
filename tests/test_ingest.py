"""Ingestion: the user's files come out in the simulator's schema, or fail with a clear message."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import DATA
from symdistill.catalogs import read_dataset_file
from symdistill.components.ingest import DatasetError, dataset_from_long_table, ingest
from symdistill.components.simulate import ForceLaw, simulate

UNITS = {"pos": "m", "vel": "m/s", "acc": "m/s**2", "mass": "kg", "time": "s"}


def simulated(**kwargs) -> xr.Dataset:
    options = dict(n_bodies=3, dim=2, n_sims=2, n_steps=400, dt=1e-3, record_every=10, seed=4)
    options.update(kwargs)
    return simulate(ForceLaw("spring"), **options)


def test_shipped_csv_reads_into_the_schema():
    ds = ingest(read_dataset_file(DATA / "spring_long.csv"), units=UNITS)
    assert ds["pos"].dims == ("sim", "time", "body", "dim")
    assert ds.sizes == {"sim": 2, "time": 5, "body": 3, "dim": 2}
    assert ds["mass"].dims == ("sim", "body")  # constant over time, so stored per body
    assert ds["acc"].attrs["units"] == "meter / second ** 2"
    assert ds.attrs == {"source": "ingest", "target": "acc"}


@pytest.mark.parametrize("fmt, suffix", [("netcdf", ".nc"), ("zarr", ".zarr")])
def test_netcdf_and_zarr_round_trip_a_simulation(tmp_path, fmt, suffix):
    ds = simulated().drop_vars("charge")
    ds = ds.assign_coords(dim=ds["dim"].astype(object))  # variable-length strings have a Zarr 3 spec
    ds.attrs = {}
    path = tmp_path / f"data{suffix}"
    if fmt == "netcdf":
        ds.to_netcdf(path, engine="h5netcdf")
    else:
        ds.to_zarr(path, consolidated=False)
    out = ingest(read_dataset_file(path))
    for name in ("pos", "vel", "acc", "mass"):
        np.testing.assert_allclose(out[name].values, ds[name].values, rtol=1e-12)


def test_acceleration_is_derived_by_central_differences():
    ds = simulated()
    out = ingest(ds.drop_vars("acc"), units={})
    assert out.sizes["time"] == ds.sizes["time"] - 2
    assert "central second difference" in out.attrs["derived"]["acc"]
    truth = ds["acc"].isel(time=slice(1, -1)).values
    error = np.abs(out["acc"].values - truth).max() / np.abs(truth).max()
    assert error < 1e-3


def test_units_are_converted_to_those_pos_and_time_imply():
    ds = simulated()
    ds["acc"] = ds["acc"] * 1000.0
    ds["acc"].attrs["units"] = "mm/s**2"
    out = ingest(ds)
    np.testing.assert_allclose(out["acc"].values, ds["acc"].values / 1000.0)


def test_static_point_catalog_with_a_scalar_target():
    rng = np.random.default_rng(0)
    catalog = xr.Dataset({
        "pos": (("sim", "body", "dim"), rng.normal(size=(1, 50, 3)), {"units": "Mpc"}),
        "mass": (("sim", "body"), rng.uniform(1, 2, size=(1, 50)), {"units": "kg"}),
        "overdensity": (("sim", "body"), rng.normal(size=(1, 50)), {"units": "dimensionless"}),
    })
    out = ingest(catalog, target="overdensity")
    assert out.sizes == {"sim": 1, "time": 1, "body": 50, "dim": 3}
    assert out.attrs["target"] == "overdensity"


def error_of(raw, **kwargs) -> str:
    with pytest.raises(DatasetError) as err:
        ingest(raw, **kwargs)
    return str(err.value)


def test_nan_is_counted_and_located():
    ds = simulated()
    ds["vel"][1, 3, 2, 0] = np.nan
    ds["vel"][1, 5, 0, 1] = np.inf
    message = error_of(ds)
    assert message == "'vel' has 2 NaN/Inf value(s) where its body is present; first at index sim=1, time=3, body=2, dim=0"


def test_a_body_absent_from_a_frame_is_all_nan_pos_and_nothing_else_may_be_nan():
    ds = simulated()
    ds["pos"][1, 3, 2, :] = np.nan  # body 2 leaves frame (1, 3): its velocity and target there are not used
    ds["vel"][1, 3, 2, :] = np.nan
    ds["acc"][1, 3, 2, :] = np.nan
    out = ingest(ds)
    assert np.isnan(out["pos"].values[1, 3, 2]).all() and np.isfinite(out["pos"].values[1, 4]).all()
    partial = simulated()
    partial["pos"][0, 2, 1, 0] = np.nan
    assert "'pos' is NaN in some but not all components at sim=0, time=2, body=1" in error_of(partial)
    unexplained = ds.copy(deep=True)
    unexplained["vel"][0, 0, 0, 0] = np.nan  # body 0 is in frame (0, 0)
    assert "'vel' has 1 NaN/Inf value(s) where its body is present; first at index sim=0, time=0, body=0" in \
        error_of(unexplained)
    # differencing positions across a frame the body is absent from would be wrong: acc must then be given
    assert "deriving 'acc' needs every body in every frame" in error_of(ds.drop_vars("acc"))


def test_missing_variables():
    ds = simulated()
    assert "missing variable 'pos'" in error_of(ds.drop_vars("pos"))
    assert "missing target variable 'overdensity'" in error_of(ds, target="overdensity")
    one_step = ds.isel(time=slice(0, 2)).drop_vars("acc")
    assert "only 2 time step(s)" in error_of(one_step)


def test_wrong_dims():
    ds = simulated()
    bad = ds.assign(extra=(("sim", "particle"), np.zeros((2, 3))))
    assert "allowed dims are ('sim', 'time', 'body', 'dim')" in error_of(bad)
    four_d = xr.Dataset({"pos": (("body", "dim"), np.zeros((3, 4)), {"units": "m"})})
    assert "only 2D and 3D" in error_of(four_d, target="pos")


def test_unit_problems():
    ds = simulated()
    ds["acc"].attrs["units"] = "m/s"
    assert "'acc' has units 'm/s', which are not [length] / [time] ** 2" in error_of(ds)
    ds = simulated()
    ds["pos"].attrs["units"] = "parsecz"
    assert "'pos' has unknown units 'parsecz'" in error_of(ds)
    ds = simulated()
    del ds["mass"].attrs["units"]
    assert "'mass' has no units" in error_of(ds)
    ds = simulated()
    assert "in the file but 'km' in the config" in error_of(ds, units={"pos": "km"})
    assert "does not have" in error_of(ds, units={"velocity": "m/s"})


def test_uneven_time_steps_cannot_be_differenced():
    ds = simulated().drop_vars("acc")
    times = ds["time"].values.copy()
    times[3] += 1e-4
    ds = ds.assign_coords(time=("time", times, {"units": "s"}))
    assert "evenly spaced" in error_of(ds)


def test_long_table_errors():
    table = pd.read_csv(DATA / "spring_long.csv")
    with pytest.raises(DatasetError, match="repeats the row sim=0, time=0.0, body=1"):
        dataset_from_long_table(pd.concat([table, table.iloc[[1]]]))
    gap = dataset_from_long_table(table.drop(index=4))  # a missing row is a body absent from that frame
    sim, time, body = (table.loc[4, c] for c in ("sim", "time", "body"))
    assert np.isnan(gap["pos"].sel(sim=sim, time=time, body=body).values).all()
    assert int(np.isnan(gap["pos"].values).any(axis=-1).sum()) == 1
    assert gap["mass"].dims == ("sim", "body")  # a constant property stays one, whatever frame lacks the body
    with pytest.raises(DatasetError, match="lacks column"):
        dataset_from_long_table(table.drop(columns="body"))
    with pytest.raises(DatasetError, match="pos_x, pos_y"):
        dataset_from_long_table(table.rename(columns={"pos_y": "pos_z"}))


def test_unreadable_files(tmp_path):
    with pytest.raises(DatasetError, match="no such data file"):
        read_dataset_file(tmp_path / "none.nc")
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"not a netcdf file")
    with pytest.raises(DatasetError, match="broken.nc: cannot read as netcdf"):
        read_dataset_file(broken)
    odd = tmp_path / "data.parquet"
    odd.write_bytes(b"")
    with pytest.raises(DatasetError, match="cannot tell the format"):
        read_dataset_file(odd)


def test_input_is_not_modified():
    ds = simulated()
    before = ds.copy(deep=True)
    ds["acc"] = ds["acc"] * 1000.0
    ds["acc"].attrs["units"] = "mm/s**2"
    snapshot = ds.copy(deep=True)
    ingest(ds)
    xr.testing.assert_identical(ds, snapshot)
    assert not before.identical(ds)

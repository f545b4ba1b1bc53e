"""The artifact store: exact round trips, atomic writes, checksums that catch corruption."""
import numpy as np
import pytest
import xarray as xr

from symdistill.catalogs import ArtifactRef, ArtifactStore, CorruptArtifactError, MissingArtifactError
from symdistill.catalogs.store import TMP_PREFIX


def sample(seed=0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {"pos": (("sim", "body", "dim"), rng.normal(size=(3, 4, 2)), {"units": "m"}),
         "count": (("sim",), np.arange(3))},
        coords={"dim": np.array(["x", "y"]), "sim": np.arange(3)},
        attrs={"force_law": {"name": "spring", "parameters": {"softening": 0.01}}},
    )


REF = ArtifactRef("simulate", "0123abcd")


def test_round_trip_is_exact(tmp_path):
    store = ArtifactStore(tmp_path)
    ds = sample()
    store.write(REF, {"data": ds, "other": sample(1)}, {"stage": "simulate", "key": REF.key})
    out = store.read(REF)
    xr.testing.assert_identical(out["data"].drop_vars("dim"), ds.drop_vars("dim"))
    assert list(out["data"]["dim"].values) == ["x", "y"]
    assert out["data"].attrs["force_law"]["parameters"]["softening"] == 0.01
    assert store.provenance(REF) == {"stage": "simulate", "key": REF.key}


def test_missing_artifact(tmp_path):
    store = ArtifactStore(tmp_path)
    assert not store.is_complete(REF)
    with pytest.raises(MissingArtifactError, match="no complete artifact simulate/0123abcd"):
        store.read(REF)


def test_a_crash_mid_write_leaves_nothing_complete(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    calls = []

    def crash_on_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-write")
        return original(self, *args, **kwargs)

    original = xr.Dataset.to_zarr
    monkeypatch.setattr(xr.Dataset, "to_zarr", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        store.write(REF, {"a": sample(), "b": sample(1)}, {})
    assert not store.is_complete(REF)
    assert not list((tmp_path / "simulate").glob(f"{TMP_PREFIX}*"))
    assert store.artifacts("simulate") == []


def test_leftovers_of_a_killed_process_are_cleaned(tmp_path):
    store = ArtifactStore(tmp_path)
    leftover = tmp_path / "simulate" / f"{TMP_PREFIX}0123abcd-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {"complete": true}}')
    assert not store.is_complete(REF)  # a temporary group is never the artifact
    assert store.clean_incomplete() == [leftover]
    assert not leftover.exists()


@pytest.mark.parametrize("variable", ["pos", "count"])
def test_a_flipped_byte_is_detected(tmp_path, variable):
    store = ArtifactStore(tmp_path)
    store.write(REF, {"data": sample()}, {})
    chunk = next(p for p in (store.path(REF) / "data" / variable / "c").rglob("*") if p.is_file())
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunk.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError, match=f"simulate/0123abcd/data"):
        store.read(REF)


def test_a_deleted_chunk_is_detected(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write(REF, {"data": sample()}, {})
    next(p for p in (store.path(REF) / "data" / "pos" / "c").rglob("*") if p.is_file()).unlink()
    with pytest.raises(CorruptArtifactError, match="checksum mismatch in pos"):
        store.read(REF)


def test_broken_metadata_is_reported_as_corrupt(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write(REF, {"data": sample()}, {})
    (store.path(REF) / "zarr.json").write_text("{not json")
    with pytest.raises(CorruptArtifactError, match="unreadable group metadata"):
        store.is_complete(REF)


def test_rewrite_replaces_and_lists_in_time_order(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write(ArtifactRef("simulate", "aaaa"), {"data": sample()}, {"key": "aaaa", "finished": "2026-01-02"})
    store.write(ArtifactRef("simulate", "bbbb"), {"data": sample()}, {"key": "bbbb", "finished": "2026-01-01"})
    store.write(ArtifactRef("simulate", "aaaa"), {"data": sample(5)}, {"key": "aaaa", "finished": "2026-01-03"})
    assert [p["key"] for p in store.artifacts("simulate")] == ["bbbb", "aaaa"]
    np.testing.assert_array_equal(store.read(ArtifactRef("simulate", "aaaa"))["data"]["pos"], sample(5)["pos"])


def test_content_is_the_same_for_the_same_arrays_and_attributes_under_any_key(tmp_path):
    store = ArtifactStore(tmp_path / "s.zarr")
    data = xr.Dataset({"x": ("i", np.arange(4.0))}, attrs={"programs": "[1, 2]"})
    first = store.write(ArtifactRef("search", "a" * 16), {"front": data}, {"note": "run 1"})
    second = store.write(ArtifactRef("search", "b" * 16), {"front": data.copy()}, {"note": "run 2"})
    assert store.content(first) == store.content(second)  # provenance differs, content does not
    changed_attrs = store.write(ArtifactRef("search", "c" * 16), {"front": data.assign_attrs(programs="[1, 3]")}, {})
    changed_values = store.write(ArtifactRef("search", "d" * 16), {"front": data + 1}, {})
    assert len({store.content(first), store.content(changed_attrs), store.content(changed_values)}) == 3

"""Artifact keys change exactly when a stage's config, inputs or code change."""
from symdistill.catalogs import artifact_key, file_digest


def test_key_depends_on_every_part():
    base = artifact_key("simulate", {"n": 4, "units": {"length": "m"}}, {}, "code1")
    assert base == artifact_key("simulate", {"units": {"length": "m"}, "n": 4}, {}, "code1")  # order-free
    assert base != artifact_key("simulate", {"n": 5, "units": {"length": "m"}}, {}, "code1")
    assert base != artifact_key("simulate", {"n": 4, "units": {"length": "km"}}, {}, "code1")
    assert base != artifact_key("simulate", {"n": 4, "units": {"length": "m"}}, {}, "code2")
    assert base != artifact_key("ingest", {"n": 4, "units": {"length": "m"}}, {}, "code1")
    downstream = artifact_key("train", {}, {"simulate": base}, "c")
    assert downstream != artifact_key("train", {}, {"simulate": "other"}, "c")


def test_file_digest_follows_content(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    first = file_digest(path)
    path.write_text("a,b\n1,3\n")
    assert file_digest(path) != first
    folder = tmp_path / "store.zarr"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "0").write_bytes(b"\x00\x01")
    before = file_digest(folder)
    (folder / "x" / "0").write_bytes(b"\x00\x02")
    assert file_digest(folder) != before

"""The equation catalog (SQLite) and hand-off bundles, including hostile bundles of every kind we know."""
import io
import json
import multiprocessing
import zipfile

import numpy as np
import xarray as xr
import pytest

from symdistill.catalogs.bundles import BundleError, read_bundle, write_bundle
from symdistill.catalogs.entries import moved_at_refit
from symdistill.catalogs.equations import CatalogError, EquationCatalog, content_id, diff_entries
from symdistill.catalogs.programs import composition_arrays, composition_from_arrays, render
from symdistill.catalogs.provenance import prov_json
from symdistill.components.compose import numpy_model
from symdistill.components.simulate import ForceLaw, simulate
from symdistill.components.train_surrogate import build_graphs
from test_compose import UNITS, spring_composition


def make_entry(run_key="0123456789abcdef", function="model", k=-2.0):
    composition = spring_composition(k=k)
    program = composition_arrays(composition)
    expression, latex = render(program, "composed")
    lineage = [{"stage": "simulate", "key": "a" * 16, "config": {"n_sims": 2}, "inputs": {}, "code_version": "c1",
                "host": "h", "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:00:01", "duration_s": 1.0},
               {"stage": "validate_ood", "key": run_key, "config": {}, "inputs": {"simulate": "a" * 16},
                "code_version": "c2", "host": "h", "started": "2026-01-01T00:00:02",
                "finished": "2026-01-01T00:00:03", "duration_s": 1.0}]
    entry = {"run_key": run_key, "experiment": "spring", "function": function,
            "kind": "composed", "program": program, "expression": expression, "latex": latex,
            "units": {"dx": "m"}, "metrics": {"errors": {"symbolic": {"out_of_distribution": {"relative_mae": 1e-8}}}},
            "lineage": lineage, "config": {"experiment": {"name": "spring"}}, "versions": {"packages": {}},
            "created": "2026-01-01T00:00:03", "status": "candidate"}
    return {**entry, "id": content_id(entry)}


def test_an_entry_id_is_the_hash_of_its_content_and_not_of_its_review_state(tmp_path):
    entry = make_entry()
    assert content_id({**entry, "status": "accepted", "tags": ["x"], "created": "2030-01-01"}) == entry["id"]
    assert content_id(make_entry(k=-2.0000000001)) != entry["id"]  # a constant in the last digits
    assert content_id({**entry, "metrics": {"complexity": 1}}) != entry["id"]
    assert content_id({**entry, "units": {"dx": "km"}}) != entry["id"]
    lineage = [{**entry["lineage"][0], "key": "b" * 16}, entry["lineage"][1]]
    assert content_id({**entry, "lineage": lineage}) != entry["id"]
    with pytest.raises(CatalogError, match="not the hash of the entry's content"):
        EquationCatalog(tmp_path / "c.sqlite").add([{**entry, "metrics": {"complexity": 1}}])


def test_catalog_add_is_idempotent_and_keeps_status_and_tags(tmp_path):
    catalog = EquationCatalog(tmp_path / "c.sqlite")
    entry = make_entry()
    assert catalog.add([entry]) == [entry["id"]]
    catalog.tag(entry["id"][:6], "paper")
    catalog.set_status(entry["id"], "accepted")
    assert catalog.add([entry]) == []  # the same run registered again after a crash
    stored = catalog.get(entry["id"])
    assert stored["status"] == "accepted" and stored["tags"] == ["paper"]
    assert stored["program"] == entry["program"] and stored["lineage"] == entry["lineage"]
    with pytest.raises(CatalogError, match="status 'maybe' is not one of candidate, accepted, rejected"):
        catalog.set_status(entry["id"], "maybe")
    with pytest.raises(CatalogError, match="no catalog entry"):
        catalog.get("ffff")


def test_catalog_list_filters_and_diff_names_the_changed_constant(tmp_path):
    catalog = EquationCatalog(tmp_path / "c.sqlite")
    a, b = make_entry("1" * 16), make_entry("2" * 16, k=-2.5)
    b["experiment"] = "other"
    b["id"] = content_id(b)
    catalog.add([a, b])
    assert [e["id"] for e in catalog.entries("other")] == [b["id"]]
    assert len(catalog.entries()) == 2
    changed = {field for field, _, _ in diff_entries(catalog.get(a["id"]), catalog.get(b["id"]))}
    assert "experiment" in changed and any(f.startswith("program.functions.edge_message0") for f in changed)


def _write_many(path, worker, count):
    catalog = EquationCatalog(path)
    for n in range(count):
        catalog.add([make_entry(f"{worker:08x}{n:08x}")])


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "c.sqlite"
    EquationCatalog(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, w, 25)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert len(EquationCatalog(path).entries()) == 50


def test_prov_json_links_every_stage_to_its_inputs():
    doc = prov_json(make_entry())
    assert "sd:artifact/validate_ood/0123456789abcdef" in doc["entity"]
    used = [u["prov:entity"] for u in doc["used"].values()]
    assert used == ["sd:artifact/simulate/" + "a" * 16]
    assert {"prov:startTime", "prov:endTime"} <= set(next(iter(doc["activity"].values())))


@pytest.fixture(scope="module")
def spring_graphs():
    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=3, n_steps=50, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=2, units=UNITS)
    return build_graphs(data, dtype=np.float64)


def test_bundle_round_trip_evaluates_identically(tmp_path, spring_graphs):
    source, target = EquationCatalog(tmp_path / "a.sqlite"), EquationCatalog(tmp_path / "b.sqlite")
    entry = make_entry()
    source.add([entry], tags={entry["id"]: ["shared"]})
    bundle = write_bundle(source.get(entry["id"]), tmp_path / "e.zip")
    imported = read_bundle(bundle)
    target.insert_new({k: v for k, v in imported.items() if k != "tags"}, imported["tags"])
    copy = target.get(entry["id"])
    assert copy["tags"] == ["shared"] and copy["expression"] == entry["expression"]
    original = numpy_model(composition_from_arrays(entry["program"])[0])(spring_graphs)
    again = numpy_model(composition_from_arrays(copy["program"])[0])(spring_graphs)
    np.testing.assert_array_equal(original, again)
    np.testing.assert_allclose(again, spring_graphs.target, rtol=1e-9, atol=1e-9)
    with pytest.raises(CatalogError, match="already in"):
        target.insert_new({k: v for k, v in imported.items() if k != "tags"}, [])


def _rewrite(bundle, path, change=None, extra=None):
    """A copy of ``bundle`` with members changed (name -> bytes, or None to drop) and extra raw members."""
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name, data in (change or {}).items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info, data in extra or []:
            archive.writestr(info, data)
    return path


def _resign(members_of, bundle):
    """Recompute the manifest so only the content check we aim at can fail."""
    import hashlib
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name != "manifest.json"}
    members.update(members_of)
    manifest = {"format": "symdistill-bundle", "version": 1,
                "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}}
    return {**members, "manifest.json": json.dumps(manifest).encode()}


def _entry_json(bundle):
    with zipfile.ZipFile(bundle) as archive:
        return json.loads(archive.read("entry.json"))


def _deflated(name):
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _symlink(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info, b"/etc/passwd"


def _with_operator(entry, name):
    """entry.json with the first operator of edge_message0 replaced by ``name`` (arrays keep their length)."""
    functions = json.loads(json.dumps(entry["program"]["functions"]))
    operators = functions["edge_message0"]["operators"]
    operators[next(i for i, op in enumerate(operators) if op not in ("var", "const"))] = name
    return json.dumps({**entry, "program": {**entry["program"], "functions": functions}}).encode()


def _npy(values):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _altered_constant(bundle):
    """values.npy of edge_message0 with its first nonzero constant doubled, as a forger would do it."""
    with zipfile.ZipFile(bundle) as archive:
        values = np.load(io.BytesIO(archive.read("arrays/edge_message0/values.npy")))
    values[np.flatnonzero(values)[0]] *= 2
    return _npy(values)


def _object_npy():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


HOSTILE = {
    "path traversal": (lambda b, e: {"extra": [(zipfile.ZipInfo("../evil.json"), b"{}")]}, "unsafe path"),
    "absolute path": (lambda b, e: {"extra": [(zipfile.ZipInfo("/tmp/evil.json"), b"{}")]}, "unsafe path"),
    "symlink": (lambda b, e: {"extra": [_symlink("link.json")]}, "a symlink"),
    "deep member path": (lambda b, e: {"extra": [(zipfile.ZipInfo("a/b/c/d/e/f.json"), b"{}")]}, "nested 6 deep"),
    "zip bomb": (lambda b, e: {"extra": [(_deflated("pad.bin"), bytes(8 << 20))]}, "zip bomb"),
    "unlisted member": (lambda b, e: {"extra": [(zipfile.ZipInfo("notes.txt"), b"hi")]}, "unlisted"),
    "altered array": (lambda b, e: {"change": {"arrays/edge_message0/values.npy": _object_npy()}}, "checksum"),
    "pickled array": (lambda b, e: {"change": _resign({"arrays/edge_message0/values.npy": _object_npy()}, b)},
                      "not a plain .npy array"),
    "unknown operator": (lambda b, e: {"change": _resign({"entry.json": _with_operator(e, "os.system")}, b)},
                         "os.system"),
    "deeply nested json": (lambda b, e: {"change": _resign({"entry.json": json.dumps(
        {**e, "metrics": json.loads("[" * 200 + "]" * 200)}).encode()}, b)}, "nested deeper"),
    "json recursion bomb": (lambda b, e: {"change": _resign({"entry.json": json.dumps({**e, "metrics": "@"}).replace(
        '"@"', "[" * 5000 + "]" * 5000).encode()}, b)}, "nested deeper"),
    "bad schema": (lambda b, e: {"change": _resign({"entry.json": json.dumps({**e, "status": "evil"}).encode()}, b)},
                   "'status' must be one of"),
    "bad lineage": (lambda b, e: {"change": _resign({"entry.json": json.dumps({**e, "lineage": [{"x": 1}]}).encode()},
                                                    b)}, "'lineage' must be"),
    "missing manifest": (lambda b, e: {"change": {"manifest.json": None}}, "no manifest.json"),
    "constant altered and re-hashed": (lambda b, e: {"change": _resign(
        {"arrays/edge_message0/values.npy": _altered_constant(b)}, b)}, "does not match its id"),
    "metric altered and re-hashed": (lambda b, e: {"change": _resign({"entry.json": json.dumps(
        {**e, "metrics": {**e["metrics"], "complexity": 3}}).encode()}, b)}, "does not match its id"),
    "unit name not an identifier": (lambda b, e: {"change": _resign({"entry.json": json.dumps(
        {**e, "units": {"../dx": "m"}}).encode()}, b)}, "unit name '../dx' is not an identifier"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_bundle_is_refused_and_the_catalog_is_unchanged(tmp_path, kind):
    source = EquationCatalog(tmp_path / "a.sqlite")
    entry = make_entry()
    source.add([entry])
    good = write_bundle(source.get(entry["id"]), tmp_path / "good.zip")
    build, message = HOSTILE[kind]
    bad = _rewrite(good, tmp_path / "bad.zip", **build(good, _entry_json(good)))
    target_path = tmp_path / "b.sqlite"
    EquationCatalog(target_path)
    before = target_path.read_bytes()
    with pytest.raises(BundleError, match=message):
        read_bundle(bad)
    from symdistill.flows.cli import main
    assert main(["catalog", "import", str(bad), "--catalog", str(target_path)]) == 2
    assert EquationCatalog(target_path).entries() == [] and target_path.read_bytes() == before


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(BundleError, match="not a zip bundle"):
        read_bundle(fake)


def test_oversized_members_and_bundles_are_refused(tmp_path, monkeypatch):
    from symdistill.catalogs import bundles

    source = EquationCatalog(tmp_path / "a.sqlite")
    entry = make_entry()
    source.add([entry])
    good = write_bundle(source.get(entry["id"]), tmp_path / "good.zip")
    big = _rewrite(good, tmp_path / "big.zip", extra=[(zipfile.ZipInfo("big.bin"), np.random.default_rng(0).bytes(5000))])
    monkeypatch.setattr(bundles, "MAX_MEMBER_BYTES", 4000)
    with pytest.raises(BundleError, match="big.bin.*5000 bytes; at most 4000"):
        read_bundle(big)
    monkeypatch.setattr(bundles, "MAX_BUNDLE_BYTES", 1000)
    with pytest.raises(BundleError, match="a bundle may have at most 1000"):
        read_bundle(good)


def test_catalog_commands_name_a_missing_catalog_or_entry(tmp_path, capsys):
    from symdistill.flows.cli import main

    assert main(["catalog", "list", "--catalog", str(tmp_path / "none.sqlite")]) == 2
    assert "no catalog at" in capsys.readouterr().err
    EquationCatalog(tmp_path / "c.sqlite").add([make_entry()])
    assert main(["catalog", "show", "beef", "--catalog", str(tmp_path / "c.sqlite")]) == 2
    assert "no catalog entry 'beef'" in capsys.readouterr().err
    assert main(["provenance", make_entry()["id"][:5], "--catalog", str(tmp_path / "c.sqlite")]) == 0
    assert "validate_ood" in capsys.readouterr().out


def test_feature_units_follow_the_data():
    from symdistill.components.train_surrogate import feature_units

    data = simulate(ForceLaw("spring"), n_bodies=3, dim=2, n_sims=1, n_steps=10, dt=0.01, record_every=10,
                    integrator="leapfrog", seed=2, units=UNITS)
    units = feature_units(data, ["dx", "r", "dvx", "vx_i", "mass_j", "charge", "acc_x", "sum_message0", "latent0_i"])
    assert units == {"dx": "m", "r": "m", "dvx": "m/s", "vx_i": "m/s", "mass_j": "kg", "charge": "C",
                     "acc_x": "m/s**2", "sum_message0": None, "latent0_i": None}


def test_a_catalog_from_before_the_failed_validation_status_migrates_with_its_entries_and_tags(tmp_path):
    import sqlite3
    from symdistill.catalogs import equations
    path = tmp_path / "old.sqlite"
    old_schema = equations._SCHEMA.replace(", 'failed_validation'", "")
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
    new = make_entry()
    old = {**new, "id": "0f" * 8}  # ids were hashes of run key and function, not of the content
    with sqlite3.connect(path) as db:  # written as the old code wrote it
        db.execute(f"INSERT INTO entries VALUES ({', '.join('?' * len(equations.ENTRY_FIELDS))})",
                   (old["id"], *equations._to_row(new)[1:]))
        db.execute("INSERT INTO tags VALUES (?, ?)", (old["id"], "kept"))
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE entries SET status = 'failed_validation'")
    catalog = EquationCatalog(path)
    with pytest.raises(CatalogError, match="no catalog entry"):
        catalog.get(old["id"])
    old = new  # migrated to its content id, tags with it
    entry = catalog.get(old["id"])
    assert entry["tags"] == ["kept"] and entry["expression"] == old["expression"]
    catalog.set_status(old["id"], "failed_validation")
    assert [e["id"] for e in catalog.entries(status="failed_validation")] == [old["id"]]
    assert catalog.get(old["id"])["tags"] == ["kept"]
    EquationCatalog(path)  # opening a migrated catalog again changes nothing
    assert catalog.get(old["id"])["status"] == "failed_validation"


def test_compose_reads_the_networks_outputs_from_capture_and_refuses_other_frames(spring_graphs):
    from symdistill.components.compose_choice import recorded_outputs
    n_graphs, n_bodies, n_out = spring_graphs.target.shape
    outputs = np.arange(n_graphs * n_bodies * n_out, dtype=float).reshape(-1, n_out)
    node = xr.Dataset({"outputs": (("node", "output_component"), outputs)},
                      coords={"sim": ("node", np.repeat(spring_graphs.sim, n_bodies)),
                              "time": ("node", np.repeat(spring_graphs.time, n_bodies)),
                              "body": ("node", np.tile(np.arange(n_bodies), n_graphs))})
    np.testing.assert_array_equal(recorded_outputs(node, spring_graphs), outputs.reshape(n_graphs, n_bodies, n_out))
    shifted = node.assign_coords(time=("node", node["time"].values + 1.0))
    with pytest.raises(ValueError, match="not of the frames compose checks against"):
        recorded_outputs(shifted, spring_graphs)


def test_a_function_refit_moved_from_a_sibling_axis_names_its_origin_instead_of_a_search_loss():
    summary = {"simplification": {"sibling_chains": [
        {"axis": 0, "from_axis": 1, "functions": ["edge_message0", "node_acc_x"]}]}}
    assert moved_at_refit(summary) == {"edge_message0": "axis 1's chain, moved onto axis 0 at refit",
                                       "node_acc_x": "axis 1's chain, moved onto axis 0 at refit"}
    assert moved_at_refit({"simplification": {}}) == {} == moved_at_refit({})  # summaries from before

"""A real run through the command line: its catalog entries, provenance, a bundle round trip, the HTML
report opened in headless Chromium, and a run killed mid-stage that resumes to the same entry."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TINY_SPRING

pytestmark = pytest.mark.slow
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def symdistill(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "symdistill.flows.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = root / "tiny.toml"
    config.write_text(TINY_SPRING.format(n_sims=6))
    done = symdistill("run", config, "--catalog", root / "catalog.sqlite", cwd=root)
    assert done.returncode == 0, done.stderr
    return root, config, done.stdout


def entries_of(root, catalog="catalog.sqlite"):
    listed = symdistill("catalog", "list", "--json", "--catalog", root / catalog, cwd=root)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_a_run_catalogs_its_model_and_every_function_with_lineage(finished_run):
    root, _, stdout = finished_run
    entries = entries_of(root)
    kinds = sorted((e["kind"], e["function"]) for e in entries)
    assert kinds[0] == ("composed", "model") and all(kind == "function" for kind, _ in kinds[1:])
    assert {"node_acc_x", "node_acc_y"} <= {function for _, function in kinds}
    composed = next(e for e in entries if e["kind"] == "composed")
    # the tiny run's equation is no better than its network: catalogued, but never as a candidate discovery
    assert composed["id"] in stdout and composed["status"] == "failed_validation"
    assert stdout.rstrip().splitlines()[-1].startswith("NOT A DISCOVERY: the equation's relative MAE")
    assert all(e["status"] == "failed_validation" for e in entries)
    assert composed["metrics"]["verdict"]["status"] == "failed_validation"
    assert {"gnn", "symbolic"} <= set(composed["metrics"]["errors"])
    # the printed law's own training error, as the run printed it
    law_error = composed["metrics"]["relative_mae_of_law_on_training"]
    assert f"{law_error:.4g} for the law as printed" in stdout

    text = symdistill("provenance", composed["id"][:8], "--catalog", root / "catalog.sqlite", cwd=root)
    assert text.returncode == 0, text.stderr
    for stage in ("simulate", "split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood"):
        assert stage in text.stdout
    prov = json.loads(symdistill("provenance", composed["id"], "--format", "prov-json",
                                 "--catalog", root / "catalog.sqlite", cwd=root).stdout)
    artifacts = [e for e in prov["entity"].values() if e.get("prov:type") == "sd:Artifact"]
    assert len(artifacts) == 8 and len(prov["used"]) >= 7
    assert f"sd:equation/{composed['id']}" in prov["entity"]


def test_status_tag_export_and_import_into_a_second_catalog(finished_run):
    root, _, _ = finished_run
    composed = next(e for e in entries_of(root) if e["kind"] == "composed")
    catalog = ("--catalog", root / "catalog.sqlite")
    assert symdistill("catalog", "accept", composed["id"], *catalog, cwd=root).returncode == 0
    assert symdistill("catalog", "tag", composed["id"], "reviewed", *catalog, cwd=root).returncode == 0
    exported = symdistill("catalog", "export", composed["id"], "-o", root / "model.zip", *catalog, cwd=root)
    assert exported.returncode == 0, exported.stderr
    imported = symdistill("catalog", "import", root / "model.zip", "--catalog", root / "second.sqlite", cwd=root)
    assert imported.returncode == 0, imported.stderr
    again = symdistill("catalog", "import", root / "model.zip", "--catalog", root / "second.sqlite", cwd=root)
    assert again.returncode == 2 and "already in" in again.stderr
    original = json.loads(symdistill("catalog", "show", composed["id"], "--json", *catalog, cwd=root).stdout)
    copy = json.loads(symdistill("catalog", "show", composed["id"], "--json", "--catalog", root / "second.sqlite",
                                 cwd=root).stdout)
    assert copy["status"] == "accepted" and copy["tags"] == ["reviewed"]
    for field in ("program", "expression", "latex", "metrics", "lineage", "config"):
        assert copy[field] == original[field], field
    diff = symdistill("catalog", "diff", composed["id"], next(e for e in entries_of(root) if e["kind"] == "function")["id"],
                      *catalog, cwd=root)
    assert diff.returncode == 0 and "kind" in diff.stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium from the OS packages (dev.py installs it)")
def test_the_report_opens_in_headless_chromium_with_every_figure(finished_run):
    root, config, stdout = finished_run
    rebuilt = symdistill("report", config, "--catalog", root / "catalog.sqlite", "-o", root / "report.html", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    page = (root / "report.html").read_text()
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # works offline
    assert "Pareto fronts" in page and "validate_ood" in page
    browser = ("chromium", *CHROMIUM_FLAGS, f"--user-data-dir={root / 'chromium'}")
    dom = subprocess.run([*browser, "--dump-dom", (root / "report.html").as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    loaded, total = map(int, dom.split('data-figures="')[1].split('"')[0].split("/"))
    assert loaded == total >= 6  # training curves, sparsity, message-force, Pareto, equation, OOD
    shot = root / "report.png"
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1200,1600", (root / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200) and pixels.std() > 0.05  # a page with content, not a blank


def test_a_run_killed_mid_stage_resumes_and_gives_the_same_catalog_entry(finished_run, tmp_path):
    reference_root, _, _ = finished_run
    reference = {e["function"]: e for e in entries_of(reference_root)}
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_SPRING.format(n_sims=6))
    command = [sys.executable, "-m", "symdistill.flows.cli", "run", str(config), "--catalog",
               str(tmp_path / "catalog.sqlite")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    capture_dir = tmp_path / "symdistill.zarr" / "capture"
    deadline = time.time() + 240
    while time.time() < deadline and not (capture_dir.is_dir() and any(capture_dir.glob("*/zarr.json"))):
        time.sleep(0.1)  # kill as the capture completes: the search has not finished, the catalog is empty
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "catalog.sqlite").exists() or entries_of(tmp_path) == []
    resumed = symdistill("run", config, "--catalog", tmp_path / "catalog.sqlite", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "train_surrogate: cached" in resumed.stdout and "validate_ood: computed" in resumed.stdout
    again = {e["function"]: e for e in entries_of(tmp_path)}
    assert again.keys() == reference.keys()
    for function, entry in again.items():
        assert entry["id"] == reference[function]["id"]
        assert entry["expression"] == reference[function]["expression"]
        np.testing.assert_equal(entry["metrics"], reference[function]["metrics"])


def test_a_fully_cached_rerun_answers_the_same_without_starting_prefect(finished_run):
    root, config, first = finished_run
    again = symdistill("run", config, "--catalog", root / "catalog.sqlite", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "nothing to compute: Prefect was not started" in again.stdout
    assert "0 stage(s) computed, 8 cached" in again.stdout

    def answer(stdout):  # the model, its errors, the catalog entries, the report and the verdict
        lines = stdout[stdout.index("discovered model:"):].splitlines()
        return [line for line in lines if "stage(s) computed" not in line]
    assert answer(again.stdout) == answer(first)


def test_a_change_that_leaves_the_fronts_unchanged_reruns_search_and_stops_there(finished_run, tmp_path):
    root, config, _ = finished_run
    run = tmp_path / "run"
    shutil.copytree(root / "symdistill.zarr", run / "symdistill.zarr", ignore=shutil.ignore_patterns(".prefect"))
    shutil.copy(root / "catalog.sqlite", run / "catalog.sqlite")
    # the tiny run captures fewer rows than either limit, so the search sees the same data
    (run / "tiny.toml").write_text(config.read_text().replace("max_rows = 200", "max_rows = 300"))
    status = json.loads(symdistill("status", run / "tiny.toml", "--json", cwd=run).stdout)["stages"]
    by_stage = {record["stage"]: record for record in status}
    assert by_stage["search"]["state"] == "stale"
    assert [r["field"] for r in by_stage["search"]["reasons"]] == ["search.max_rows"]
    assert by_stage["compose"]["waiting_on"] == ["search"] and by_stage["capture"]["state"] == "complete"
    again = symdistill("run", run / "tiny.toml", "--catalog", run / "catalog.sqlite", cwd=run)
    assert again.returncode == 0, again.stderr
    assert "search: computed" in again.stdout
    for stage in ("compose", "refit", "validate_ood"):
        assert f"{stage}: cached" in again.stdout, again.stdout

"""Stage code versions are derived from the import closure: every edit inside it, and only those, go stale."""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from symdistill.catalogs import code_closure
from symdistill.config import load_experiment
from symdistill.tasks.plan import build_plan
from symdistill.tasks.status import describe, explain_change

LAYERS = ("flows", "tasks", "components", "catalogs", "config")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A copy of symdistill's source that the test may edit."""
    root = tmp_path_factory.mktemp("src")
    for layer in LAYERS:
        shutil.copytree(code_closure.SOURCE_ROOT / layer, root / layer,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return root


def _provenance(spec):
    return {"config": spec.config, "inputs": spec.inputs, "code_version": spec.code, "code_manifest": spec.code_manifest}


@pytest.mark.parametrize("config_name", ["spring2d.toml", "spring2d_measured.toml"])
def test_every_edit_in_a_closure_and_only_those_make_stages_stale(source, config_name):
    config = REPO / "config" / config_name
    experiment = load_experiment(config)
    base = build_plan(experiment, config.parent, source)
    stages = list(base)
    in_and_out = {stage: [0, 0] for stage in stages}
    for path in sorted(source.rglob("*.py")):
        module = str(path.relative_to(source))
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        try:
            plan = build_plan(experiment, config.parent, source)
        finally:
            path.write_bytes(original)
        upstream_changed = False
        for stage in stages:
            in_closure = module in base[stage].code_manifest["modules"]
            in_and_out[stage][0 if in_closure else 1] += 1
            changed = plan[stage].key != base[stage].key
            assert changed == (in_closure or upstream_changed), (stage, module)
            if in_closure:  # status names the module
                reasons = [describe(r) for r in explain_change(_provenance(base[stage]), plan[stage])]
                assert f"code {module}: edited" in reasons, (stage, reasons)
            upstream_changed = upstream_changed or changed
    # Every stage has modules on both sides, so the matrix tests something for each.
    assert all(inside > 0 and outside > 0 for inside, outside in in_and_out.values()), in_and_out


def test_closures_hold_what_the_hand_kept_lists_missed():
    def modules(stage):
        return code_closure.stage_code_version(stage).modules
    assert "tasks/surrogate_io.py" in modules("train_surrogate")
    assert {"components/ood.py", "components/split.py"} <= set(modules("split"))  # the OOD rule acts in the split
    assert "components/ood.py" not in modules("train_surrogate")  # training sees only the split's masks
    assert {"catalogs/fronts.py", "components/compose.py"} <= set(modules("validate_ood"))  # reads the refit model
    assert "components/simulate/forces.py" in modules("capture")
    assert "catalogs/datasets.py" in modules("ingest")  # how the file is read is part of what ingest makes
    assert "catalogs/fronts.py" in modules("search")
    assert not any(m.startswith(("flows/", "config/")) or m == "tasks/context.py" for m in modules("refit"))
    assert "components/sr/evaluate.py" not in modules("simulate")


def test_a_package_upgrade_makes_the_stages_that_import_it_stale(monkeypatch):
    config = REPO / "config" / "spring2d.toml"
    experiment = load_experiment(config)
    base = build_plan(experiment, config.parent)
    real = code_closure.distribution_versions

    def upgraded(modules):
        versions = real(modules)
        return {**versions, "torch": "9.9.9"} if "torch" in versions else versions
    monkeypatch.setattr(code_closure, "distribution_versions", upgraded)
    plan = build_plan(experiment, config.parent)
    for stage in ("simulate", "split"):  # neither imports torch
        assert plan[stage].key == base[stage].key
    for stage in ("train_surrogate", "capture", "search", "compose", "refit", "validate_ood"):
        assert plan[stage].key != base[stage].key
    reasons = [describe(r) for r in explain_change(_provenance(base["train_surrogate"]), plan["train_surrogate"])]
    assert any(r.startswith("package torch:") and "9.9.9" in r for r in reasons), reasons


def test_computing_code_versions_imports_no_heavy_package():
    script = ("import sys\nfrom symdistill.catalogs.code_closure import stage_code_version\n"
              "for stage in ('train_surrogate', 'search', 'validate_ood'):\n    stage_code_version(stage)\n"
              "heavy = sorted({'torch', 'prefect', 'numba', 'zarr', 'sympy'} & set(sys.modules))\n"
              "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", script], check=True)

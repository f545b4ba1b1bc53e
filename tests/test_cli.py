"""The command line as a user runs it: a real Prefect flow in a subprocess, cached reruns, status, show."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import DATA

pytestmark = pytest.mark.slow


def symdistill(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "symdistill.flows.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_run_rerun_status_and_show(tiny_config, tmp_path):
    config = tiny_config(5)
    user_env = {k: v for k, v in os.environ.items() if k != "PREFECT_HOME"}  # as a user runs it
    first = symdistill("run", config, "--until", "simulate", cwd=tmp_path, env=user_env)
    assert first.returncode == 0, first.stderr
    assert "1 stage(s) computed, 0 cached" in first.stdout
    assert (tmp_path / "symdistill.zarr" / ".prefect").is_dir()  # Prefect's home beside the store

    second = symdistill("run", config, "--until", "simulate", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 stage(s) computed, 1 cached" in second.stdout
    assert "simulate: cached" in second.stdout
    assert "nothing to compute: Prefect was not started" in second.stdout
    forced = symdistill("run", config, "--until", "simulate", "--from", "simulate", cwd=tmp_path)
    assert "1 stage(s) computed, 0 cached" in forced.stdout and "Prefect was not started" not in forced.stdout

    status = json.loads(symdistill("status", config, "--json", cwd=tmp_path).stdout)
    record, *downstream = status["stages"]
    assert record["stage"] == "simulate" and record["state"] == "complete"
    assert [(r["stage"], r["state"]) for r in downstream] == [
        (stage, "missing") for stage in ("split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")]

    shown = json.loads(symdistill("show", "simulate", record["key"], "--json", cwd=tmp_path).stdout)
    assert shown["provenance"]["config"]["n_sims"] == 5
    assert shown["figures"]["max_relative_momentum_drift"] < 1e-10
    assert shown["contents"]["data"]["variables"]["pos"]["dims"] == ["sim", "time", "body", "dim"]

    tiny_config(8)  # edit the experiment in place
    stale = json.loads(symdistill("status", config, "--json", cwd=tmp_path).stdout)["stages"][0]
    assert stale["state"] == "stale" and stale["reasons"][0]["field"] == "simulate.n_sims"


def test_ingest_example_runs_end_to_end(tmp_path):
    for name in ("spring_long.csv", "spring_long.toml"):
        shutil.copy(DATA / name, tmp_path / name)
    result = symdistill("run", tmp_path / "spring_long.toml", "--until", "ingest", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ingest: computed" in result.stdout
    too_small = symdistill("run", tmp_path / "spring_long.toml", cwd=tmp_path)  # 2 simulations cannot be split
    assert too_small.returncode == 2
    assert "[split] needs at least 3 simulations (train, validation, test); the data has 2" in too_small.stderr


def test_run_until_capture_then_show_the_message_force_fit(tiny_config, tmp_path):
    config = tiny_config(8)
    result = symdistill("run", config, "--until", "capture", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 stage(s) computed, 0 cached" in result.stdout
    status = json.loads(symdistill("status", config, "--json", cwd=tmp_path).stdout)
    key = {r["stage"]: r["key"] for r in status["stages"]}["capture"]
    shown = json.loads(symdistill("show", "capture", key, "--json", cwd=tmp_path).stdout)
    r2 = shown["figures"]["message_force_r2"]
    assert len(r2) == 2 and all(-1e-9 <= v <= 1 for v in r2)
    assert shown["contents"]["edge"]["attrs"]["message_force_r2"] == r2
    figures = tmp_path / "symdistill.zarr" / "figures" / "capture" / key
    assert sorted(p.name for p in figures.iterdir()) == ["message_sparsity.png", "message_vs_force.png"]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[experiment]\nname = "x"\n[simulate]\nlaw = "spring"\nn_bodies = 100\n')
    user_env = {k: v for k, v in os.environ.items() if k != "PREFECT_HOME"}
    result = symdistill("run", bad, cwd=tmp_path, env=user_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"symdistill: error: {bad}: simulate.n_bodies = 100: Input should be less than or equal to 64"]
    assert not (tmp_path / "symdistill.zarr").exists()  # nothing written before the config is valid
    missing = symdistill("show", "simulate", "0000", "--store", tmp_path, cwd=tmp_path)
    assert missing.returncode == 2 and "no complete artifact simulate/0000" in missing.stderr

"""Stage caching: what runs, what is skipped, and why a stage is stale (tasks called without the engine)."""
from dataclasses import replace

import pytest
import xarray as xr

import symdistill.tasks.simulate as simulate_task_module
from symdistill.catalogs import ArtifactStore, CorruptArtifactError
from symdistill.tasks.context import open_run, run_stage
from symdistill.tasks.plan import PlanError, StageSpec, input_content
from symdistill.tasks.run import execute
from symdistill.tasks.status import stage_status


@pytest.fixture
def simulate_calls(monkeypatch):
    """Count calls of the simulate component made through the task."""
    calls = []
    real = simulate_task_module.simulate

    def counting(*args, **kwargs):
        calls.append(kwargs["n_sims"])
        return real(*args, **kwargs)

    monkeypatch.setattr(simulate_task_module, "simulate", counting)
    return calls


LATER = ("split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")


def with_probe(ctx, probe_config=None):
    """Replace the later stages by a cheap stage that depends on simulate, to watch keys propagate."""
    plan = {stage: spec for stage, spec in ctx.plan.items() if stage not in LATER}
    plan["probe"] = StageSpec("probe", probe_config or {"threshold": 1},
                              {"simulate": input_content(ctx.plan["simulate"], ctx.store)}, "p1")
    ctx = replace(ctx, plan=plan)
    probe_runs = []

    def run_probe(upstream=None):
        def compute(ref, inputs):
            probe_runs.append(1)
            return {"mean": inputs["simulate"]["data"][["pos"]].mean("sim")}, {"n": 1}
        return run_stage(ctx, "probe", compute, upstream)

    return ctx, run_probe, probe_runs


def run_all(config, store, **kwargs):
    """Both stages as the flow runs them: the probe handed simulate's artifact. Returns (ctx, probe runs,
    stages computed)."""
    ctx, stages = open_run(config, store, log=lambda _: None, **kwargs)
    ctx, run_probe, probe_runs = with_probe(ctx)
    results = {"simulate": execute(ctx, "simulate")}
    results["probe"] = run_probe({"simulate": results["simulate"].ref})
    return ctx, probe_runs, [stage for stage, done in results.items() if done.ran]


def test_second_run_executes_no_component(tiny_config, tmp_path, simulate_calls):
    config, store = tiny_config(), tmp_path / "store"
    _, first_probe, first_ran = run_all(config, store)
    _, second_probe, second_ran = run_all(config, store)
    assert first_ran == ["simulate", "probe"] and simulate_calls == [6]
    assert second_ran == [] and second_probe == []
    assert simulate_calls == [6]


def test_a_changed_simulation_parameter_recomputes_exactly_downstream(tiny_config, tmp_path, simulate_calls):
    store = tmp_path / "store"
    run_all(tiny_config(6), store)
    _, _, ran = run_all(tiny_config(7), store)
    assert ran == ["simulate", "probe"] and simulate_calls == [6, 7]
    ctx, _ = open_run(tiny_config(7), store, log=lambda _: None)
    ctx, run_probe, probe_runs = with_probe(ctx, {"threshold": 2})  # only the downstream config changes
    assert not execute(ctx, "simulate").ran
    assert run_probe().ran and probe_runs == [1] and simulate_calls == [6, 7]


def test_a_crash_mid_write_is_recomputed_next_run(tiny_config, tmp_path, monkeypatch, simulate_calls):
    config, store = tiny_config(), tmp_path / "store"
    original = xr.Dataset.to_zarr

    def write_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(xr.Dataset, "to_zarr", write_then_die)
    ctx, _ = open_run(config, store, log=lambda _: None)
    with pytest.raises(RuntimeError, match="power cut"):
        execute(ctx, "simulate")
    assert not ctx.store.is_complete(ctx.plan["simulate"].ref)
    monkeypatch.setattr(xr.Dataset, "to_zarr", original)
    ctx, _ = open_run(config, store, log=lambda _: None)
    assert execute(ctx, "simulate").ran and simulate_calls == [6, 6]


def test_corruption_is_named_and_repaired(tiny_config, tmp_path, simulate_calls):
    config, store = tiny_config(), tmp_path / "store"
    ctx, _, _ = run_all(config, store)
    ref = ctx.plan["simulate"].ref
    chunk = next(p for p in (ctx.store.path(ref) / "data" / "pos" / "c").rglob("*") if p.is_file())
    raw = bytearray(chunk.read_bytes())
    raw[-3] ^= 0x10
    chunk.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError, match=f"simulate/{ref.key}/data"):
        ArtifactStore(store).read(ref)
    _, probe_runs, ran = run_all(config, store, repair=True)
    assert ran == ["simulate"] and simulate_calls == [6, 6]
    ArtifactStore(store).read(ref)


def test_from_and_until(tiny_config, tmp_path, simulate_calls):
    config, store = tiny_config(), tmp_path / "store"
    run_all(config, store)
    ctx, stages = open_run(config, store, from_stage="simulate", log=lambda _: None)
    assert stages == ["simulate", *LATER]
    assert ctx.forced == set(stages)
    ctx, stages = open_run(config, store, from_stage="simulate", until_stage="simulate", log=lambda _: None)
    assert stages == ["simulate"] and ctx.forced == {"simulate"}
    execute(ctx, "simulate")
    assert simulate_calls == [6, 6]
    with pytest.raises(PlanError, match="stage 'ingest' is not in this experiment; its stages are simulate, "
                                        "split, train_surrogate, capture, search"):
        open_run(config, store, until_stage="ingest")


def test_status_names_what_changed(tiny_config, tmp_path):
    store = tmp_path / "store"
    ctx, _ = open_run(tiny_config(6), store, log=lambda _: None)
    assert stage_status(ctx.plan, ctx.store, "tiny")[0]["state"] == "missing"
    first, _, _ = run_all(tiny_config(6), store)
    first, _, _ = with_probe(open_run(tiny_config(6), store, log=lambda _: None)[0])  # the plan as the store holds it
    assert [r["state"] for r in stage_status(first.plan, first.store, "tiny")] == ["complete", "complete"]
    ctx, _ = open_run(tiny_config(9), store, log=lambda _: None)
    ctx, _, _ = with_probe(ctx)
    simulate_record, probe_record = stage_status(ctx.plan, ctx.store, "tiny")
    assert simulate_record["state"] == probe_record["state"] == "stale"
    assert simulate_record["reasons"] == [{"kind": "config", "field": "simulate.n_sims", "old": 6, "new": 9}]
    # the probe's key waits on the new simulation's content (unchanged content would leave the probe as it is)
    assert probe_record["waiting_on"] == ["simulate"]
    assert probe_record["reasons"] == [{"kind": "waiting", "field": "simulate",
                                        "old": ctx.store.content(first.plan["simulate"].ref), "new": None}]


def test_a_recomputed_stage_with_unchanged_output_leaves_later_stages_alone(tiny_config, tmp_path, simulate_calls):
    config, store = tiny_config(), tmp_path / "store"
    run_all(config, store)
    ctx, _ = open_run(config, store, from_stage="simulate", until_stage="simulate", log=lambda _: None)
    ctx, run_probe, probe_runs = with_probe(ctx)
    simulated = execute(ctx, "simulate")  # forced: recomputed, and the seeded simulation comes out the same
    assert simulated.ran and not run_probe({"simulate": simulated.ref}).ran
    assert simulate_calls == [6, 6] and probe_runs == []

"""What every stage task needs: the plan, the store, and what to force; plus the shared run-a-stage steps."""
from __future__ import annotations

import importlib.metadata
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from symdistill.catalogs import ArtifactRef, ArtifactStore, CorruptArtifactError, MissingArtifactError
from symdistill.catalogs.equations import EquationCatalog
from symdistill.catalogs.equations import catalog_path as resolve_catalog
from symdistill.catalogs.store import checkpoint_ref, export_figures, report_path
from symdistill.config import Experiment, default_store_path, load_experiment
from symdistill.tasks.plan import StageSpec, build_plan, refresh_inputs, select_stages

if TYPE_CHECKING:
    import xarray as xr

PACKAGES = ("symdistill", "numpy", "numba", "xarray", "zarr", "pint", "prefect", "torch", "sympy", "dask")

StageOutput = tuple[dict[str, "xr.Dataset"], dict]  # datasets to store, figures to record


@dataclass(frozen=True)
class RunContext:
    """What a run was asked to do, fixed when it opens; stages report what they did through StageResult.

    ``plan``: every stage's spec as the store stood when the run opened. A stage whose inputs were still to
    be computed then has a provisional key; it gets its real one from the content of the artifacts it is
    handed (``settled_spec``).
    """

    experiment: Experiment
    config_path: Path
    store: ArtifactStore
    plan: Mapping[str, StageSpec]
    forced: frozenset[str] = frozenset()
    repair: bool = False
    log: Callable[[str], None] = print
    scheduler: str | None = None  # an existing Dask scheduler for the search, else a local cluster
    catalog_path: Path = field(default_factory=resolve_catalog)


@dataclass(frozen=True)
class StageResult:
    ref: ArtifactRef
    ran: bool  # computed in this run, rather than found complete in the store


def open_run(config_path: str | Path, store_path: str | Path | None = None, from_stage: str | None = None,
             until_stage: str | None = None, repair: bool = False, log: Callable[[str], None] = print,
             scheduler: str | None = None, catalog: str | Path | None = None):
    """Load and check everything a run needs before any stage starts; return (context, stages to run).

    Raises ConfigError, PlanError or DatasetError (unreadable data) with one clear message.
    """
    config_path = Path(config_path)
    experiment = load_experiment(config_path)
    store = ArtifactStore(store_path if store_path is not None else default_store_path(config_path))
    store.clean_incomplete()
    plan = build_plan(experiment, config_path.parent, store=store)
    stages, forced = select_stages(plan, from_stage, until_stage)
    context = RunContext(experiment, config_path, store, MappingProxyType(plan), frozenset(forced), repair, log=log,
                         scheduler=scheduler, catalog_path=resolve_catalog(catalog))
    return context, stages


def cached_result(ctx: RunContext, stages: list[str]) -> dict | None:
    """The run's result when nothing is left to do (every stage complete and not forced, the run's catalog
    entries and report present), shaped like the discovery flow's; else None. Lets a no-op run skip Prefect."""
    if ctx.forced or ctx.repair or not all(ctx.store.is_complete(ctx.plan[stage].ref) for stage in stages):
        return None
    name = ctx.experiment.experiment.name
    result = {"experiment": name, "store": str(ctx.store.root),
              "stages": {stage: {"key": ctx.plan[stage].key, "ran": False} for stage in stages}}
    if "validate_ood" in stages:
        run_key = ctx.plan["validate_ood"].key
        report = report_path(ctx.store, name, run_key)
        if not ctx.catalog_path.is_file() or not report.is_file():
            return None
        lineage = [(stage, spec.key) for stage, spec in ctx.plan.items()]
        entries = EquationCatalog(ctx.catalog_path).run_entry_ids(run_key, lineage)
        if not entries:
            return None
        result.update(catalog=str(ctx.catalog_path), entries=entries, report=str(report))
    return result


def settled_spec(ctx: RunContext, stage: str, upstream: Mapping[str, ArtifactRef] | None = None):
    """(spec, input refs) of ``stage`` with its key standing on the content of its inputs' artifacts.

    ``upstream``: the input artifacts, as the tasks that made them returned them; None: as the store holds
    them now (the plan's inputs, re-read in stage order).
    """
    if upstream is None:
        current = refresh_inputs(ctx.plan, ctx.store)
        return current[stage], {name: current[name].ref for name in current[stage].inputs}
    spec = ctx.plan[stage]
    if set(upstream) != set(spec.inputs):
        raise ValueError(f"{stage} reads {', '.join(spec.inputs)}; it was handed {', '.join(upstream)}")
    missing = [str(ref) for ref in upstream.values() if not ctx.store.is_complete(ref)]
    if missing:
        raise MissingArtifactError(f"{stage}: its input {', '.join(missing)} is not complete in {ctx.store.root}")
    return replace(spec, inputs={name: ctx.store.content(ref) for name, ref in upstream.items()}), dict(upstream)


def run_stage(ctx: RunContext, stage: str, compute: Callable[[ArtifactRef, dict], StageOutput],
              upstream: Mapping[str, ArtifactRef] | None = None) -> StageResult:
    """Skip ``stage`` if its artifact is complete (and intact under --repair), else compute and write it.

    ``compute(ref, inputs)``: the stage's datasets and summary from its input datasets (``ref``: where the
    output will be written, for a stage that checkpoints).
    """
    spec, input_refs = settled_spec(ctx, stage, upstream)
    if stage not in ctx.forced and ctx.store.is_complete(spec.ref):
        if not ctx.repair:
            ctx.log(f"{stage}: cached ({spec.key})")
            return StageResult(spec.ref, ran=False)
        try:
            ctx.store.verify(spec.ref)
            ctx.log(f"{stage}: cached and verified ({spec.key})")
            return StageResult(spec.ref, ran=False)
        except CorruptArtifactError as err:
            ctx.log(f"{stage}: {err}; recomputing")
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    inputs = {name: ctx.store.read(ref, spec.reads.get(name)) for name, ref in input_refs.items()}
    datasets, figures = compute(spec.ref, inputs)
    provenance = {
        "stage": stage, "key": spec.key, "experiment": ctx.experiment.experiment.name,
        "config_file": str(ctx.config_path), "config": spec.config, "inputs": spec.inputs,
        # inputs: the content digests the key stands on; input_keys: the artifacts read (the lineage)
        "input_keys": {name: ref.key for name, ref in input_refs.items()},
        "code_version": spec.code, "code_manifest": spec.code_manifest, "package_versions": package_versions(),
        "host": socket.gethostname(),
        "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "duration_s": round(time.perf_counter() - clock, 3), "figures": figures,
    }
    ctx.store.write(spec.ref, datasets, provenance)
    ctx.store.remove(checkpoint_ref(spec.ref))  # a resumable stage's checkpoint is spent once its artifact exists
    if "figures" in datasets:
        export_figures(ctx.store, spec.ref, datasets["figures"])
    ctx.log(f"{stage}: computed ({spec.key}) in {provenance['duration_s']:.1f} s")
    return StageResult(spec.ref, ran=True)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions

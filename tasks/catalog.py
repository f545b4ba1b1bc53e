"""After validate_ood: enter the run's models into the equation catalog (entries: catalogs/entries.py)."""
from prefect import task
from prefect.cache_policies import NO_CACHE

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.entries import run_entries
from symdistill.catalogs.equations import EquationCatalog
from symdistill.tasks.context import RunContext


@task(name="catalog", cache_policy=NO_CACHE)  # the entry ids make registration idempotent
def catalog_stage(ctx: RunContext, refs: dict[str, ArtifactRef]) -> list[str]:
    """``refs``: the run's artifacts, every stage through validate_ood."""
    entries = run_entries(ctx.store, refs, {stage: spec.code for stage, spec in ctx.plan.items()},
                          ctx.experiment.model_dump(mode="json"), ctx.experiment.data_stage)
    added = EquationCatalog(ctx.catalog_path).add(entries)
    ctx.log(f"catalog: {len(added)} new entr{'y' if len(added) == 1 else 'ies'}, "
            f"{len(entries) - len(added)} already present ({ctx.catalog_path})")
    return [entry["id"] for entry in entries]

"""The search stage: symbolic regression on every captured internal function, islands on Dask workers."""
import numpy as np
import xarray as xr
from tqdm import tqdm

from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.fronts import front_to_dataset
from symdistill.components import plots
from symdistill.components.search import functions_from_capture, search_operator_sets
from symdistill.config import SearchConfig
from symdistill.tasks.context import RunContext, StageOutput
from symdistill.tasks.dask_cluster import dask_executor


def compute(ctx: RunContext, ref: ArtifactRef, inputs: dict) -> StageOutput:
    cfg = ctx.experiment.search
    options = search_options(cfg)
    sets = operator_sets(cfg)
    functions = functions_from_capture(inputs["capture"]["edge"], inputs["capture"]["node"], cfg.max_rows,
                                       cfg.weighting)
    bars = [tqdm(total=cfg.n_iterations * len(sets), desc=f"search {f.name}", unit="round", position=i,
                 disable=None) for i, f in enumerate(functions)]
    # the searches run side by side: a function's bar sums their rounds and shows each one's best loss
    rounds_done, best_loss = ([[0] * len(sets) for _ in functions], [[np.inf] * len(sets) for _ in functions])

    def progress_of(search, index):
        def progress(rounds, evaluations, best):
            rounds_done[index][search], best_loss[index][search] = rounds, best
            bars[index].update(sum(rounds_done[index]) - bars[index].n)
            bars[index].set_postfix(best_loss=" / ".join(f"{b:.3g}" for b in best_loss[index]))
        return progress
    with dask_executor(ctx.scheduler or cfg.scheduler, cfg.n_workers) as executor:
        fronts = search_operator_sets(functions, sets, seed=cfg.seed, executor=executor, progress=progress_of,
                                      **options)
    for bar in bars:
        bar.close()
    datasets = {front.name: front_to_dataset(front) for front in fronts}
    for function in functions:  # which force component each is (-1: none): refit offers siblings' chains by it
        datasets[function.name].attrs["axis"] = -1 if function.axis is None else int(function.axis)
    summary = {front.name: {"best": front.expressions[front.best_index], "seconds": front.seconds,
                            "front_size": len(front.programs)} for front in fronts}
    summary["operator_sets"] = sets
    datasets["figures"] = xr.Dataset({"pareto_fronts": ("pareto_fronts_png", plots.pareto_fronts(fronts))})
    return datasets, summary


def operator_sets(cfg: SearchConfig) -> list[dict]:
    """The operators of each search: the listed ones, then (if any are added) those plus the second search's."""
    first = {"binary_operators": list(cfg.binary_operators), "unary_operators": list(cfg.unary_operators)}
    second = {field: first[field] + [name for name in getattr(cfg, f"second_search_{field}")
                                     if name not in first[field]] for field in first}
    return [first] if second == first else [first, second]


def search_options(cfg: SearchConfig) -> dict:
    """SymbolicRegressor parameters of a [search] section, but its operators (``operator_sets``)."""
    return dict(max_size=cfg.max_size, n_islands=cfg.n_islands, population_size=cfg.population_size,
                n_iterations=cfg.n_iterations, loss=cfg.loss, share_between_siblings=cfg.share_between_siblings,
                options={"migration_fraction_sibling": cfg.migration_fraction_sibling,
                         "constraints": {name: list(limits) for name, limits in cfg.operand_limits.items()}})

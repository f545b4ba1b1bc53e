"""Shared fixtures. Prefect and numba are pointed at throwaway folders before anything imports them."""
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SCRATCH = Path(tempfile.mkdtemp(prefix="symdistill-tests-"))
os.environ.setdefault("PREFECT_HOME", str(_SCRATCH / "prefect"))
os.environ.setdefault("SYMDISTILL_CATALOG", str(_SCRATCH / "catalog.sqlite"))  # not ./ of wherever tests run
for name, value in {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "DASK_LOGGING__DISTRIBUTED": "warning",
}.items():
    os.environ.setdefault(name, value)

import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent

TINY_SEARCH = """[search]
n_islands = 2
population_size = 20
n_iterations = 3
max_rows = 200
max_size = 12
n_workers = 1
"""  # a search small enough for a test

TINY_SPRING = """
[experiment]
name = "tiny"

[simulate]
law = "spring"
n_bodies = 3
dim = 2
n_sims = {n_sims}
n_steps = 40
dt = 0.01
record_every = 10
seed = 1

[train_surrogate]
epochs = 2
hidden = 8
layers = 1
batch_size = 8
threads = 1

[capture]
max_graphs = 20

""" + TINY_SEARCH


@pytest.fixture
def tiny_config(tmp_path):
    """A small spring experiment; call with n_sims to write a variant. Returns the config path."""
    def write(n_sims: int = 6, name: str = "tiny.toml") -> Path:
        path = tmp_path / name
        path.write_text(TINY_SPRING.format(n_sims=n_sims))
        return path

    return write


def pytest_configure(config):
    # numba flags the function tables of custom operators as experimental; their behaviour is tested here.
    config.addinivalue_line("filterwarnings", "ignore:.*First-class function type:numba.core.errors.NumbaExperimentalFeatureWarning")


@dataclass
class StagesRun:
    """What running stages in order did, as the flow runs them: each stage handed its inputs' artifacts."""

    ctx: object
    results: dict

    @property
    def executed(self) -> list[str]:
        return [stage for stage, result in self.results.items() if result.ran]

    @property
    def store(self):
        return self.ctx.store

    def ref(self, stage):
        return self.results[stage].ref


def run_stages(config, store, stages, log=lambda _: None, **kwargs) -> StagesRun:
    from symdistill.tasks.context import open_run
    from symdistill.tasks.run import execute

    ctx, _ = open_run(config, store, log=log, **kwargs)
    results = {}
    for stage in stages:
        inputs = ctx.plan[stage].inputs
        upstream = {name: results[name].ref for name in inputs} if set(inputs) <= set(results) else None
        results[stage] = execute(ctx, stage, upstream)
    return StagesRun(ctx, results)

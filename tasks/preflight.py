"""Checks of an experiment against the engine and its data before any stage runs.

What the schema cannot know (operator names of the SR engine, the data's variables, how the OOD rule and the
split fractions cut the data) is checked here, so a bad config or bad data fails in one line before anything
is computed or written. ``symdistill run`` calls it whenever something is left to compute. The split is
checked by making it (components/split.py), the same function the split stage calls.
"""
from symdistill.catalogs import ArtifactStore
from symdistill.catalogs.datasets import read_ingest_file
from symdistill.components.ood import OODError
from symdistill.components.split import SplitSettings, make_split, split_simulations
from symdistill.components.sr.operators import CODE_OF, arity_of_code
from symdistill.config import ConfigError, Experiment
from symdistill.tasks.plan import StageSpec, resolve_data_path

SIMULATED_BODY_PROPERTIES = ("mass", "charge")  # what [simulate] records per body
OPERATOR_FIELDS = {"binary_operators": 2, "unary_operators": 1, "second_search_binary_operators": 2,
                   "second_search_unary_operators": 1}


def preflight(experiment: Experiment, config_dir, store: ArtifactStore, plan: dict[str, StageSpec],
              stages: list[str]) -> None:
    """Raise ConfigError, DatasetError or SplitError naming the first problem; return None if all is well.

    The config is checked whole; the data only for what the ``stages`` to run need of it.
    """
    check_operators(experiment)
    if experiment.data_stage == "simulate":
        check_simulation_plan(experiment, splitting="split" in stages)
        return
    if store.is_complete(plan["split"].ref) or ("split" not in stages and store.is_complete(plan["ingest"].ref)):
        return  # the data passed these checks when it was split, or nothing will split it
    if store.is_complete(plan["ingest"].ref):
        data = store.read(plan["ingest"].ref, ("data",))["data"]
    else:
        cfg = experiment.ingest
        data = read_ingest_file(resolve_data_path(experiment, config_dir), cfg.format, cfg.target, cfg.units)
    if "split" in stages:
        try:
            make_split(data, SplitSettings.of(experiment.split))
        except OODError as err:
            raise ConfigError(f"[split.ood] {err}") from None


def check_operators(experiment: Experiment) -> None:
    for field, arity in OPERATOR_FIELDS.items():
        allowed = [name for name, code in CODE_OF.items() if arity_of_code(code) == arity]
        for name in getattr(experiment.search, field):
            if name not in CODE_OF:
                raise ConfigError(f"[search] {field}: unknown operator {name!r}; allowed: {', '.join(allowed)}")
            if arity_of_code(CODE_OF[name]) != arity:
                other = field.replace("binary", "unary") if arity == 2 else field.replace("unary", "binary")
                raise ConfigError(f"[search] {field}: {name!r} takes {3 - arity} argument(s); list it in {other} "
                                  f"(allowed here: {', '.join(allowed)})")
    for name, limits in experiment.search.operand_limits.items():
        if name not in CODE_OF:
            raise ConfigError(f"[search] operand_limits: unknown operator {name!r}; allowed: {', '.join(CODE_OF)}")
        arity = arity_of_code(CODE_OF[name])
        if len(limits) != arity or any(limit < -1 for limit in limits):
            raise ConfigError(f"[search] operand_limits: {name} = {limits}: give {arity} limit(s), one per operand, "
                              f"each a largest complexity or -1 for none")


def check_simulation_plan(experiment: Experiment, splitting: bool) -> None:
    """What can be known of a simulation's split before it is simulated: enough simulations, and an OOD
    variable the simulator records (whether frames fall on both sides of the rule shows only once simulated)."""
    cfg = experiment.split
    if splitting and cfg.unit == "simulation":
        split_simulations(experiment.simulate.n_sims, cfg.validation_fraction, cfg.test_fraction, cfg.seed)
    ood = cfg.ood
    if ood is not None and ood.kind == "body_property" and ood.variable not in SIMULATED_BODY_PROPERTIES:
        raise ConfigError(f"[split.ood] variable = {ood.variable!r}: not a per-body variable of the simulation; "
                          f"allowed: {', '.join(SIMULATED_BODY_PROPERTIES)}")

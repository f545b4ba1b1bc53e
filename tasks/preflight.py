"""Checks of an experiment against the engine and its data before any stage runs.

What the schema cannot know (operator names of the SR engine, the data's variables, how the OOD rule and the
split fractions cut the data) is checked here, so a bad config or bad data fails in one line before anything
is computed or written. ``symdistill run`` calls it whenever something is left to compute.
"""
from symdistill.catalogs import ArtifactStore, read_dataset_file
from symdistill.components.ingest import DatasetError, ingest
from symdistill.components.ood import OODError, ood_frames
from symdistill.components.sr.operators import CODE_OF, arity_of_code
from symdistill.components.train_surrogate import GraphDataError, split_simulations
from symdistill.config import ConfigError, Experiment
from symdistill.tasks.plan import StageSpec, resolve_data_path
from symdistill.tasks.surrogate_io import ood_rule

SIMULATED_BODY_PROPERTIES = ("mass", "charge")  # what [simulate] records per body
OPERATOR_FIELDS = {"binary_operators": 2, "unary_operators": 1}


def preflight(experiment: Experiment, config_dir, store: ArtifactStore, plan: dict[str, StageSpec],
              stages: list[str]) -> None:
    """Raise ConfigError, DatasetError or GraphDataError naming the first problem; return None if all is well.

    The config is checked whole; the data only for what the ``stages`` to run need of it.
    """
    check_operators(experiment)
    if experiment.data_stage == "simulate":
        check_simulation_plan(experiment, training="train_surrogate" in stages)
        return
    if store.is_complete(plan["ingest"].ref) and "train_surrogate" not in stages:
        return
    if store.is_complete(plan["train_surrogate"].ref):
        return  # the data passed these checks when the network was trained
    if store.is_complete(plan["ingest"].ref):
        data = store.read(plan["ingest"].ref)["data"]
    else:
        cfg = experiment.ingest
        data = ingest(read_dataset_file(resolve_data_path(experiment, config_dir), cfg.format),
                      target=cfg.target, units=cfg.units)
    if "train_surrogate" in stages:
        check_data(experiment, data)


def check_operators(experiment: Experiment) -> None:
    for field, arity in OPERATOR_FIELDS.items():
        allowed = [name for name, code in CODE_OF.items() if arity_of_code(code) == arity]
        for name in getattr(experiment.search, field):
            if name not in CODE_OF:
                raise ConfigError(f"[search] {field}: unknown operator {name!r}; allowed: {', '.join(allowed)}")
            if arity_of_code(CODE_OF[name]) != arity:
                other = next(f for f, a in OPERATOR_FIELDS.items() if a != arity)
                raise ConfigError(f"[search] {field}: {name!r} takes {3 - arity} argument(s); list it in {other} "
                                  f"(allowed here: {', '.join(allowed)})")


def check_simulation_plan(experiment: Experiment, training: bool) -> None:
    sim, train = experiment.simulate, experiment.train_surrogate
    try:
        if training:
            split_simulations(sim.n_sims, train.validation_fraction, train.test_fraction, train.seed)
    except GraphDataError as err:
        raise ConfigError(f"[simulate] n_sims = {sim.n_sims}: {err}") from None
    ood = experiment.validate_ood
    if ood is not None and ood.kind == "body_property" and ood.variable not in SIMULATED_BODY_PROPERTIES:
        raise ConfigError(f"[validate_ood] variable = {ood.variable!r}: not a per-body variable of the simulation; "
                          f"allowed: {', '.join(SIMULATED_BODY_PROPERTIES)}")


def check_data(experiment: Experiment, data) -> None:
    """The data can be split for training and, with an OOD rule, leaves frames on both sides of it."""
    train = experiment.train_surrogate
    splits = dict(zip(("training", "validation", "test"),
                      split_simulations(data.sizes["sim"], train.validation_fraction, train.test_fraction,
                                        train.seed)))
    rule = ood_rule(experiment)
    if rule is None:
        return
    try:
        outside = ood_frames(data, rule, data.attrs.get("target", "acc"))
    except OODError as err:
        raise ConfigError(f"[validate_ood] {err}") from None
    low, high = experiment.validate_ood.low, experiment.validate_ood.high
    bounds = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
    for name, sims in splits.items():
        if not (~outside[sims]).any():
            raise GraphDataError(f"[validate_ood] the {name} split has no frame inside {bounds} left; widen the "
                                 f"bounds or change the split fractions")
    if not outside.any():
        raise DatasetError(f"[validate_ood] no frame of the data lies outside {bounds}: there is nothing to test "
                           f"out of distribution; narrow the bounds")

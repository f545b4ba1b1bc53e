"""Typed, validated experiment configuration and the shipped experiments."""
from symdistill.config.loader import ConfigError, default_store_path, load_experiment
from symdistill.config.schema import (
    DATA_STAGES,
    CaptureConfig,
    ComposeConfig,
    Experiment,
    ExperimentInfo,
    IngestConfig,
    OodRuleConfig,
    RefitConfig,
    SearchConfig,
    SimulateConfig,
    SplitConfig,
    TrainSurrogateConfig,
    ValidateOodConfig,
)

__all__ = [
    "CaptureConfig",
    "ComposeConfig",
    "ConfigError",
    "DATA_STAGES",
    "Experiment",
    "ExperimentInfo",
    "IngestConfig",
    "OodRuleConfig",
    "RefitConfig",
    "SearchConfig",
    "SimulateConfig",
    "SplitConfig",
    "TrainSurrogateConfig",
    "ValidateOodConfig",
    "default_store_path",
    "load_experiment",
]

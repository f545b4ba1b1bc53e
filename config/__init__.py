"""Typed, validated experiment configuration and the shipped experiments."""
from symdistill.config.loader import ConfigError, default_store_path, load_experiment
from symdistill.config.schema import (
    DATA_STAGES,
    CaptureConfig,
    Experiment,
    ExperimentInfo,
    IngestConfig,
    SimulateConfig,
    TrainSurrogateConfig,
)

__all__ = [
    "CaptureConfig",
    "ConfigError",
    "DATA_STAGES",
    "Experiment",
    "ExperimentInfo",
    "IngestConfig",
    "SimulateConfig",
    "TrainSurrogateConfig",
    "default_store_path",
    "load_experiment",
]

"""Typed, validated experiment configuration and the shipped experiments."""
from symdistill.config.loader import ConfigError, default_store_path, load_experiment
from symdistill.config.schema import (
    DATA_STAGES,
    Experiment,
    ExperimentInfo,
    IngestConfig,
    SimulateConfig,
)

__all__ = [
    "ConfigError",
    "DATA_STAGES",
    "Experiment",
    "ExperimentInfo",
    "IngestConfig",
    "SimulateConfig",
    "default_store_path",
    "load_experiment",
]

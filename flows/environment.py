"""Defaults that keep Prefect and Dask quiet and self-contained; set before either is imported."""
import os
from pathlib import Path

QUIET_DEFAULTS = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no internet: telemetry would log an error each start
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "DASK_LOGGING__DISTRIBUTED": "warning",
    # Creating a fresh Prefect database on a busy 2-core machine can take 20-30 s; the default wait is 20.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
# Failed runs are reported by the CLI in one line; Prefect's own tracebacks only with --debug.
SILENT_RUN_LOGGERS = {
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "CRITICAL",
}


def configure(store: Path, debug: bool = False) -> None:
    """Apply defaults the user has not set: Prefect's home goes beside the store, not into ~/.prefect."""
    defaults = dict(QUIET_DEFAULTS)
    if not debug:
        defaults.update(SILENT_RUN_LOGGERS)
    if "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ:
        home = Path(store).resolve() / ".prefect"
        home.mkdir(parents=True, exist_ok=True)
        defaults["PREFECT_HOME"] = str(home)
    for name, value in defaults.items():
        os.environ.setdefault(name, value)

"""Read an experiment TOML and turn every validation failure into one readable line."""
import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError

from symdistill.config.schema import Experiment


DEFAULT_STORE_NAME = "symdistill.zarr"


def default_store_path(config_path: str | Path) -> Path:
    """The store shared by every experiment in the config's folder, so shared stage prefixes are reused."""
    return Path(config_path).parent / DEFAULT_STORE_NAME


class ConfigError(ValueError):
    """A config file cannot be used; the message names the file, the key, the value and what is allowed."""


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment file.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or breaks the schema.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    try:
        return Experiment.model_validate(raw)
    except ValidationError as err:
        raise ConfigError("\n".join(_describe(path, error) for error in err.errors())) from None


def _describe(path: Path, error: dict) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(error["loc"][:-1]))
        return f"{path}: {location} = {error['input']!r}: unknown key; allowed keys here: {allowed}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{path}: {location}: required key is missing"
    value = error.get("input")
    if isinstance(value, dict):
        return f"{path}: [{location}]: {message}"
    return f"{path}: {location} = {value!r}: {message}"


def _allowed_keys(parent_loc: tuple) -> list[str]:
    model: type[BaseModel] = Experiment
    for part in parent_loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return ["(any)"]
    return sorted(model.model_fields)

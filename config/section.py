"""What every config section shares: strict, frozen pydantic models, and unit strings checked by pint.

Every section forbids unknown keys and is frozen, so a loaded experiment is a value that
can be hashed into artifact keys.
"""
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

FORCE_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")
DATA_STAGES = ("simulate", "ingest")
DEFAULT_UNARY_OPERATORS = ("square", "sqrt", "exp", "log", "sin", "cos")

@lru_cache(maxsize=1)
def _units():
    import pint  # building a registry takes ~0.3 s; only configs that name units pay it

    return pint.UnitRegistry()


@lru_cache(maxsize=256)
def check_unit(text: str) -> str:
    """Return ``text`` if pint understands it as a unit, else raise ValueError naming it."""
    try:
        _units().parse_units(text)
    except Exception:  # pint raises several types (UndefinedUnitError, syntax errors)
        raise ValueError(f"unknown unit {text!r}; use a pint unit string such as 'm', 'm/s**2', 'kg'")
    return text


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

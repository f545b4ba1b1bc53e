"""The config reference, generated from the schema so it cannot drift from it.

    python -m symdistill.config.reference > docs/config.md

A test compares docs/config.md with this output.
"""
import json
import types
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from symdistill.config.schema import Experiment

HEADER = """# Experiment config reference

Generated from `config/schema.py` by `python -m symdistill.config.reference > docs/config.md`; do not edit
by hand (a test checks it is current). An experiment is one TOML file with one section per stage; exactly
one data section, `[simulate]` or `[ingest]`, is needed. Unknown keys, wrong types and out-of-range values
fail before any work starts, with a message naming the key and what is allowed.
"""


def config_reference() -> str:
    parts = [HEADER]
    for name, field in Experiment.model_fields.items():
        model = _model_of(field.annotation)
        optional = type(None) in typing.get_args(field.annotation)
        parts.append(_section(name, model, optional))
    return "\n".join(parts).rstrip() + "\n"


def _section(name: str, model: type[BaseModel], optional: bool, prefix: str = "") -> str:
    title = f"## `[{prefix}{name}]`" + (" (optional)" if optional else "")
    doc = " ".join((model.__doc__ or "").split()).replace("``", "`")
    rows, nested = [], []
    for key, field in model.model_fields.items():
        inner = _model_of(field.annotation)
        if inner is not None:
            optional_inner = type(None) in typing.get_args(field.annotation)
            nested.append(_section(key, inner, optional_inner, prefix=f"{prefix}{name}."))
            continue
        rows.append(f"| `{key}` | {_allowed(field)} | {_default(field)} | {_cell(field.description or '')} |")
    table = "\n".join(["| key | allowed | default | meaning |", "| --- | --- | --- | --- |", *rows])
    lines = [title, ""] + ([doc, ""] if doc else []) + [table, ""]
    return "\n".join(lines + nested)


def _model_of(annotation):
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _allowed(field) -> str:
    text = _type_text(field.annotation)
    bounds = []
    for item in field.metadata:
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥")):
            value = getattr(item, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
    return _cell(text + (f", {', '.join(bounds)}" if bounds else ""))


def _type_text(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type_text(args[1])}" if len(args) == 2 else "table"
    if annotation is type(None):
        return "none"
    return {int: "integer", float: "number", str: "string", bool: "true/false"}.get(annotation, str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "(required)"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "(required)"
    if isinstance(value, BaseModel):
        return "(see below)"
    return _cell("none" if value is None else f"`{json.dumps(value)}`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    print(config_reference(), end="")

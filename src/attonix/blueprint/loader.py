"""Load a blueprint: safe YAML, then the model, then cross-references — every problem at once."""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel

from attonix.blueprint.consistency import check_consistency
from attonix.blueprint.diagnostics import BlueprintInvalid, Diagnostic, Path
from attonix.blueprint.model import Blueprint
from attonix.blueprint.model.common import NAME_RE
from attonix.blueprint.naming import check_names
from attonix.blueprint.references import check_references
from attonix.blueprint.source import SourceMap, parse, read_bytes


@dataclass(frozen=True)
class Loaded:
    """A valid blueprint together with where each of its values came from."""

    blueprint: Blueprint
    source: SourceMap

    @property
    def file(self) -> str:
        """The file (or pseudo-file name) the blueprint was read from."""
        return self.source.file


def load_file(path: str | os.PathLike[str]) -> Loaded:
    """Read, parse and validate the blueprint at ``path``; raise ``BlueprintInvalid`` if not."""
    data, problem = read_bytes(path)
    if problem is not None or data is None:
        raise BlueprintInvalid([problem] if problem else [])
    return load_bytes(data, file=os.fspath(path))


def load_bytes(data: bytes | str, *, file: str = "<blueprint>") -> Loaded:
    """Parse and validate blueprint text; ``file`` names it in diagnostics."""
    value, source, problems = parse(data, file)
    if problems:
        raise BlueprintInvalid(problems)
    return validate_data(value, source)


def validate_data(value: Any, source: SourceMap) -> Loaded:
    """Validate parsed data against the model and the cross-reference rules."""
    if not isinstance(value, dict):
        raise BlueprintInvalid(
            [
                Diagnostic(
                    code="BP012",
                    message=f"the document is a {_kind(value)}, not a mapping",
                    location=source.locate(()),
                    hint="Begin with 'apiVersion: attonix.io/v1' and 'kind: DataCenter'.",
                )
            ]
        )
    try:
        blueprint = Blueprint.model_validate(value)
    except pydantic.ValidationError as exc:
        raise BlueprintInvalid(_from_pydantic(exc, value, source)) from None
    problems = [
        *check_references(blueprint, source),
        *check_names(blueprint, source),
        *check_consistency(blueprint, source),
    ]
    problems.sort(key=lambda d: (d.location.line, d.location.col))
    if any(p.severity == "error" for p in problems):
        raise BlueprintInvalid(problems)
    return Loaded(blueprint=blueprint, source=source)


# --------------------------------------------------------------------------- pydantic errors

_HINTS = {
    "missing": "Add the key; `attonix schema` lists what each section needs.",
    "extra_forbidden": "Remove the key or correct its spelling.",
    "string_pattern_mismatch": "Names are lowercase letters, digits and '-' (DNS labels).",
    "literal_error": "Use one of the listed values.",
    "string_type": "Quote the value to make it a string.",
    "int_parsing": "Write a whole number without quotes.",
    "int_type": "Write a whole number without quotes.",
    "bool_parsing": "Write true or false.",
    "bool_type": "Write true or false.",
    "list_type": "Write a YAML list (lines starting with '- ').",
    "dict_type": "Write a mapping (key: value lines).",
    "model_type": "Write a mapping (key: value lines).",
    "greater_than_equal": "Raise the value to at least the minimum.",
    "less_than_equal": "Lower the value to at most the maximum.",
    "too_short": "Add at least one entry.",
    "ip_any_address": "Write an IPv4 or IPv6 address.",
    "ip_v4_address": "Write an IPv4 or IPv6 address.",
    "date_from_datetime_parsing": "Write a date as YYYY-MM-DD.",
    "date_parsing": "Write a date as YYYY-MM-DD.",
    "date_type": "Write a date as YYYY-MM-DD.",
    "value_error": "Change the values so that they agree, as the message says.",
}


def _kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _clean_loc(loc: tuple[Any, ...], value: Any) -> Path:
    """Drop pydantic's union/function tags from a location, keeping only real path parts."""
    path: list[str | int] = []
    node = value
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, list) and 0 <= part < len(node):
                path.append(part)
                node = node[part]
            continue
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict):
            path.append(part)  # a missing key: keep it, the parent locates it
            node = None
    return tuple(path)


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model class whose fields apply at ``path`` (for did-you-mean suggestions)."""
    model: type[BaseModel] | None = Blueprint
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _meaning(path: Path) -> str:
    """The description of the field a value at ``path`` belongs to (list items and map values
    belong to their list's or map's field), or '' when there is none."""
    for k in range(len(path) - 1, -1, -1):
        part = path[k]
        model = _model_at(path[:k]) if isinstance(part, str) else None
        if model is None:
            continue
        field = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is not None:
            return field.description or ""
    return ""


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _from_pydantic(
    exc: pydantic.ValidationError, value: Any, source: SourceMap
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[Path, str]] = set()
    for err in exc.errors(include_url=False):
        path = _clean_loc(err["loc"], value)
        kind = err["type"]
        message = str(err["msg"])
        hint = _HINTS.get(kind, "Correct the value; `attonix schema` shows what is allowed.")
        code = "BP012"
        locate_key = False
        if kind == "extra_forbidden":
            code, locate_key = "BP010", True
            key = str(path[-1]) if path else ""
            parent = _model_at(path[:-1])
            message = f"unknown key {key!r}"
            if parent is not None:
                names = _field_names(parent)
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                hint = (
                    f"Did you mean {close[0]!r}? " if close else ""
                ) + f"Allowed here: {', '.join(names)}."
        elif kind == "missing":
            code = "BP011"
            message = f"missing required key {str(path[-1])!r}" if path else message
            meaning = _meaning(path)
            if meaning:
                hint = f"Add {str(path[-1])!r}: {meaning}"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") != NAME_RE:
            meaning = _meaning(path)
            if meaning:
                hint = f"Expected: {meaning}"
        elif kind == "value_error":
            code = "BP013"
            message = message.removeprefix("Value error, ")
        elif "input" in err and kind not in ("missing",):
            shown = repr(err["input"])
            if len(shown) <= 60 and not isinstance(err["input"], (dict, list)):
                message = f"{message} (got {shown})"
        if (path, message) in seen:
            continue
        seen.add((path, message))
        location = source.locate(path, key=locate_key)
        if kind == "missing":
            location = source.locate(path[:-1])
        out.append(Diagnostic(code=code, message=message, location=location, path=path, hint=hint))
    out = _drop_misspelt_missing(out)
    out.sort(key=lambda d: (d.location.line, d.location.col))
    return out


def _drop_misspelt_missing(diags: list[Diagnostic]) -> list[Diagnostic]:
    """A misspelt required key shows up twice (unknown 'engin', missing 'engine'); keep the
    unknown-key diagnostic, whose hint already names the right key."""
    suggested = {
        (d.path[:-1], d.hint.split("'")[1])
        for d in diags
        if d.code == "BP010" and d.hint.startswith("Did you mean '")
    }
    return [
        d for d in diags if not (d.code == "BP011" and (d.path[:-1], str(d.path[-1])) in suggested)
    ]

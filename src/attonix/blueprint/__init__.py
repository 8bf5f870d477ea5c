"""The blueprint layer: model, safe loader, source map, references, diagnostics. Pure."""

from attonix.blueprint.diagnostics import BlueprintInvalid, Diagnostic, Location, dotted
from attonix.blueprint.loader import Loaded, load_bytes, load_file, validate_data
from attonix.blueprint.model import Blueprint
from attonix.blueprint.source import SourceMap

__all__ = [
    "Blueprint",
    "BlueprintInvalid",
    "Diagnostic",
    "Loaded",
    "Location",
    "SourceMap",
    "dotted",
    "load_bytes",
    "load_file",
    "validate_data",
]

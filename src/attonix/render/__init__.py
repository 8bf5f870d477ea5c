"""Blueprint -> artifacts for each target. Pure: no network, no subprocess, no global state."""

from attonix.render.base import Artifact, RenderError, dump_yaml, to_text, write_artifacts
from attonix.render.registry import TARGETS, render, renderer

__all__ = [
    "TARGETS",
    "Artifact",
    "RenderError",
    "dump_yaml",
    "render",
    "renderer",
    "to_text",
    "write_artifacts",
]

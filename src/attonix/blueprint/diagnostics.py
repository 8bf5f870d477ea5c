"""Blueprint problems as data: collected in one pass, raised once, printed compiler-style."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from attonix.errors import Error

PathPart = str | int
Path = tuple[PathPart, ...]


def dotted(path: Sequence[PathPart]) -> str:
    """``("databases", 2, "replicas")`` -> ``databases[2].replicas``; ``()`` -> ``(document)``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(document)"


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file; line and column are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem with a blueprint, at one place, with one sentence on what to do."""

    code: str
    message: str
    location: Location
    path: Path = ()
    hint: str = ""
    severity: Literal["error", "warning"] = "error"

    @property
    def pointer(self) -> str:
        """The dotted path to the offending value."""
        return dotted(self.path)

    def format(self) -> str:
        """``file:line:col: error[BP012]: path: message`` plus an indented hint line."""
        head = f"{self.location}: {self.severity}[{self.code}]: {self.pointer}: {self.message}"
        return f"{head}\n    hint: {self.hint}" if self.hint else head

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, stable for automation."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "path": self.pointer,
        }


class BlueprintInvalid(Error):
    """The blueprint could not be loaded; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        count = len(self.diagnostics)
        first = self.diagnostics[0].format() if self.diagnostics else "no details"
        super().__init__(
            f"blueprint has {count} problem{'s' if count != 1 else ''}; first: {first}",
            hint="Fix the problems listed at their file:line:col, then run validate again.",
        )

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)

"""What every renderer returns: artifacts (relative path + content), and the one function that
writes them to disk atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from attonix.errors import Error
from attonix.render import _yaml

Format = Literal["yaml", "yaml-multi", "json", "text"]
MANIFEST = ".attonix-manifest.json"

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Never writes anchors/aliases: a shared dict is written out in full wherever it appears."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class RenderError(Error):
    """A renderer produced something invalid, or its output could not be written."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """One rendered file: ``target`` it belongs to, relative ``path``, ``content`` and format.

    ``content`` is a mapping (yaml/json), a list of mappings (yaml-multi: one document each)
    or a string (text). ``component`` is the ``kind/name`` id (as policy findings use) of the
    one blueprint component the file belongs to, or empty when it is shared or not known.
    """

    target: str
    path: str
    content: Any
    format: Format = "yaml"
    component: str = ""

    def __post_init__(self) -> None:
        p = PurePosixPath(self.path)
        if (
            not self.path
            or p.is_absolute()
            or ".." in p.parts
            or "\\" in self.path
            or str(p) != self.path
        ):
            raise RenderError(
                f"artifact path {self.path!r} must be relative and normalised, without '..'",
                hint="This is a renderer bug; report it with the blueprint that caused it.",
            )

    def text(self) -> str:
        """The file's exact bytes as text: deterministic for the same content."""
        return to_text(self.content, self.format)


def dump_yaml(doc: Any) -> str:
    """Deterministic block-style YAML (insertion order kept, no aliases, wide lines).

    The specialised emitter (``render._yaml``) writes plain data; a document it does not
    reproduce exactly goes through PyYAML, so the bytes are the same either way.
    """
    fast = _yaml.emit(doc)
    if fast is not None:
        return fast
    return str(
        yaml.dump(
            doc,
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
    )


def to_text(content: Any, fmt: Format) -> str:
    """Serialise content in ``fmt``."""
    if fmt == "text":
        text = str(content)
        return text if text.endswith("\n") else text + "\n"
    if fmt == "json":
        return json.dumps(content, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    if fmt == "yaml-multi":
        return "".join("---\n" + dump_yaml(doc) for doc in content)
    return dump_yaml(content)


def write_artifacts(artifacts: Sequence[Artifact], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``artifacts`` below ``out_dir``; remove files an earlier render of the same targets
    wrote that are gone.

    Every file is serialised before anything is written and each file is replaced atomically,
    so a failure never leaves a half-written file. The manifest (``.attonix-manifest.json``)
    records which target wrote which file, so rendering one target never removes another
    target's files from a shared directory. Files Attonix did not write are left alone. A file
    that already holds exactly its new content is not rewritten (nor is the manifest), so a
    re-render with no change writes nothing. Returns the files written.
    """
    root = Path(out_dir)
    texts: dict[str, str] = {}
    owners: dict[str, str] = {}
    for art in artifacts:
        if art.path in texts:
            raise RenderError(
                f"two artifacts want the same path {art.path!r}",
                hint="This is a renderer bug; report it.",
            )
        texts[art.path] = art.text()
        owners[art.path] = art.target
    if root.exists() and not root.is_dir():
        raise RenderError(
            f"{root} exists and is not a directory", hint="Choose another output directory with -o."
        )
    root.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(root)
    written: list[Path] = []
    made: set[Path] = set()  # thousands of files share a few directories: one mkdir each
    for rel, text in sorted(texts.items()):
        dest = root / rel
        if _unchanged(dest, text):
            continue
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        _atomic_write(dest, text)
        written.append(dest)
    rendered = set(owners.values())
    manifest: dict[str, set[str]] = {}
    for target, paths in previous.items():
        kept = {p for p in paths if p not in owners}  # a path now written belongs to its writer
        if target in rendered:
            for rel in sorted(kept):
                stale = root / rel
                if stale.is_file() and ".." not in PurePosixPath(rel).parts:
                    stale.unlink()
                    _remove_empty_parents(stale.parent, root)
        elif kept:
            manifest[target] = kept
    for rel, target in owners.items():
        manifest.setdefault(target, set()).add(rel)
    doc = {"version": 2, "targets": {k: sorted(v) for k, v in sorted(manifest.items())}}
    manifest_text = json.dumps(doc, indent=1) + "\n"
    if not _unchanged(root / MANIFEST, manifest_text):
        _atomic_write(root / MANIFEST, manifest_text)
    return written


def _unchanged(dest: Path, text: str) -> bool:
    """Whether ``dest`` is a file that already holds exactly ``text`` (then it is not rewritten,
    so its mtime, and whatever watches it, sees no change)."""
    data = text.encode("utf-8")
    try:
        if not dest.is_file() or dest.is_symlink() or dest.stat().st_size != len(data):
            return False
        return dest.read_bytes() == data
    except OSError:
        return False


def _remove_empty_parents(directory: Path, root: Path) -> None:
    """Remove directories left empty by pruning, up to (not including) ``root``."""
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _read_manifest(root: Path) -> dict[str, set[str]]:
    """Paths each target wrote last time. A manifest of the first format (a plain list, with no
    targets) is not trusted for pruning: its files are left alone."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        return {}
    return {
        str(k): {p for p in v if isinstance(p, str)}
        for k, v in targets.items()
        if isinstance(v, list)
    }


def _atomic_write(dest: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""What every renderer returns: artifacts (relative path + content), and the one function that
writes them to disk atomically."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from attonix.errors import Error
from attonix.render import _yaml

Format = Literal["yaml", "yaml-multi", "json", "text"]
MANIFEST = ".attonix-manifest.json"
STAT_CACHE = ".attonix-render.json"
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

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
        if _plain_relative(self.path):
            return
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


def _plain_relative(path: str) -> bool:
    """Whether ``path`` is a relative, normalised path without ``..`` (the common case,
    checked without building a ``PurePosixPath`` for each of thousands of artifacts)."""
    return (
        bool(path)
        and path[0] != "/"
        and "\\" not in path
        and all(part not in ("", ".", "..") for part in path.split("/"))
    )


def write_artifacts(artifacts: Iterable[Artifact], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``artifacts`` below ``out_dir``; remove files an earlier render of the same targets
    wrote that are gone.

    Artifacts are serialised one at a time as they come (an iterator is consumed once, and no
    text is held after its file is written). A file that does not exist yet is created in
    place; one that exists is staged in a temporary file beside it, and the temporary files
    are renamed over their destinations only when every artifact has been serialised. So
    every existing file is replaced atomically, and a failure leaves nothing changed: the new
    files, temporary files and directories made so far are removed. The manifest
    (``.attonix-manifest.json``) records which target wrote which file, so rendering one
    target never removes another target's files from a shared directory. Files Attonix did
    not write are left alone. A file that already holds exactly its new content is not
    rewritten (nor is the manifest), so a re-render with no change writes nothing. Whether a
    file holds its new content is judged from the stat cache (``.attonix-render.json``: the
    size, times, inode and content hash of each file as written) where the file's status
    still matches it, and by reading the file back where it does not. Returns the files
    written, by path.
    """
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise RenderError(
            f"{root} exists and is not a directory", hint="Choose another output directory with -o."
        )
    base = os.fspath(root)
    cache = _StatCache.read(root)
    owners: dict[str, str] = {}
    staged: list[tuple[str, str]] = []  # (relative path, temporary file)
    created: list[str] = []  # relative paths of files that did not exist before
    made: list[str] = []  # directories this call created, parents first
    known: set[str] = set()  # directories known to exist: thousands of files share a few
    fresh: set[str] = set()  # directories this call created: nothing in them yet
    tag = f".{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        for art in artifacts:
            rel = art.path
            if rel in owners:
                raise RenderError(
                    f"two artifacts want the same path {rel!r}",
                    hint="This is a renderer bug; report it.",
                )
            owners[rel] = art.target
            data = art.text().encode("utf-8")
            digest = _digest(data)
            dest = os.path.join(base, rel)
            folder, name = os.path.split(dest)
            if folder in fresh:
                state = _ABSENT  # duplicates are refused above, so nothing is there yet
            else:
                state = cache.state(rel, dest, data, digest)
                if state is _SAME:
                    continue
                if folder not in known:
                    before = len(made)
                    _make_dirs(folder, made)
                    known.add(folder)
                    if len(made) > before:
                        fresh.update(made[before:])
            if state is _ABSENT:
                with contextlib.suppress(FileExistsError):  # if it appeared since: staged
                    cache.note(rel, _write_new(dest, data), digest)
                    created.append(rel)
                    continue
            tmp = os.path.join(folder, f".{name}{tag}")
            _write_new(tmp, data)
            cache.pending(rel, digest)
            staged.append((rel, tmp))
        if not owners:
            _make_dirs(base, made)
    except BaseException:
        for rel in created:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(base, rel))
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    for rel, tmp in sorted(staged):
        dest = os.path.join(base, rel)
        os.replace(tmp, dest)
        cache.settle(rel, dest)
    written = [root / rel for rel in sorted([*created, *(rel for rel, _ in staged)])]
    previous = _read_manifest(root)
    rendered = set(owners.values())
    manifest: dict[str, set[str]] = {}
    removed = False
    for target, paths in previous.items():
        kept = {p for p in paths if p not in owners}  # a path now written belongs to its writer
        if target in rendered:
            for rel in sorted(kept):
                stale = root / rel
                if stale.is_file() and ".." not in PurePosixPath(rel).parts:
                    stale.unlink()
                    removed = True
                    _remove_empty_parents(stale.parent, root)
        elif kept:
            manifest[target] = kept
    for rel, target in owners.items():
        manifest.setdefault(target, set()).add(rel)
    doc = {"version": 2, "targets": {k: sorted(v) for k, v in sorted(manifest.items())}}
    manifest_text = json.dumps(doc, indent=1) + "\n"
    if not _unchanged(root / MANIFEST, manifest_text):
        _atomic_write(root / MANIFEST, manifest_text)
    if written or removed:
        # Only when files changed: a re-render with no change writes nothing, not even this.
        cache.write(root, {p for paths in manifest.values() for p in paths})
    return written


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class _StatCache:
    """What each file Attonix wrote looked like right after it was written: its size,
    modification and change times (ns), inode and content hash (``.attonix-render.json``).

    A file whose status still matches its entry holds the content hashed there, so deciding
    whether it already holds its new content needs no read. An entry is trusted only if the
    file's change time is older than the cache file itself: a file changed in the same clock
    tick as the cache was written (timestamps are coarse) is read back, as git treats its
    "racily clean" index entries. Any write, ``touch`` or ``utime`` sets the change time to
    the present, so a file edited since (even to the same size, with its modification time
    restored) no longer matches and is read back. A missing or unreadable cache only means
    reading every file back.
    """

    __slots__ = ("_before", "_entries", "_since")

    def __init__(self, entries: dict[str, list[Any]], since: int) -> None:
        self._before = entries  # as read: trusted where the file's status matches
        self._entries: dict[str, list[Any]] = {}  # as they will be written
        self._since = since  # the cache file's modification time

    @classmethod
    def read(cls, root: Path) -> _StatCache:
        path = root / STAT_CACHE
        try:
            with open(path, "rb") as fh:
                since = os.fstat(fh.fileno()).st_mtime_ns
                doc = json.loads(fh.read())
            files = doc["files"] if doc.get("version") == 1 else {}
            entries = {
                str(k): v
                for k, v in files.items()
                if isinstance(v, list)
                and len(v) == 5
                and all(type(x) is int for x in v[:4])
                and isinstance(v[4], str)
            }
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            return cls({}, 0)
        return cls(entries, since)

    def state(self, rel: str, dest: str, data: bytes, digest: str) -> str:
        """``_SAME``, ``_CHANGED`` or ``_ABSENT`` for ``dest`` and its new ``data``."""
        st = _regular_status(dest, len(data))
        if isinstance(st, str):
            return st
        entry = self._before.get(rel)
        if (
            entry is not None
            and st.st_ctime_ns < self._since
            and entry[0] == st.st_size
            and entry[1] == st.st_mtime_ns
            and entry[2] == st.st_ctime_ns
            and entry[3] == st.st_ino
        ):
            if entry[4] != digest:
                return _CHANGED
            self._entries[rel] = entry
            return _SAME
        if not _holds(dest, data):
            return _CHANGED
        self._entries[rel] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest]
        return _SAME

    def note(self, rel: str, st: os.stat_result, digest: str) -> None:
        """``rel`` was just written; ``st`` is its status."""
        self._entries[rel] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest]

    def pending(self, rel: str, digest: str) -> None:
        """``rel`` is staged; its status is noted when it is renamed into place."""
        self._entries[rel] = [0, 0, 0, 0, digest]

    def settle(self, rel: str, dest: str) -> None:
        """``rel`` was renamed into place as ``dest``: note its status."""
        entry = self._entries[rel]
        try:
            st = os.lstat(dest)
        except OSError:
            del self._entries[rel]
            return
        entry[:4] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def write(self, root: Path, paths: set[str]) -> None:
        """Store the entries of ``paths`` (those of files not rendered now kept as read)."""
        files = {
            rel: self._entries.get(rel) or self._before[rel]
            for rel in sorted(paths)
            if rel in self._entries or rel in self._before
        }
        text = json.dumps({"version": 1, "files": files}, separators=(",", ":")) + "\n"
        _atomic_write(root / STAT_CACHE, text)


def _make_dirs(folder: str, made: list[str]) -> None:
    """Create ``folder`` and its missing parents, noting each one created in ``made``."""
    missing: list[str] = []
    while folder and not os.path.isdir(folder):  # a relative path's last parent is ""
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            if not os.path.isdir(d):
                raise
            continue
        made.append(d)


def _write_new(path: str, data: bytes) -> os.stat_result:
    """Create ``path`` (which must not exist) holding ``data``, readable by its owner only
    (as the temporary files of ``_atomic_write``); return its status once written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return st


_SAME, _CHANGED, _ABSENT = "same", "changed", "absent"


def _regular_status(dest: str, size: int) -> os.stat_result | str:
    """The status of ``dest`` if it is a regular file (not a symlink) of ``size`` bytes;
    else ``_ABSENT`` when nothing is there, ``_CHANGED`` when something else is."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return _ABSENT
    except OSError:
        return _CHANGED
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return _CHANGED
    return st


def _holds(dest: str, data: bytes) -> bool:
    """Whether the file ``dest`` holds exactly ``data`` (False if it cannot be read)."""
    try:
        with open(dest, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _state(dest: str, data: bytes) -> str:
    """Whether ``dest`` is a regular file (not a symlink) holding exactly ``data`` (``_SAME``),
    is not there at all (``_ABSENT``) or is something else (``_CHANGED``)."""
    st = _regular_status(dest, len(data))
    if isinstance(st, str):
        return st
    return _SAME if _holds(dest, data) else _CHANGED


def _unchanged(dest: Path, text: str) -> bool:
    """Whether ``dest`` is a file that already holds exactly ``text`` (then it is not rewritten,
    so its mtime, and whatever watches it, sees no change)."""
    return _state(os.fspath(dest), text.encode("utf-8")) is _SAME


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

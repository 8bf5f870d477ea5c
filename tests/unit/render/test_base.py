"""Artifacts and the one function that writes them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from attonix.render.base import (
    MANIFEST,
    STAT_CACHE,
    Artifact,
    RenderError,
    to_text,
    write_artifacts,
)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.yaml", "a/../../b", "", "a//b", "a\\b"])
def test_artifact_paths_must_be_relative_and_normal(path: str) -> None:
    with pytest.raises(RenderError, match="must be relative"):
        Artifact(target="t", path=path, content={})


def test_serialisation_is_deterministic_and_ordered() -> None:
    doc = {"kind": "A", "apiVersion": "v1", "metadata": {"name": "ü"}}
    text = to_text(doc, "yaml")
    assert text == "kind: A\napiVersion: v1\nmetadata:\n  name: ü\n"
    assert to_text([doc, {"b": 1}], "yaml-multi") == "---\n" + text + "---\nb: 1\n"
    assert json.loads(to_text(doc, "json")) == doc
    assert to_text("x", "text") == "x\n"


def test_shared_values_are_written_out_not_aliased() -> None:
    shared = {"app": "x"}
    text = to_text({"a": shared, "b": shared}, "yaml")
    assert text == "a:\n  app: x\nb:\n  app: x\n"
    assert "&" not in text and "*" not in text


def test_write_prunes_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_artifacts(
        [Artifact("t", "a/one.yaml", {"a": 1}), Artifact("t", "two.txt", "hi", "text")], out
    )
    (out / "mine.txt").write_text("keep me")
    assert (out / "a" / "one.yaml").read_text() == "a: 1\n"
    assert json.loads((out / MANIFEST).read_text()) == {
        "version": 2,
        "targets": {"t": ["a/one.yaml", "two.txt"]},
    }

    write_artifacts([Artifact("t", "two.txt", "changed", "text")], out)
    assert not (out / "a" / "one.yaml").exists()
    assert not (out / "a").exists()  # emptied by pruning
    assert (out / "two.txt").read_text() == "changed\n"
    assert (out / "mine.txt").read_text() == "keep me"
    assert not list(out.rglob("*.tmp"))


def test_one_target_never_prunes_another_targets_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_artifacts([Artifact("kubernetes", "k8s-prod/kustomization.yaml", {"a": 1})], out)
    write_artifacts([Artifact("diagram", "diagram/dc.svg", "<svg/>", "text")], out)
    assert (out / "k8s-prod" / "kustomization.yaml").is_file()
    assert (out / "diagram" / "dc.svg").is_file()
    # Rendering the first target again prunes only its own stale files.
    write_artifacts([Artifact("kubernetes", "k8s-prod/other.yaml", {"b": 2})], out)
    assert not (out / "k8s-prod" / "kustomization.yaml").exists()
    assert (out / "diagram" / "dc.svg").is_file()
    manifest = json.loads((out / MANIFEST).read_text())["targets"]
    assert manifest == {"diagram": ["diagram/dc.svg"], "kubernetes": ["k8s-prod/other.yaml"]}


def test_nothing_written_when_an_artifact_cannot_serialise(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(Exception, match="represent"):
        write_artifacts(
            [Artifact("t", "ok.yaml", {"a": 1}), Artifact("t", "bad.yaml", {"x": object()})], out
        )
    assert not out.exists()


def test_duplicate_paths_are_a_bug(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="same path"):
        write_artifacts(
            [Artifact("t", "x", "a", "text"), Artifact("t", "x", "b", "text")], tmp_path
        )


def test_output_must_be_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(RenderError, match="not a directory"):
        write_artifacts([Artifact("t", "x", "a", "text")], f)


def _age(root: Path) -> dict[Path, int]:
    """Set every file below ``root`` an hour into the past; return the mtimes (ns)."""
    stamps = {}
    for f in root.rglob("*"):
        if f.is_file():
            past = f.stat().st_mtime_ns - 3_600_000_000_000
            os.utime(f, ns=(past, past))
            stamps[f] = past
    return stamps


def test_a_re_render_with_no_change_writes_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arts = [
        Artifact("t", "a/one.yaml", {"a": 1, "b": ["x", "yes"]}),
        Artifact("t", "two.txt", "hi", "text"),
        Artifact("u", "three.json", {"c": None}, "json"),
    ]
    assert len(write_artifacts(arts, out)) == 3
    before = _age(out)
    assert (out / MANIFEST) in before
    assert write_artifacts(arts, out) == []
    assert {f: f.stat().st_mtime_ns for f in before} == before
    # one changed file: only it is rewritten; the manifest (same paths) is not
    changed = [arts[0], Artifact("t", "two.txt", "changed", "text"), arts[2]]
    assert write_artifacts(changed, out) == [out / "two.txt"]
    assert (out / "two.txt").read_text() == "changed\n"
    assert (out / "a" / "one.yaml").stat().st_mtime_ns == before[out / "a" / "one.yaml"]
    assert (out / MANIFEST).stat().st_mtime_ns == before[out / MANIFEST]


def test_a_file_edited_by_hand_is_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arts = [Artifact("t", "one.yaml", {"a": 1})]
    write_artifacts(arts, out)
    (out / "one.yaml").write_text("a: 2\n")  # same size, other content
    assert write_artifacts(arts, out) == [out / "one.yaml"]
    assert (out / "one.yaml").read_text() == "a: 1\n"


def test_artifacts_stream_in_and_a_late_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_artifacts([Artifact("t", "a/old.yaml", {"a": 1})], out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def arts() -> Iterator[Artifact]:
        yield Artifact("t", "a/old.yaml", {"a": 2})  # staged, then abandoned
        yield Artifact("t", "b/c/new.yaml", {"b": 1})  # its directories too
        raise RenderError("the renderer failed half-way")

    with pytest.raises(RenderError, match="half-way"):
        write_artifacts(arts(), out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "a" / "old.yaml").read_text() == "a: 1\n"

    written = write_artifacts(iter([Artifact("t", "b/c/new.yaml", {"b": 1})]), out)
    assert written == [out / "b" / "c" / "new.yaml"]
    assert not (out / "a").exists()  # pruned: no longer rendered
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("out", ["out", "out/", "new/deep/out"])
def test_a_relative_output_directory_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_artifacts([Artifact("t", "a/one.yaml", {"a": 1})], out)
    assert written == [Path(out) / "a" / "one.yaml"]
    assert (tmp_path / out / "a" / "one.yaml").read_text() == "a: 1\n"


def _settle() -> None:
    """Let the file system's clock (coarse: a few ms) move past what was just written."""
    time.sleep(0.05)


def test_the_stat_cache_decides_without_reading_a_file_whose_status_matches(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    arts = [Artifact("t", "a/one.yaml", {"a": 1}), Artifact("t", "two.txt", "hi", "text")]
    write_artifacts(arts, out)
    cache = json.loads((out / STAT_CACHE).read_text())
    st = (out / "a" / "one.yaml").stat()
    assert cache["files"]["a/one.yaml"][:4] == [
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
    ]
    # The entry is trusted once the file is older than the cache: a hash that no longer
    # matches then means "changed" (the file is not read), and it is rewritten.
    _settle()
    cache["files"]["a/one.yaml"][4] = "0" * 32
    (out / STAT_CACHE).write_text(json.dumps(cache))
    assert write_artifacts(arts, out) == [out / "a" / "one.yaml"]
    assert (out / "a" / "one.yaml").read_text() == "a: 1\n"


def test_a_same_size_edit_with_its_mtime_restored_is_still_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arts = [Artifact("t", "one.yaml", {"a": 1}), Artifact("t", "two.yaml", {"b": 2})]
    write_artifacts(arts, out)
    _settle()
    write_artifacts([*arts[:1], Artifact("t", "two.yaml", {"b": 3})], out)  # rewrites the cache
    _settle()
    f = out / "one.yaml"
    st = f.stat()
    f.write_text("a: 2\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as the cache has them
    assert write_artifacts(arts, out) == [f, out / "two.yaml"]
    assert f.read_text() == "a: 1\n"


def test_a_broken_stat_cache_means_reading_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arts = [Artifact("t", "one.yaml", {"a": 1})]
    write_artifacts(arts, out)
    (out / STAT_CACHE).write_text("{not json")
    assert write_artifacts(arts, out) == []
    (out / "one.yaml").write_text("a: 2\n")
    assert write_artifacts(arts, out) == [out / "one.yaml"]
    assert json.loads((out / STAT_CACHE).read_text())["version"] == 1


def test_a_fresh_directory_is_written_without_asking_for_each_file(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    arts = [Artifact("t", f"d{i % 3}/f{i}.yaml", {"i": i}) for i in range(30)]
    written = write_artifacts(arts, out)
    assert len(written) == 30
    assert all((out / a.path).read_text() == f"i: {i}\n" for i, a in enumerate(arts))
    assert write_artifacts(arts, out) == []

"""Key files created on first start: workers starting at once agree on one key, and nobody
reads a key that is half written."""

from __future__ import annotations

import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attonix.server.settings import Settings


def _keys(data_dir: Path) -> tuple[bytes, str]:
    settings = Settings(data_dir=data_dir)
    return settings.resolve_audit_key(), settings.resolve_signing_key()


def test_threads_starting_at_once_share_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _keys(tmp_path), range(32)))
    assert len(set(results)) == 1
    audit_key, signing_key = results[0]
    assert len(audit_key) == 32 and len(signing_key) > 40
    for name in ("audit.key", "signing.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    # Only the published keys remain: every candidate file was removed.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.key", "signing.key"]


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from attonix.server.settings import Settings; "
        "s = Settings(data_dir=Path(sys.argv[1])); "
        "print(s.resolve_audit_key().hex(), s.resolve_signing_key())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1 and "" not in outputs


def test_an_existing_key_is_kept(tmp_path: Path) -> None:
    first = _keys(tmp_path)
    assert _keys(tmp_path) == first

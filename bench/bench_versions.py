"""Blueprint versions of 10,000 services on the Central Server: upload, diff, findings list.

Creates a fresh PostgreSQL database, migrates it, and calls the server's own functions (the
API handlers' bodies, without HTTP) on a generated blueprint (`generate.py 10000 --databases
200 --hosts 600`, about 10,000 findings):

1. upload into one environment (load, validate, check, store), the identical text into a
   second environment (reused from the content-hash cache), and an edited text (every
   service's autoscaling ceiling raised, or with ``--edit one`` the first service's only);
2. the diff of the two versions: its first page of 500 lines (computing the whole diff), the
   next page and the whole (from the cache);
3. the findings, as the whole stored list and as a page of 100 (also filtered by rule),
   with the size of each answer's JSON — what the browser would receive.

Usage: .venv/bin/python bench/bench_versions.py [--services 10000]
Bounded: loopback only; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attonix.server import environments, pipeline
from attonix.server.audit import Actor
from attonix.server.security.envelope import KeyRing
from generate import generate_blueprint

VENV_BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "ATTONIX_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call, and its result."""
    t0 = time.perf_counter()
    out = fn()
    return round(time.perf_counter() - t0, 3), out


def size(model: Any) -> int:
    """Bytes of a pydantic answer's JSON."""
    return len(model.model_dump_json().encode())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument(
        "--edit",
        choices=("wide", "one"),
        default="wide",
        help="raise every service's autoscaling ceiling (wide) or the first one's only (one)",
    )
    opts = ap.parse_args()
    source = generate_blueprint(opts.services, databases=200, hosts=600)
    count = 1 if opts.edit == "one" else -1
    edited = source.replace("max_replicas: 9", "max_replicas: 12", count)
    name = f"atx_bench_versions_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    tmp = Path(tempfile.mkdtemp(prefix="attonix-bench-versions-"))
    os.environ.update(
        {
            "ATTONIX_DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{name}",
            "ATTONIX_DATA_DIR": str(tmp),
            "ATTONIX_KEK": KeyRing.generate_line("bench"),
            "ATTONIX_AUDIT_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "ATTONIX_LOG_LEVEL": "warning",
        }
    )
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "services": opts.services,
        "edit": opts.edit,
        "blueprint_bytes": len(source.encode()),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        attonix = str(VENV_BIN / "attonix")
        subprocess.run([attonix, "db", "upgrade"], check=True, capture_output=True)
        from attonix.server.context import build_context  # noqa: PLC0415
        from attonix.server.settings import Settings  # noqa: PLC0415

        ctx = build_context(Settings())
        who = Actor("bench")
        for env in ("prod", "stage"):
            environments.create_environment(ctx, name=env, actor=who)

        def up(env: str, text_: str) -> Any:
            return environments.upload(ctx, environment=env, source=text_, actor=who)

        t, first = timed(lambda: up("prod", source))
        results["upload"] = t
        results["upload_identical_other_environment"], _ = timed(lambda: up("stage", source))
        results["upload_edited"], _ = timed(lambda: up("prod", edited))
        results["findings"] = len(first.version.findings)
        results["cache"] = pipeline.cache_stats()
        # The first page computes the whole diff (difflib); later pages and the whole are cut
        # from the cached lines.
        t, page = timed(lambda: environments.diff(ctx, "prod", 1, 2, limit=500))
        results["diff_first_page_500_lines"] = {"s": t, "bytes": size(page)}
        cursor = page.next_cursor or 0
        t, page = timed(lambda: environments.diff(ctx, "prod", 1, 2, limit=500, cursor=cursor))
        results["diff_next_page_500_lines"] = {"s": t, "bytes": size(page)}
        t, whole = timed(lambda: environments.diff(ctx, "prod", 1, 2))
        results["diff_whole_cached"] = {"s": t, "bytes": size(whole), "lines": whole.total_lines}
        t, versions = timed(lambda: environments.list_versions(ctx, "prod"))
        results["versions_list_with_all_findings"] = {
            "s": t,
            "bytes": sum(size(v) for v in versions),
        }
        t, fpage = timed(lambda: environments.findings_page(ctx, "prod", 2, limit=100))
        results["findings_page_100"] = {"s": t, "bytes": size(fpage), "matched": fpage.matched}
        rule = first.version.findings[0].rule if first.version.findings else "ATX001"
        t, fpage = timed(lambda: environments.findings_page(ctx, "prod", 2, limit=100, rule=rule))
        results["findings_page_100_one_rule"] = {"s": t, "bytes": size(fpage)}
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The audit trail at the scale of years: filtered reads and `audit verify` over 1,000,000 entries.

Creates a fresh PostgreSQL database, migrates it (`attonix db upgrade`), and seeds a valid
MAC chain straight into `audit_log` with COPY (1,000 users plus the server itself as actors,
20 environments, 3 years of timestamps). Then, in the same run:

1. filtered reads — the query the API's GET /api/v1/audit runs (``audit.select_entries`` read
   by ``audit.read_page``, rows turned into the API's dicts), newest 100 first and a random
   deep page by cursor: one actor, one environment, one action, a one-day time range; p50 and
   p99 over many queries; then one actor and one day again with generic plans allowed (the
   read before ``read_page``) and once more with it, side by side in the same run;
2. `attonix audit verify` as a whole process, first at 10 % of the entries, then at all of
   them: wall time, the rate it reports, and its peak memory (bounded: the same at both
   sizes, as it streams a page at a time).

Usage: .venv/bin/python bench/bench_audit.py [--entries 1000000] [--queries 300]
Bounded: loopback only; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from attonix.server import audit
from attonix.server.security.envelope import KeyRing

VENV_BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "ATTONIX_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ACTIONS = (
    "auth.login",
    "auth.refresh",
    "blueprint.upload",
    "deployment.request",
    "secret.put",
    "user.update",
    "role.grant",
)
ENVIRONMENTS = tuple(f"env-{i:02d}" for i in range(20))
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=3 * 365)


def _entry(rng: random.Random, seq: int, total: int) -> dict[str, Any]:
    """One plausible entry: a third by the server itself, the rest by 1,000 users."""
    action = rng.choice(ACTIONS)
    env = rng.choice(ENVIRONMENTS)
    actor = "system" if rng.random() < 0.3 else f"user-{rng.randrange(1000):04d}"
    target, detail = "", {}
    if action == "secret.put":
        target = f"secret/{env}/db-password"
    elif action == "blueprint.upload":
        target, detail = f"environment/{env}/v{seq}", {"sha256": f"{seq:064x}", "findings": 3}
    elif action == "deployment.request":
        target, detail = f"deployment/{seq}", {"environment": env, "version": 3}
    elif action == "auth.login":
        detail = {"session": f"{seq:032x}"}
    return {
        "seq": seq,
        "at": START + SPAN * (seq / total),
        "actor": actor,
        "action": action,
        "target": target,
        "source_ip": f"10.{seq % 250}.{seq % 7}.{seq % 200}",
        "outcome": "success" if rng.random() < 0.95 else "failure",
        "detail": detail,
    }


def seed(url: str, key: bytes, start: int, stop: int, total: int) -> tuple[int, str]:
    """COPY entries ``start``..``stop - 1`` (a valid chain continuing the head) into audit_log."""
    chained = audit.chain_key(key)
    rng = random.Random(start)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        last, prev = (row[0], row[1]) if row else (0, audit.GENESIS)
        assert last == start - 1, (last, start)
        cols = "seq, at, actor, action, target, source_ip, outcome, detail, prev_hash, hash, "
        cols += "keyed, environment"
        with conn.cursor() as cur, cur.copy(f"COPY audit_log ({cols}) FROM STDIN") as copy:
            for seq in range(start, stop):
                e = _entry(rng, seq, total)
                content = audit.canonical(prev_hash=prev, **e)
                mac = hmac.new(chained, content, hashlib.sha256).hexdigest()
                env = audit.environment_of(e["target"], e["detail"])
                copy.write_row(
                    (
                        seq,
                        e["at"].replace(tzinfo=None),  # stored as naive UTC
                        e["actor"],
                        e["action"],
                        e["target"],
                        e["source_ip"],
                        e["outcome"],
                        json.dumps(e["detail"]),
                        prev,
                        mac,
                        True,
                        env,
                    )
                )
                prev = mac
        conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
            (stop - 1, prev),
        )
        # What autovacuum does to a table after bulk inserts: statistics, hint bits and the
        # visibility map (without it, the first reads of each page write it).
        conn.commit()  # VACUUM runs outside a transaction
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) audit_log")
    return stop - 1, prev


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


Reader = Callable[[Session, Any], list[audit.AuditEntry]]


def generic_plans_allowed(session: Session, query: Any) -> list[audit.AuditEntry]:
    """The page read as it was before ``audit.read_page`` asked for custom plans."""
    return list(session.execute(query).scalars())


def reads(
    url: str,
    total: int,
    queries: int,
    *,
    only: tuple[str, ...] = (),
    read: Reader = audit.read_page,
) -> dict[str, Any]:
    """p50/p99 of the API's filtered read (``audit.read_page``), newest page and a random deep
    page by cursor. The same seed gives the same queries to every ``read``."""
    engine = create_engine(url)
    rng = random.Random(7)
    kinds: dict[str, Callable[[], dict[str, Any]]] = {
        "one_actor": lambda: {"actor": f"user-{rng.randrange(1000):04d}"},
        "server_actor": lambda: {"actor": "system"},
        "one_environment": lambda: {"environment": rng.choice(ENVIRONMENTS)},
        "one_action": lambda: {"action": rng.choice(ACTIONS)},
        "one_day": lambda: _day(rng),
    }
    if only:
        kinds = {k: v for k, v in kinds.items() if k in only}
    out: dict[str, Any] = {}
    with Session(engine) as s:
        for kind, make in kinds.items():
            for page in ("newest", "deep"):
                times: list[float] = []
                rows = 0
                for _ in range(queries):
                    filters = make()
                    before = rng.randrange(total // 10, total) if page == "deep" else 0
                    t0 = time.perf_counter()
                    q = audit.select_entries(order="desc", limit=100, before=before, **filters)
                    with s.begin():
                        got = [audit.to_dict(e) for e in read(s, q)]
                    times.append(time.perf_counter() - t0)
                    rows += len(got)
                    s.expunge_all()
                out[f"{kind}_{page}"] = {**percentiles(times), "rows_per_page": rows // queries}
    engine.dispose()
    return out


def _day(rng: random.Random) -> dict[str, Any]:
    since = START + dt.timedelta(days=rng.randrange(3 * 365 - 1))
    return {"since": since, "until": since + dt.timedelta(days=1)}


def verify(env: dict[str, str]) -> dict[str, Any]:
    """`attonix audit verify`, whole process: wall time, its own reported rate, peak RSS."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(VENV_BIN / "attonix"), "audit", "verify"], env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        said = out.read().decode().strip()
    if proc.returncode != 0:
        raise SystemExit(f"audit verify failed: {said}")
    return {
        "wall_s": round(wall, 2),
        # CPU seconds of the process (start-up included): what a quiet machine's wall would be.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "said": said,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300)
    opts = ap.parse_args()
    name = f"atx_bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    tmp = Path(tempfile.mkdtemp(prefix="attonix-bench-audit-"))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    key = os.urandom(32)
    env = {
        **os.environ,
        "ATTONIX_DATABASE_URL": url,
        "ATTONIX_DATA_DIR": str(tmp),
        "ATTONIX_KEK": KeyRing.generate_line("bench"),
        "ATTONIX_AUDIT_KEY": base64.urlsafe_b64encode(key).decode(),
        "ATTONIX_LOG_LEVEL": "warning",
    }
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "entries": opts.entries,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        attonix = str(VENV_BIN / "attonix")
        subprocess.run([attonix, "db", "upgrade"], env=env, check=True, capture_output=True)
        tenth = max(1, opts.entries // 10)
        t0 = time.perf_counter()
        seed(url, key, 1, tenth + 1, opts.entries)
        results["verify_at_10_percent"] = verify(env)
        seed(url, key, tenth + 1, opts.entries + 1, opts.entries)
        seconds = time.perf_counter() - t0 - results["verify_at_10_percent"]["wall_s"]
        results["seed"] = {"seconds": round(seconds, 1), "rate": round(opts.entries / seconds)}
        results["reads"] = reads(url, opts.entries, opts.queries)
        # Side by side: the same queries with generic plans allowed (before read_page).
        results["reads_generic_plans_allowed"] = reads(
            url,
            opts.entries,
            opts.queries,
            only=("one_actor", "one_day"),
            read=generic_plans_allowed,
        )
        results["reads_again"] = reads(
            url, opts.entries, opts.queries, only=("one_actor", "one_day")
        )
        # Side by side: the same actor reads without the actor index (as before migration 0004).
        with create_engine(url).begin() as c:
            c.execute(text("DROP INDEX ix_audit_log_actor_seq"))
            c.execute(text("ANALYZE audit_log"))
        few = max(10, opts.queries // 10)
        results["reads_without_actor_index"] = reads(url, opts.entries, few, only=("one_actor",))
        results["verify"] = verify(env)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
        for p in sorted(tmp.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        tmp.rmdir()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

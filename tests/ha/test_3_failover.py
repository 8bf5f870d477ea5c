"""PostgreSQL failover under write load: the primary is stopped like a crash (``pg_ctl stop -m
immediate``), the synchronous standby is promoted, and the replicas — connected through one
multi-host URL with ``target_session_attrs=read-write`` — follow it without restarting.

During the switch clients get clean 503 problems with Retry-After (never a hang) and retry
the same idempotent write (an environment by name: a retry of a write that did commit gets
409). Afterwards every acknowledged write is read back by its key and the audit chain verifies.
This test runs last: it leaves the cluster on the promoted standby.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import harness
import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITERS = 3
MAX_WRITES = 300  # per writer
#: Between one writer's writes: 300 writes then last 15 s at least, past the failover, where an
#: unpaced budget was spent in the first 3 s on a fast machine (nothing left to write after it).
PACE_SECONDS = 0.05
MAX_SECONDS = 90


class Writers:
    """Loops that create environments through the load balancer, each retried until answered."""

    def __init__(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acked: dict[str, str] = {}  # name (the key) -> created_at, for 201 answers
        self.conflicts: list[str] = []  # retries of writes that had committed unanswered
        self.answers: Counter[str] = Counter()
        self.acked_at: list[float] = []
        self.max_latency = 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.loop, args=(k,), daemon=True) for k in range(WRITERS)
        ]
        self.deadline = time.monotonic() + MAX_SECONDS

    def note(self, what: str, latency: float) -> None:
        with self.lock:
            self.answers[what] += 1
            self.max_latency = max(self.max_latency, latency)

    def write(self, c: httpx.Client, name: str) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            t0 = time.monotonic()
            try:
                r = c.post("/api/v1/environments", json={"name": name})
            except httpx.HTTPError as exc:
                self.note(f"error {type(exc).__name__}", time.monotonic() - t0)
                time.sleep(0.5)
                continue
            latency = time.monotonic() - t0
            if r.status_code == 201:
                self.note("201", latency)
                with self.lock:
                    self.acked[name] = str(r.json()["created_at"])
                    self.acked_at.append(time.monotonic())
                return
            if r.status_code == 409:
                self.note("409", latency)
                with self.lock:
                    self.conflicts.append(name)
                return
            problem = r.headers.get("content-type", "").startswith("application/problem+json")
            retry = r.headers.get("Retry-After")
            if r.status_code == 503 and problem and retry:
                self.note("503 problem+Retry-After", latency)
                time.sleep(float(retry))
                continue
            self.note(f"{r.status_code} {r.headers.get('content-type', '')}", latency)
            time.sleep(0.5)

    def loop(self, k: int) -> None:
        with harness.lb_client(headers=self.headers, timeout=15) as c:
            for i in range(MAX_WRITES):
                if self.stop.is_set() or time.monotonic() >= self.deadline:
                    return
                self.write(c, f"fo-{k}-{i}")
                time.sleep(PACE_SECONDS)

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_primary_stopped_and_standby_promoted_loses_no_acknowledged_write(
    ha: harness.Cluster, admin_token: str, figures: Callable[..., None]
) -> None:
    before_chain = ha.cli("audit", "verify").strip()
    assert before_chain.startswith("audit chain intact")
    with Writers(admin_token) as w:
        time.sleep(3)
        acked_before = len(w.acked)
        stopped = time.monotonic()
        ha.primary.stop("immediate")  # a crash: no shutdown checkpoint
        time.sleep(1)  # what a failover manager needs to notice, at the least
        ha.standby.promote()
        promoted = time.monotonic() - stopped
        try:
            back = harness.wait_until(
                "a write acknowledged after the switch",
                lambda: any(t > stopped + promoted for t in w.acked_at),
                timeout=60,
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; answers: {dict(w.answers)}") from None
        time.sleep(3)  # and writes go on
    recovered = promoted + back
    answers = dict(w.answers)
    figures(
        writes_acknowledged=len(w.acked),
        acknowledged_before_stop=acked_before,
        retried_writes_found_committed=len(w.conflicts),
        promote_s=round(promoted, 1),
        back_after_stop_s=round(recovered, 1),
        answers=answers,
        max_latency_s=round(w.max_latency, 1),
    )
    assert recovered < 30
    # Only clean answers: created, conflict (a retry of a committed write), 503 problems.
    assert set(answers) <= {"201", "409", "503 problem+Retry-After"}, answers
    assert w.max_latency < 10  # never a hang
    # Every acknowledged write is there, read back by its key (and every retried one too).
    headers = {"Authorization": f"Bearer {admin_token}"}
    with harness.lb_client(headers=headers, timeout=15) as c:
        listed = {e["name"]: e["created_at"] for e in c.get("/api/v1/environments").json()}
    missing = {n: i for n, i in w.acked.items() if listed.get(n) != i}
    assert missing == {}
    assert all(n in listed for n in w.conflicts)
    after_chain = ha.cli("audit", "verify").strip()
    assert after_chain.startswith("audit chain intact"), after_chain
    figures(audit_chain=after_chain)
    for name in ha.replicas:  # every replica follows the new primary without a restart
        harness.wait_until(f"{name} ready", lambda n=name: ha.replica_ready(n), timeout=30)

"""Stateless API replicas behind the rendered HAProxy: shared auth state, and no failed request
when a replica is killed or every replica is restarted in turn (figures recorded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import harness
import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _get_me(token: str) -> Callable[[httpx.Client], httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    return lambda c: c.get("/api/v1/environments", headers=headers)


def test_revocation_lockout_and_rate_limit_hold_across_replicas(
    ha: harness.Cluster, figures: Callable[..., None]
) -> None:
    ha.user("ha-revoke")
    token = harness.login(harness.LB_URL, "ha-revoke", client_ip="192.0.2.10")
    auth = {"Authorization": f"Bearer {token}"}
    urls = [ha.replica_url(n) for n in ha.replicas]
    assert [httpx.get(f"{u}/api/v1/me", headers=auth).status_code for u in urls] == [200] * 3
    out = httpx.post(f"{urls[0]}/api/v1/auth/logout", headers=auth)
    assert out.status_code == 200 and out.json()["revoked_sessions"] == 1
    # At once, on every replica (including the two that had accepted it a moment ago).
    after = [httpx.get(f"{u}/api/v1/me", headers=auth).status_code for u in urls]
    assert after == [401, 401, 401]

    # Lockout: three wrong passwords, one per replica, lock the account everywhere.
    ha.user("ha-lock")
    wrong = {"username": "ha-lock", "password": "not-the-password-1"}
    xff = {"X-Forwarded-For": "192.0.2.11"}
    codes = [
        httpx.post(f"{u}/api/v1/auth/login", json=wrong, headers=xff).status_code for u in urls
    ]
    assert codes == [401, 401, 401]
    right = {"username": "ha-lock", "password": harness.PASSWORD}
    locked = [httpx.post(f"{u}/api/v1/auth/login", json=right, headers=xff) for u in urls]
    assert [r.status_code for r in locked] == [429, 429, 429]
    assert all(int(r.headers["Retry-After"]) > 0 for r in locked)

    # Rate limit per client address (8 a minute here), counted together by all replicas.
    xff = {"X-Forwarded-For": "192.0.2.12"}
    nobody = {"username": "ha-nobody", "password": "not-the-password-1"}
    seen = [
        httpx.post(f"{urls[i % 3]}/api/v1/auth/login", json=nobody, headers=xff).status_code
        for i in range(10)
    ]
    assert seen == [401] * 8 + [429, 429]
    figures(replicas=3, revoked_refused_on=3, lockout_after=3, ip_limit=8)


def _run_with_fault(
    ha: harness.Cluster, token: str, fault: Callable[[], dict[str, Any]], *, seconds: float
) -> tuple[harness.Result, dict[str, Any]]:
    load = harness.Load(_get_me(token), clients=4, max_requests=20_000, max_seconds=seconds)
    with load:
        time.sleep(2)
        info = fault()
    return load.result, info


def test_kill9_of_one_replica_under_load_fails_no_request(
    ha: harness.Cluster, admin_token: str, figures: Callable[..., None]
) -> None:
    def fault() -> dict[str, Any]:
        ha.replicas["api-b"].kill9()
        down = ha.lb_sees("api-b", up=False)
        time.sleep(2)  # keep the load on the two survivors a while
        return {"lb_marked_down_s": round(down, 1)}

    result, info = _run_with_fault(ha, admin_token, fault, seconds=60)
    summary = result.summary()
    figures(**summary, **info)
    restart = ha.start_replica("api-b")
    ha.lb_sees("api-b", up=True)
    figures(restart_to_ready_s=round(restart, 1))
    assert result.sent > 100
    assert result.failed == 0, summary


def test_rolling_restart_of_every_replica_fails_no_request(
    ha: harness.Cluster, admin_token: str, figures: Callable[..., None]
) -> None:
    timings: dict[str, float] = {}

    def fault() -> dict[str, Any]:
        for name, proc in ha.replicas.items():
            t0 = time.monotonic()
            proc.popen.send_signal(15)  # type: ignore[union-attr]
            # The drain: /readyz fails at once while requests are still served.
            assert httpx.get(f"{ha.replica_url(name)}/readyz").status_code == 503
            code = proc.popen.wait(60)  # type: ignore[union-attr]
            assert code == 0
            ha.start_replica(name)
            ha.lb_sees(name, up=True, timeout=30)
            timings[name] = round(time.monotonic() - t0, 1)
        return {"per_replica_s": timings}

    result, info = _run_with_fault(ha, admin_token, fault, seconds=240)
    summary = result.summary()
    figures(**summary, **info)
    assert len(timings) == 3
    assert result.failed == 0, summary

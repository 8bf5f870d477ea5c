"""Podman driver views and status, pure: the desired state the podman renderer hands over and
a recorded ``podman inspect`` of the container it ran as
(tests/fixtures/deploy/podman-inspect-db.json) compare equal once secret names are versioned,
and every hand-made change shows in the view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint import load_file
from attonix.deploy.podman import views
from attonix.render.podman import memory_bytes, rendered

FIXTURES = Path(__file__).parents[2] / "fixtures" / "deploy"


def _inspect() -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "podman-inspect-db.json").read_text()))


def _desired() -> dict[str, Any]:
    bp = load_file(FIXTURES / "shop-podman.yaml").blueprint
    db = rendered(bp).of("podman", "podman-test").workload("attonix-ptest-db")
    assert db is not None
    # the driver fills in the versioned name the recorded container mounted
    live_secret = next(
        m["Name"] for m in _inspect()["Mounts"] if m["Destination"] == "/run/secrets/db"
    )
    (base,) = {m.ref.base for m in db.secrets}
    return views.pod_view(db, secret_names={base: live_secret})


def _entry(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "info": info,
        "view": views.container_view(info, image_env=["PATH=/bin"]),
        "running": views.running(info),
        "pod": info["Pod"],
    }


def test_untouched_pod_compares_equal_to_the_rendered_yaml() -> None:
    want = _desired()
    assert views.service_view(want, [_entry(_inspect())]) == want
    assert want["health"] == "http://localhost:38433/healthz"
    assert want["ports"] == ["127.0.0.1:38433->38433/tcp"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda i: i["Config"]["Env"].append("DEBUG=1"), "env"),
        (lambda i: i["Config"].update(Image="localhost/attonix-test-httpd:2"), "image"),
        (lambda i: i["HostConfig"].update(ReadonlyRootfs=False), "read_only"),
        (lambda i: i["Mounts"].pop(), "mounts"),
        (lambda i: i["State"].update(Running=False, Status="exited"), "replicas"),
    ],
)
def test_hand_made_changes_show_in_the_view(edit: Any, field: str) -> None:
    want = _desired()
    info = _inspect()
    edit(info)
    seen = views.service_view(want, [_entry(info)])
    assert seen is not None
    assert [k for k in want if want[k] != seen[k]] == [field]


def test_the_changed_replica_is_the_one_shown() -> None:
    want = _desired()
    changed = _inspect()
    changed["Config"]["Env"].append("DEBUG=1")
    seen = views.service_view(want, [_entry(_inspect()), _entry(changed)])
    assert seen is not None and seen["env"]["DEBUG"] == "1" and seen["replicas"] == 2


def test_status_reports_restarts_exits_and_missing_pods() -> None:
    up = _entry(_inspect())
    restarted = _entry({**_inspect(), "RestartCount": 2})
    down_info = _inspect()
    down_info["State"] = {"Status": "exited", "Running": False, "ExitCode": 137}
    down = _entry(down_info)
    st = views.service_status("db", desired=3, containers=[restarted, down], healthy=1, image="i")
    assert (st.desired, st.running, st.healthy, st.converged) == (3, 1, 1, False)
    assert st.message == (
        "attonix-ptest-db-pod-0-db is exited (exit code 137); 1 of 3 pods missing; "
        "restarted 2 time(s) by Podman"
    )
    ok = views.service_status("db", desired=1, containers=[up], healthy=1, image="i")
    assert ok.converged and ok.message == ""
    sick = views.service_status("db", desired=1, containers=[up], healthy=0, image="i")
    assert sick.message == "1 running but not healthy"
    orphan = views.service_status(
        "x", desired=0, containers=[up], healthy=1, image="i", orphan=True
    )
    assert orphan.message.startswith("not in the blueprint")
    assert views.service_status("db", desired=1, containers=[], healthy=0, image="i").message == (
        "not deployed"
    )


def test_memory_quantities() -> None:
    assert memory_bytes("64Mi") == 64 << 20
    assert memory_bytes("1G") == 10**9
    with pytest.raises(ValueError, match="not a memory quantity"):
        memory_bytes("lots")

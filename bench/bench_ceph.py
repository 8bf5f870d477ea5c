"""Time plan and apply of many pools and buckets on a real Ceph (a throwaway one-mon, one-mgr,
three-OSD cluster with a radosgw on loopback, started here as the tests do), then a no-op plan
and destroy. Each object pool gets a gateway placement target for its bucket. Apply stops once
for the gateway restart its new placement targets need; the restart and the second apply are
counted in the apply figure.

Per phase: wall time, and the CPU time (user + sys) of this process and of the CLI processes
it ran (``radosgw-admin``, ``rbd``, ``ceph``); the daemons' own CPU is not counted. Monitor
commands go through librados unless ``--cli`` sends them through the ``ceph`` CLI.

    .venv/bin/python bench/bench_ceph.py [--pools 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "ceph"))

from _cluster import running

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource
from attonix.deploy.ceph import CephDriver

SERVICES = 10


def blueprint(n: int) -> str:
    """``n`` object pools, one bucket with a quota on each, owned by ten services."""
    pools = "".join(
        f"        - {{name: pool-{i}, type: object, replicas: 3, min_size: 2,"
        f" buckets: [{{name: bucket-{i:03d}, service: svc-{i % SERVICES}, quota: 10Mi}}]}}\n"
        for i in range(n)
    )
    svcs = "".join(
        f"    - {{name: svc-{i}, cluster: pods, image: localhost/x:1, replicas: 1,"
        f" ports: [{{name: http, port: 8080}}]}}\n"
        for i in range(SERVICES)
    )
    return f"""
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {{name: bench, environment: bench, domain: bench.example.com}}
hosts: [{{name: node-1, address: 127.0.0.1, zone: a, rack: r, roles: [compute, storage]}}]
orchestration:
  clusters: [{{name: pods, kind: podman, workers: [node-1]}}]
security:
  tls: {{ca: {{name: ca, common_name: CA}}}}
storage:
  ceph:
    - name: store
      mode: hosts
      hosts: [node-1]
      pools:
{pools}services:
  backend:
{svcs}"""


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + sys) of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class Phase:
    """Wall and CPU time of one phase."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.me, self.kids = _cpu()

    def done(self) -> str:
        me, kids = _cpu()
        return (
            f"{time.perf_counter() - self.wall:.1f} s "
            f"(CPU {me - self.me:.1f} s Attonix + {kids - self.kids:.1f} s CLIs)"
        )


def main() -> None:
    """Start the cluster, plan, apply, plan again, destroy; print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--cli", action="store_true", help="monitor commands through the CLI")
    args = parser.parse_args()
    bp = load_bytes(blueprint(args.pools)).blueprint
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with running() as cluster:
        state = Path(tempfile.mkdtemp(prefix="attonix-bench-ceph-"))
        (state / "connections.yaml").write_text(
            f"ceph:\n  store: {{conf: {cluster.conf}, keyring: {cluster.keyring},"
            f" rgw_url: '{cluster.rgw_url}'}}\n"
        )
        os.environ["ATTONIX_CONNECTIONS"] = str(state / "connections.yaml")
        drv = CephDriver(
            bp,
            cluster="store",
            secrets=EnvSecretSource([], environ={}),
            state=state,
            librados=False if args.cli else None,
        )
        print(f"monitor commands through {'librados' if drv.admin.uses_librados else 'the CLI'}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        t = Phase()
        plan = drv.plan()
        t_plan = t.done()
        t = Phase()
        result = drv.apply(plan)
        t_restart = 0.0
        if not result.ok and "when they restart" in result.error:
            # The new placement targets take effect when the gateway restarts (no realm).
            r = time.perf_counter()
            cluster.restart_rgw()
            t_restart = time.perf_counter() - r
            result = drv.apply(drv.plan())
        t_apply = t.done()
        assert result.ok, result.error
        t = Phase()
        assert drv.plan().is_empty
        t_noop = t.done()
        t = Phase()
        assert drv.destroy().ok
        t_destroy = t.done()
    print(
        f"ceph: {args.pools} pools + {args.pools} buckets, {len(plan.changes)} objects:\n"
        f"  plan {t_plan}\n"
        f"  apply (incl. verifying plan, one gateway restart of {t_restart:.1f} s and the "
        f"second plan) {t_apply}\n"
        f"  no-op plan {t_noop}\n"
        f"  destroy {t_destroy}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

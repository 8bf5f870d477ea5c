"""Time plan and apply of many databases on a real PostgreSQL and MariaDB, each declared
database consumed by one service (3 groups + 3 logins per database), then a no-op plan and
destroy. The servers are throwaway ones started here on spare ports (as the tests do).

    .venv/bin/python bench/bench_databases.py [--databases 100] [--engine postgresql|mysql|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "databases"))

from _clusters import start_mariadb, start_pg, temp_base

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource
from attonix.deploy.databases import DatabaseDriver

HBA = ["local all all scram-sha-256", "host all all 127.0.0.1/32 scram-sha-256"]


def blueprint(n: int, engine: str) -> str:
    """A blueprint with ``n`` databases of ``engine``, each used by its own service."""
    dbs = "".join(
        f"  - {{name: db-{i}, engine: {engine}, version: '15', cluster: k8s, replicas: 1,"
        f" credentials_secret: admin, database: bench_{i}, tls: false}}\n"
        for i in range(n)
    )
    svcs = "".join(
        f"    - {{name: svc-{i}, cluster: k8s, image: localhost/x:1, replicas: 1,"
        f" ports: [{{name: http, port: 8080}}], databases: [db-{i}]}}\n"
        for i in range(n)
    )
    return f"""
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {{name: bench, environment: bench, domain: bench.example.com}}
hosts: [{{name: node-1, address: 127.0.0.1, zone: a, rack: r, roles: [compute]}}]
orchestration:
  clusters: [{{name: k8s, kind: kubernetes, version: "1.33", control_plane: [node-1]}}]
security:
  tls: {{ca: {{name: ca, common_name: CA}}}}
  secrets: [{{name: admin, keys: [username, password]}}]
storage:
  ceph:
    - {{name: rook, kubernetes_cluster: k8s,
       pools: [{{name: blk, type: block}}, {{name: obj, type: object}}]}}
databases:
{dbs}services:
  backend:
{svcs}"""


def run(engine: str, n: int, port: int, user: str, password: str) -> None:
    """Plan, apply, plan again, destroy; print the figures."""
    bp = load_bytes(blueprint(n, engine)).blueprint
    state = Path(tempfile.mkdtemp(prefix="attonix-bench-db-"))
    (state / "connections.yaml").write_text(
        "databases:\n" + "".join(f"  db-{i}: {{host: 127.0.0.1, port: {port}}}\n" for i in range(n))
    )
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={"ATTONIX_SECRET_ADMIN_USERNAME": user, "ATTONIX_SECRET_ADMIN_PASSWORD": password},
    )
    drv = DatabaseDriver(bp, cluster="all", secrets=secrets, state=state)
    t = time.perf_counter()
    plan = drv.plan()
    t_plan = time.perf_counter() - t
    t = time.perf_counter()
    result = drv.apply(plan)
    t_apply = time.perf_counter() - t
    assert result.ok, result.error
    t = time.perf_counter()
    again = drv.plan()
    t_noop = time.perf_counter() - t
    assert again.is_empty
    t = time.perf_counter()
    assert drv.destroy().ok
    t_destroy = time.perf_counter() - t
    print(
        f"{engine}: {n} databases, {len(plan.changes)} objects: plan {t_plan:.2f} s, "
        f"apply (incl. verifying plan) {t_apply:.2f} s, no-op plan {t_noop:.2f} s, "
        f"destroy {t_destroy:.2f} s"
    )


def main() -> None:
    """Start the servers, run, stop them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.engine in ("postgresql", "both"):
        with temp_base("attonix-bench-pg-") as base:
            pg = start_pg(base, hba=HBA)
            try:
                run("postgresql", args.databases, pg.port, pg.superuser, pg.password)
            finally:
                pg.stop()
    if args.engine in ("mysql", "both"):
        with temp_base("attonix-bench-maria-") as base:
            maria = start_mariadb(base)
            try:
                run("mysql", args.databases, maria.port, maria.admin, maria.password)
            finally:
                maria.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

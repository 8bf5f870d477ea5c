"""Generate large, valid blueprints for benchmarks.

``generate_blueprint(1000, databases=50, hosts=200)`` returns the YAML text of a data center
with 1,000 backend services spread over one Kubernetes cluster, 50 PostgreSQL databases and
200 hosts in three zones (two racks per zone). The result loads, validates and passes the
policy checks, so benchmarks measure the normal path rather than error reporting.

Command line::

    python bench/generate.py 1000 [--databases 50] [--hosts 200] > big.yaml
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

ZONES = ("zone-a", "zone-b", "zone-c")
_CONTROL_PLANE = 3
_LOAD_BALANCERS = 2
_CEPH_HOSTS = 6


def _hosts(count: int) -> list[dict[str, Any]]:
    hosts: list[dict[str, Any]] = []
    for i in range(count):
        zone = ZONES[i % len(ZONES)]
        rack = f"rack-{zone[-1]}{(i // len(ZONES)) % 2 + 1}"
        if i < _CONTROL_PLANE:
            name, roles = f"cp-{i}", ["compute"]
        elif i < _CONTROL_PLANE + _LOAD_BALANCERS:
            name, roles = f"lb-{i}", ["load-balancer"]
        else:
            name, roles = f"wk-{i}", ["compute", "storage"]
        hosts.append(
            {
                "name": name,
                "address": f"10.{100 + i // 65536}.{(i // 256) % 256}.{i % 256}",
                "zone": zone,
                "rack": rack,
                "roles": roles,
            }
        )
    return hosts


def generate_blueprint(services: int, *, databases: int, hosts: int) -> str:
    """Return the YAML text of a valid blueprint with the given numbers of components.

    ``hosts`` must leave room for three control-plane nodes, two load balancers and three
    workers (at least 8).
    """
    if hosts < _CONTROL_PLANE + _LOAD_BALANCERS + 3:
        raise ValueError("hosts must be at least 8 (control plane, load balancers, workers)")
    if services < 0 or databases < 0:
        raise ValueError("services and databases cannot be negative")
    host_list = _hosts(hosts)
    control = [h["name"] for h in host_list[:_CONTROL_PLANE]]
    lbs = [h["name"] for h in host_list[_CONTROL_PLANE : _CONTROL_PLANE + _LOAD_BALANCERS]]
    workers = [h["name"] for h in host_list[_CONTROL_PLANE + _LOAD_BALANCERS :]]
    db_list = [
        {
            "name": f"pg-{i}",
            "engine": "postgresql",
            "primary": i == 0,
            "version": "16",
            "cluster": "k8s",
            "replicas": 3,
            "synchronous_replicas": 1,
            "storage": {"size": "20Gi", "pool": "block"},
            "backup": {"object_pool": "objects"},
            "credentials_secret": f"pg-{i}-credentials",
        }
        for i in range(databases)
    ]
    service_list = [
        {
            "name": f"svc-{i}",
            "cluster": "k8s",
            "namespace": f"team-{i % 20}",
            "image": f"registry.example.internal/team-{i % 20}/svc-{i}:1.{i % 7}.0",
            "replicas": 3,
            "ports": [{"name": "http", "port": 8000}],
            "autoscaling": {"min_replicas": 3, "max_replicas": 9},
            "databases": [f"pg-{i % databases}"] if databases else [],
            "env": {"LOG_FORMAT": "json", "SERVICE_INDEX": str(i)},
            "zone": "app",
        }
        for i in range(services)
    ]
    doc: dict[str, Any] = {
        "apiVersion": "attonix.io/v1",
        "kind": "DataCenter",
        "metadata": {"name": "generated", "domain": "example.com"},
        "hosts": host_list,
        "orchestration": {
            "clusters": [
                {
                    "name": "k8s",
                    "kind": "kubernetes",
                    "version": "1.35",
                    "control_plane": control,
                    "workers": workers,
                }
            ]
        },
        "storage": {
            "ceph": [
                {
                    "name": "ceph",
                    "kubernetes_cluster": "k8s",
                    "monitors": 3,
                    "hosts": workers[:_CEPH_HOSTS],
                    "failure_domain": "zone",
                    "pools": [
                        {"name": "block", "type": "block", "default": True},
                        {"name": "objects", "type": "object"},
                    ],
                }
            ]
        },
        "security": {
            "tls": {"min_version": "1.3", "ca": {"name": "ca", "common_name": "Generated CA"}},
            "firewall": {
                "default_policy": "deny",
                "zones": [
                    {"name": "dmz", "cidrs": ["10.0.0.0/24"]},
                    {"name": "app", "cidrs": ["10.1.0.0/16"]},
                ],
                "rules": [
                    {"name": "public", "source": "internet", "destination": "dmz", "ports": [443]},
                    {"name": "dmz-app", "source": "dmz", "destination": "app", "ports": [8000]},
                ],
            },
            "secrets": [{"name": f"pg-{i}-credentials"} for i in range(databases)],
        },
        "databases": db_list,
        "services": {"backend": service_list},
        "ha": {
            "failure_domain": "zone",
            "load_balancers": [
                {
                    "name": "edge",
                    "hosts": lbs,
                    "virtual_ip": "10.99.0.10",
                    "frontends": [
                        {"name": "k8s-api", "port": 6443, "protocol": "tcp", "backend": "k8s"}
                    ],
                }
            ],
        },
    }
    text: str = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120)
    return text


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """The options that size the generated data center: ``services`` (1,000 unless given),
    ``--databases`` and ``--hosts``, as the benchmarks of one generated blueprint take them."""
    parser.add_argument("services", type=int, nargs="?", default=1000)
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=200)


def main(argv: list[str] | None = None) -> int:
    """Write a generated blueprint to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", type=int, help="number of backend services")
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        text = generate_blueprint(args.services, databases=args.databases, hosts=args.hosts)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A small site with one cluster of each kind, for tests that render the same services on
Kubernetes, Swarm and Podman. ``site(services=..., databases=...)`` splices YAML lists in."""

from __future__ import annotations

import textwrap

from attonix.blueprint.loader import Loaded, load_bytes
from attonix.blueprint.model import Blueprint

SITE = """
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {name: site, environment: prod, domain: site.example.com}
hosts:
  - {name: cp-1, address: 10.0.0.10, zone: z1, rack: r1}
  - {name: n-1, address: 10.0.1.11, zone: z1, rack: r1, disks: [/dev/sdb]}
  - {name: n-2, address: 10.0.2.12, zone: z2, rack: r2, disks: [/dev/sdb]}
  - {name: n-3, address: 10.0.3.13, zone: z3, rack: r3, disks: [/dev/sdb]}
  - {name: s-1, address: 10.0.4.11, zone: z1, rack: r4}
  - {name: s-2, address: 10.0.5.12, zone: z2, rack: r5}
  - {name: p-1, address: 10.0.6.11, zone: z1, rack: r6}
orchestration:
  clusters:
    - {name: kube, kind: kubernetes, version: "1.35", control_plane: [cp-1],
       workers: [n-1, n-2, n-3]}
    - {name: swarm, kind: swarm, control_plane: [s-1], workers: [s-1, s-2]}
    - {name: podman, kind: podman, workers: [p-1]}
storage:
  ceph:
    - name: ceph
      kubernetes_cluster: kube
      hosts: [n-1, n-2, n-3]
      pools:
        - {name: block, type: block, default: true}
        - {name: objects, type: object}
security:
  tls:
    ca: {name: site-ca, common_name: Site CA}
  firewall:
    zones:
      - {name: app, cidrs: [10.60.2.0/24]}
      - {name: data, cidrs: [10.60.3.0/24]}
    rules:
      - {name: app-to-data, source: app, destination: data, ports: [5432, 6379]}
  secrets:
    - {name: db-creds, keys: [username, password]}
DATABASES
services:
  backend:
SERVICES
"""


def text(*, services: str = "", databases: str = "") -> str:
    """The site's YAML with ``services`` (backend list items) and ``databases`` spliced in."""
    body = SITE.replace("SERVICES", textwrap.indent(textwrap.dedent(services), "    ") or "    []")
    dbs = f"databases:\n{textwrap.indent(textwrap.dedent(databases), '  ')}" if databases else ""
    return body.replace("DATABASES", dbs).replace("  backend:\n    []", "  backend: []")


def load(*, services: str = "", databases: str = "") -> Loaded:
    """Load the site (raises ``BlueprintInvalid`` with every problem)."""
    return load_bytes(text(services=services, databases=databases), file="site.yaml")


def site(*, services: str = "", databases: str = "") -> Blueprint:
    """The site's blueprint."""
    return load(services=services, databases=databases).blueprint

"""Small blueprints for the Kubernetes renderer tests."""

from __future__ import annotations

from attonix.blueprint.loader import load_bytes
from attonix.blueprint.model import Blueprint

SMALL = """
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {name: small, environment: prod, domain: small.example.com}
hosts:
  - {name: cp-1, address: 10.0.0.10, zone: z1, rack: r1}
  - {name: n-1, address: 10.0.1.11, zone: z1, rack: r1, disks: [/dev/sdb]}
  - {name: n-2, address: 10.0.2.12, zone: z2, rack: r2, disks: [/dev/sdb]}
  - {name: n-3, address: 10.0.3.13, zone: z3, rack: r3, disks: [/dev/sdb]}
orchestration:
  clusters:
    - {name: kube, kind: kubernetes, version: "VERSION", control_plane: [cp-1],
       workers: [n-1, n-2, n-3], ingress_custom_headers: true}
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
    ca: {name: small-ca, common_name: Small CA}
  access_control:
    bindings:
      - {role: developer, environments: [prod], groups: [devs], users: [erin]}
      - {role: admin, environments: [staging], groups: [ops]}
  secrets:
    - {name: pg-creds, keys: [username, password]}
    - {name: ba-creds, keys: [username, password]}
    - {name: api-key}
users:
  groups: [{name: devs}, {name: ops}]
  accounts: [{name: erin, email: erin@small.example.com}]
databases:
  - {name: pg, engine: postgresql, version: "16", cluster: kube, replicas: 3,
     synchronous_replicas: 1, credentials_secret: pg-creds, backup: {object_pool: objects}}
  - {name: ba, engine: biganimal, version: "16", credentials_secret: ba-creds,
     managed: {region: eu-west-1, endpoint: ba.example.biganimal.io}}
services:
  backend:
    - {name: api, cluster: kube, namespace: app, image: "localhost/api:1",
       ports: [{name: http, port: 8000}], databases: [pg, ba], depends_on: [worker],
       secrets: [{secret: api-key}], expose: {host: api.small.example.com},
       autoscaling: {min_replicas: 2, max_replicas: 5}}
    - {name: worker, cluster: kube, namespace: app, image: "localhost/worker:1",
       ports: [{name: metrics, port: 9000}], replicas: 1}
    - {name: lonely, cluster: kube, namespace: other, image: "localhost/lonely:1",
       ports: [{name: http, port: 7000}], stateful: true,
       volumes: [{name: data, size: 1Gi, mount_path: /data}]}
  frontend:
    - {name: web, cluster: kube, namespace: web, image: "localhost/web:1",
       ports: [{name: http, port: 8080}], backends: [api], expose: {host: small.example.com},
       content_security_policy: "default-src 'self'; connect-src https://api.small.example.com"}
"""


def small(version: str = "1.35") -> Blueprint:
    """The small blueprint, for a given Kubernetes version."""
    return load_bytes(SMALL.replace("VERSION", version), file="small.yaml").blueprint

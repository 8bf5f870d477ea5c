"""Component ids (``kind/name``) and the blueprint path of each component.

Findings name the component they are about so that a blueprint exception can waive exactly
that component (``service/api``), and so that an exception naming something that does not
exist can be reported. Every id a rule can produce is listed by ``all_components``.
"""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.diagnostics import Path
from attonix.blueprint.model import Blueprint, Frontend, Service

# Settings that are not named items in a list get a fixed id.
SECTIONS: dict[str, Path] = {
    "security/tls": ("security", "tls"),
    "security/ca": ("security", "tls", "ca"),
    "security/encryption": ("security", "encryption"),
    "security/firewall": ("security", "firewall"),
    "security/access-control": ("security", "access_control"),
    "users/identity-provider": ("users", "identity_provider"),
    "users/password-policy": ("users", "password_policy"),
    "policy/exceptions": ("policy", "exceptions"),
    "cicd/zuul": ("cicd", "zuul"),
}


def workloads(bp: Blueprint) -> Iterator[tuple[Path, str, Service | Frontend]]:
    """Every backend service and frontend with its path and component id."""
    for i, s in enumerate(bp.services.backend):
        yield ("services", "backend", i), f"service/{s.name}", s
    for i, f in enumerate(bp.services.frontend):
        yield ("services", "frontend", i), f"frontend/{f.name}", f


def workload_component(bp: Blueprint, name: str) -> str:
    """The component id of the workload called ``name``."""
    return (
        "frontend/" + name
        if any(f.name == name for f in bp.services.frontend)
        else ("service/" + name)
    )


def all_components(bp: Blueprint) -> dict[str, Path]:
    """Every component id of the blueprint, mapped to its path."""
    out: dict[str, Path] = dict(SECTIONS)
    for i, h in enumerate(bp.hosts):
        out[f"host/{h.name}"] = ("hosts", i)
    for i, c in enumerate(bp.orchestration.clusters):
        out[f"cluster/{c.name}"] = ("orchestration", "clusters", i)
    for i, ceph in enumerate(bp.storage.ceph):
        out[f"ceph/{ceph.name}"] = ("storage", "ceph", i)
        for j, p in enumerate(ceph.pools):
            out[f"pool/{p.name}"] = ("storage", "ceph", i, "pools", j)
    for i, o in enumerate(bp.storage.openstack):
        out[f"openstack/{o.name}"] = ("storage", "openstack", i)
    for i, v in enumerate(bp.storage.vsphere):
        out[f"vsphere/{v.name}"] = ("storage", "vsphere", i)
    for i, r in enumerate(bp.security.firewall.rules):
        out[f"firewall-rule/{r.name}"] = ("security", "firewall", "rules", i)
    for i, s in enumerate(bp.security.secrets):
        out[f"secret/{s.name}"] = ("security", "secrets", i)
    for i, pipeline in enumerate(bp.cicd.pipelines):
        out[f"pipeline/{pipeline.name}"] = ("cicd", "pipelines", i)
    for i, d in enumerate(bp.databases):
        out[f"database/{d.name}"] = ("databases", i)
    for path, component, _ in workloads(bp):
        out[component] = path
    for i, lb in enumerate(bp.ha.load_balancers):
        out[f"load-balancer/{lb.name}"] = ("ha", "load_balancers", i)
    for i, a in enumerate(bp.users.accounts):
        out[f"account/{a.name}"] = ("users", "accounts", i)
    return out

"""The explicit list of render targets. Each entry names the module and function that renders
it; modules are imported only when their target is asked for (no import side effects)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact, RenderError

Renderer = Callable[..., Sequence[Artifact]]

#: target name -> ("module", "function", one-line description)
TARGETS: dict[str, tuple[str, str, str]] = {
    "kubernetes": (
        "attonix.render.kubernetes",
        "render",
        "Kustomize tree per cluster: workloads, NetworkPolicies, RBAC, "
        "cert-manager, Rook-Ceph, database operators",
    ),
    "swarm": ("attonix.render.swarm", "render", "Compose-spec stack file per swarm cluster"),
    "podman": (
        "attonix.render.podman",
        "render",
        "Kubernetes YAML for podman kube play plus Quadlet units",
    ),
    "cloud-init": (
        "attonix.render.cloudinit",
        "render",
        "cloud-init user-data per Ubuntu host: users, SSH, hardening, packages",
    ),
    "nftables": (
        "attonix.render.nftables",
        "render",
        "nftables ruleset per host from the firewall zones and rules",
    ),
    "chef": ("attonix.render.chef", "render", "Chef cookbook, roles and policy for the hosts"),
    "cicd": (
        "attonix.render.cicd",
        "render",
        "Zuul tenant and jobs, GitHub Actions workflows, GitLab CI pipelines",
    ),
    "openstack": ("attonix.render.openstack", "render", "OpenStack Heat templates"),
    "vsphere": ("attonix.render.vsphere", "render", "vSphere VM and cluster specifications"),
    "diagram": ("attonix.render.diagram", "render", "Architecture diagram (SVG and Mermaid)"),
}


def renderer(target: str) -> Renderer:
    """The render function for ``target``."""
    try:
        module_name, func, _ = TARGETS[target]
    except KeyError:
        raise RenderError(
            f"unknown target {target!r}",
            hint=f"Use one of: {', '.join(sorted(TARGETS))}.",
        ) from None
    module = importlib.import_module(module_name)
    fn: Renderer = getattr(module, func)
    return fn


def render(blueprint: Blueprint, target: str, **options: Any) -> list[Artifact]:
    """Render ``blueprint`` for ``target``; options are the target's own keyword arguments."""
    return list(renderer(target)(blueprint, **options))

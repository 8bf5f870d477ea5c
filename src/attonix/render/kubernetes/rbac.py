"""Roles and RoleBindings from ``security.access_control``: each Attonix role is mapped to the
least-privileged Kubernetes permissions that let it do its job, per workload namespace."""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import RoleBinding, RoleName
from attonix.render.kubernetes._context import Ctx, obj

RBAC = "rbac.authorization.k8s.io"
GROUP_PREFIX = "attonix:"

_READ = ["get", "list", "watch"]
_WORKLOADS = ["deployments", "statefulsets", "replicasets", "daemonsets"]

#: The rules of the Roles Attonix renders. No role may read Secrets: their values reach the
#: cluster from the Central Server's vault, not through people.
ROLE_RULES: dict[RoleName, list[dict[str, Any]]] = {
    "admin": [
        {
            "apiGroups": [""],
            "resources": ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        # Admins may rotate Secrets but never read them back.
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": [*_READ]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        {
            "apiGroups": ["apps"],
            "resources": _WORKLOADS,
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": ["policy"],
            "resources": ["poddisruptionbudgets"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "networkpolicies"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": [*_READ]},
    ],
    "operator": [
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "pods/log",
                "events",
                "services",
                "configmaps",
                "persistentvolumeclaims",
            ],
            "verbs": [*_READ],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        {"apiGroups": ["apps"], "resources": _WORKLOADS, "verbs": [*_READ, "patch"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale", "statefulsets/scale"],
            "verbs": ["get", "update", "patch"],
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": [*_READ, "patch"],
        },
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": [*_READ]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "networkpolicies"],
            "verbs": [*_READ],
        },
    ],
    "developer": [
        {
            "apiGroups": [""],
            "resources": ["pods", "pods/log", "events", "services", "configmaps"],
            "verbs": [*_READ],
        },
        {"apiGroups": ["apps"], "resources": _WORKLOADS, "verbs": [*_READ]},
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": [*_READ],
        },
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": [*_READ]},
    ],
    "auditor": [
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "events",
                "services",
                "configmaps",
                "serviceaccounts",
                "persistentvolumeclaims",
            ],
            "verbs": [*_READ],
        },
        {"apiGroups": ["apps"], "resources": _WORKLOADS, "verbs": [*_READ]},
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": [*_READ],
        },
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": [*_READ]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "networkpolicies"],
            "verbs": [*_READ],
        },
        {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": [*_READ]},
    ],
}


def role_name(role: RoleName) -> str:
    """The name of the Role rendered for an Attonix role."""
    return f"attonix-{role}"


def subjects(binding: RoleBinding) -> list[dict[str, Any]]:
    """Group subjects ``attonix:<group>`` and User subjects ``<user>``, sorted."""
    out = [
        {"kind": "Group", "apiGroup": RBAC, "name": GROUP_PREFIX + g}
        for g in sorted(set(binding.groups))
    ]
    out += [{"kind": "User", "apiGroup": RBAC, "name": u} for u in sorted(set(binding.users))]
    return out


def rbac(ctx: Ctx) -> list[dict[str, Any]]:
    """Roles and RoleBindings for the bindings that apply to this blueprint's environment."""
    env = ctx.bp.metadata.environment
    bindings = [b for b in ctx.bp.security.access_control.bindings if env in b.environments]
    used: dict[RoleName, list[dict[str, Any]]] = {}
    for b in bindings:
        used.setdefault(b.role, []).extend(subjects(b))
    out: list[dict[str, Any]] = []
    for ns in ctx.workload_namespaces():
        for role in sorted(used):
            labels = ctx.labels(role_name(role), component="rbac")
            out.append(
                obj(
                    f"{RBAC}/v1",
                    "Role",
                    role_name(role),
                    namespace=ns,
                    labels=labels,
                    rules=ROLE_RULES[role],
                )
            )
            subs = sorted(
                {(s["kind"], s["name"]): s for s in used[role]}.values(),
                key=lambda s: (s["kind"], s["name"]),
            )
            out.append(
                obj(
                    f"{RBAC}/v1",
                    "RoleBinding",
                    role_name(role),
                    namespace=ns,
                    labels=labels,
                    subjects=subs,
                    roleRef={"apiGroup": RBAC, "kind": "Role", "name": role_name(role)},
                )
            )
    return out

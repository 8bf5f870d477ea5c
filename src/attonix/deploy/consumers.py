"""Switching a database's consumers to a new login through the deploy engine.

The middle step of a credential rotation (:mod:`attonix.deploy.databases.rotation`): once the
new version of a service's login is current in the credential store, the service's engine
secret (:func:`~attonix.render.workloads.consumer_secret`, filled by
:class:`~attonix.deploy.credentials.ConsumerCredentials`) gets a new versioned name, so a
converge of the service's Swarm or Podman cluster creates the new secret and rolls the service
onto it — the same lock → plan → apply → wait → verify path as ``attonix apply``. On a
Kubernetes cluster the Secret keeps its name and gets the new values, and the versioned name
its consumers' pod template carries (:data:`attonix.deploy.kubernetes.SECRET_VERSIONS`)
changes, so the Deployment or StatefulSet rolls its pods. The rotation drops the old login only
after this returns, i.e. once every replica runs with the new one.
"""

from __future__ import annotations

from attonix.blueprint.model import Blueprint
from attonix.deploy import get_driver
from attonix.deploy.base import DeployError, Progress, no_progress
from attonix.deploy.connections import ConnectionsFile
from attonix.deploy.converging import converge
from attonix.deploy.secrets import SecretSource

#: Engines whose services Attonix itself rolls onto a new secret.
ENGINES = ("swarm", "podman", "kubernetes")


def switch_consumers(
    bp: Blueprint,
    service: str,
    kind: str = "app",
    *,
    secrets: SecretSource,
    connections: ConnectionsFile | None = None,
    progress: Progress = no_progress,
    timeout: float = 300,
) -> str:
    """Converge the cluster that runs ``service`` so it uses the current ``kind`` login;
    return what was done in one line. Raise :class:`DeployError` if the rollout fails (the
    rotation then stops before the old login is dropped, and a rerun repeats this step)."""
    if kind != "app":
        line = f"the {kind} login is not mounted into {service}'s containers: nothing to roll"
        progress(line)
        return line
    found = [s for s in bp.services.backend if s.name == service]
    if not found:
        raise DeployError(f"the blueprint declares no backend service {service!r}")
    cluster = bp.clusters_by_name.get(found[0].cluster)
    if cluster is None or cluster.kind not in ENGINES:
        where = f"{cluster.kind} cluster {cluster.name}" if cluster else "no cluster"
        line = f"{service} runs on {where}: not rolled by Attonix; its replicas must reread "
        line += "the credential themselves"
        progress(line)
        return line
    driver = get_driver(
        cluster.kind, bp, cluster=cluster.name, secrets=secrets, connections=connections
    )
    progress(f"rolling {service} on {cluster.kind} cluster {cluster.name} onto the new login")
    outcome = converge(driver, progress=progress, timeout=timeout)
    if not outcome.ok:
        raise DeployError(
            f"switching {service} on {cluster.kind} cluster {cluster.name} failed: {outcome.error}",
            hint="Fix the cluster (attonix status), then run the same rotation again: it "
            "resumes at the switch and the old login stays valid meanwhile.",
        )
    changed = len(outcome.plan.pending)
    line = f"{cluster.kind} cluster {cluster.name}: {changed} change(s) applied, all converged"
    progress(line)
    return line

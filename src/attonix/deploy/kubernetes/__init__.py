"""Kubernetes driver: applies the kubernetes renderer's kustomize tree with ``kubectl``.

kubectl rather than a Python client: it adds no dependency, its server-side apply is the
API server's own (the same semantics any client gets), and it builds kustomize trees itself.

* plan — ``kubectl diff --server-side --field-manager=attonix`` of the rendered objects and
  the declared secrets they reference gives the creates and updates; objects carrying the
  blueprint's labels that the rendered set no longer holds are planned for deletion.
* apply — secrets first, as ``Secret`` objects piped to ``kubectl apply -f -`` (values never
  touch the disk or the command line), then ``kubectl apply --server-side -k`` of the tree,
  then the deletions, then ``kubectl rollout status`` for every Deployment and StatefulSet.
* status — ``.status`` of the labelled Deployments and StatefulSets; destroy — ``kubectl
  delete`` by label selector, namespaces last.

``kubeconfig`` (else kubectl's own ``$KUBECONFIG``/``~/.kube/config``) chooses the cluster.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.deploy import _process
from attonix.deploy._engine import EngineDriver
from attonix.deploy.base import (
    Change,
    DeployError,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    Step,
    no_progress,
    run_steps,
)
from attonix.deploy.connections import Connection
from attonix.deploy.kubernetes.parsing import (
    ROLLOUT_KINDS,
    ObjectKey,
    parse_diff,
    prune_candidates,
    secret_refs,
    workload_status,
)
from attonix.deploy.secrets import SecretSource
from attonix.render.base import Artifact, dump_yaml, write_artifacts
from attonix.render.kubernetes import render
from attonix.render.labels import blueprint_labels, selector

FIELD_MANAGER = "attonix"
SECRET_LABEL = "attonix.io/secret"  # noqa: S105 - a label name, not a password
#: Kinds searched for labelled objects to prune or destroy, besides the rendered ones.
BASE_KINDS = (
    "deployment.apps",
    "statefulset.apps",
    "service",
    "configmap",
    "secret",
    "serviceaccount",
    "persistentvolumeclaim",
    "networkpolicy.networking.k8s.io",
    "ingress.networking.k8s.io",
    "role.rbac.authorization.k8s.io",
    "rolebinding.rbac.authorization.k8s.io",
    "poddisruptionbudget.policy",
    "horizontalpodautoscaler.autoscaling",
)
_DOWN_MARKERS = (
    "Unable to connect to the server",
    "The connection to the server",
    "couldn't get current server API group list",
    "no configuration has been provided",
)
_NO_KIND = ("doesn't have a resource type", "the server could not find the requested resource")


class KubernetesDriver(EngineDriver):
    """Plan, apply, status and destroy for one Kubernetes cluster of a blueprint."""

    target = "kubernetes"
    down_markers = _DOWN_MARKERS

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        kubectl: str = "kubectl",
        kubeconfig: str | None = None,
        state: Path | None = None,
        connection: Connection | None = None,
    ) -> None:
        super().__init__(
            blueprint, cluster=cluster, secrets=secrets, state=state, connection=connection
        )
        self._kubectl = kubectl
        endpoint = connection.kubernetes if connection is not None else None
        if kubeconfig is None and endpoint is not None and endpoint.kubeconfig is not None:
            kubeconfig = str(endpoint.kubeconfig)
        self._kubeconfig = kubeconfig
        self._context = endpoint.context if endpoint is not None else None

    # ------------------------------------------------------------------ commands

    def command(self, *args: str) -> list[str]:
        """The kubectl argv for ``args`` (with ``--kubeconfig`` when one was given)."""
        base = [self._kubectl]
        if self._kubeconfig:
            base += ["--kubeconfig", self._kubeconfig]
        if self._context:
            base += ["--context", self._context]
        return [*base, *args]

    def _run(self, *args: str, stdin: str | None = None, check: bool = True) -> _process.Completed:
        return _process.run(
            self.command(*args), stdin=stdin, check=check, unavailable=self._engine_down
        )

    def diff_command(self) -> list[str]:
        """``kubectl diff`` of the manifests piped on stdin, as server-side apply would merge."""
        return self.command(
            "diff",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "--force-conflicts",
            "-f",
            "-",
        )

    def apply_command(self, *, kustomization: str | None = None) -> list[str]:
        """``kubectl apply --server-side`` of a kustomize tree, or of stdin when none is given."""
        source = ["-k", kustomization] if kustomization else ["-f", "-"]
        return self.command(
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "--force-conflicts",
            *source,
        )

    # ------------------------------------------------------------------ desired state

    def desired(self) -> list[Artifact]:
        """This cluster's kustomize tree, as the kubernetes renderer writes it."""
        prefix = f"{self.cluster}/"
        return [a for a in render(self.bp) if a.path.startswith(prefix)]

    @staticmethod
    def objects(desired: Sequence[Artifact]) -> list[dict[str, Any]]:
        """The Kubernetes objects among the artifacts (not the kustomization or notes)."""
        return [
            a.content
            for a in desired
            if isinstance(a.content, dict) and "kind" in a.content and "metadata" in a.content
        ]

    def secret_targets(self, objects: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
        """``(namespace, declared secret)`` for every declared secret the objects reference."""
        declared = {s.name for s in self.bp.security.secrets}
        out = set()
        for doc in objects:
            ns = doc["metadata"].get("namespace", "")
            for name in secret_refs(doc, declared=declared):
                out.add((ns, name))
        return sorted(out)

    def secret_objects(self, targets: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The ``Secret`` objects holding the values (for stdin only: they carry the values)."""
        out = []
        for ns, name in targets:
            values = self._secrets.get(name)
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": name,
                        "namespace": ns,
                        "labels": {**blueprint_labels(self.bp), SECRET_LABEL: name},
                    },
                    "type": "Opaque",
                    "data": {
                        k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())
                    },
                }
            )
        return out

    def _kinds(self, objects: Sequence[dict[str, Any]]) -> list[str]:
        return sorted(set(BASE_KINDS) | {ObjectKey.of(d).resource for d in objects} - {"namespace"})

    def _get_labelled(self, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Labelled live objects of ``kinds`` in every namespace (kinds the API lacks skipped)."""
        args = ["get", ",".join(kinds), "-l", selector(self.bp), "-A", "-o", "json"]
        done = self._run(*args, check=False)
        if done.returncode == 0:
            return list((done.json() or {}).get("items", []))
        if not any(m in done.stderr for m in _NO_KIND):
            self._run(*args)  # raises with the command and its stderr
        items: list[dict[str, Any]] = []
        for kind in kinds:
            one = self._run("get", kind, "-l", selector(self.bp), "-A", "-o", "json", check=False)
            if one.returncode == 0:
                items.extend((one.json() or {}).get("items", []))
            elif not any(m in one.stderr for m in _NO_KIND):
                self._run("get", kind, "-l", selector(self.bp), "-A", "-o", "json")
        return items

    # ------------------------------------------------------------------ plan

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Creates and updates from ``kubectl diff``; deletes for labelled objects not rendered."""
        objects = self.objects(self.desired() if desired is None else desired)
        secrets = self.secret_objects(self.secret_targets(objects))
        stream = "".join("---\n" + dump_yaml(d) for d in [*secrets, *objects])
        argv = self.diff_command()
        # kubectl diff exits 1 when there are differences, above 1 on errors.
        done = _process.run(argv, stdin=stream, check=False, unavailable=self._engine_down)
        if done.returncode > 1:
            raise DeployError(
                f"`{_process.shown(argv)}` failed with exit code {done.returncode}: "
                f"{_process.last_line(done.stderr)}",
                command=argv,
                exit_code=done.returncode,
                stderr=done.stderr,
            )
        changes = parse_diff(done.stdout)
        wanted = {ObjectKey.of(d) for d in [*secrets, *objects]}
        changed = {c.payload for c in changes}
        for key in sorted(wanted - changed):
            changes.append(Change(key.kind, key.ref, "unchanged", payload=key))
        live = self._get_labelled(self._kinds(objects))
        for key in prune_candidates(live, desired=wanted, secret_label=SECRET_LABEL):
            changes.append(
                Change(key.kind, key.ref, "delete", diff=f"- {key.kind} {key.ref}\n", payload=key)
            )
        return Plan(self.target, self.cluster, tuple(changes))

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Apply secrets and the tree server-side, delete pruned objects, wait for rollouts."""
        lock = self.lock()
        with lock.held(purpose="apply"):
            desired = self.desired()
            objects = self.objects(desired)
            steps: list[Step] = []
            if any(c.kind == "Secret" and c.action in ("create", "update") for c in plan.changes):
                targets = self.secret_targets(objects)
                steps.append(
                    (f"apply {len(targets)} secret(s)", partial(self._apply_secrets, targets))
                )
            if any(c.kind != "Secret" and c.action in ("create", "update") for c in plan.changes):
                steps.append(
                    (
                        f"apply {len(objects)} object(s) server-side",
                        partial(self._apply_tree, desired),
                    )
                )
            for change in plan.of("delete"):
                steps.append(
                    (f"delete {change.kind} {change.name}", partial(self._delete, change.payload))
                )
            if plan.pending:
                for doc in objects:
                    key = ObjectKey.of(doc)
                    if key.kind in ROLLOUT_KINDS:
                        steps.append(
                            (
                                f"wait for rollout of {key.kind} {key.ref}",
                                partial(self._rollout_status, key, timeout),
                            )
                        )
            return run_steps(self.target, self.cluster, steps, progress)

    def _apply_secrets(self, targets: Sequence[tuple[str, str]]) -> None:
        docs = self.secret_objects(targets)
        stream = "".join("---\n" + dump_yaml(d) for d in docs)
        _process.run(self.apply_command(), stdin=stream, unavailable=self._engine_down)

    def _apply_tree(self, desired: Sequence[Artifact]) -> None:
        with tempfile.TemporaryDirectory(prefix="attonix-kube-") as tmp:
            write_artifacts(desired, tmp)
            _process.run(
                self.apply_command(kustomization=os.path.join(tmp, self.cluster)),
                unavailable=self._engine_down,
            )

    def delete_command(self, key: ObjectKey) -> list[str]:
        """``kubectl delete`` of one object (absent counts as done)."""
        ns = ["-n", key.namespace] if key.namespace else []
        return self.command("delete", key.resource, key.name, *ns, "--ignore-not-found")

    def _delete(self, key: ObjectKey) -> None:
        _process.run(self.delete_command(key), unavailable=self._engine_down)

    def rollout_command(self, key: ObjectKey, timeout: float) -> list[str]:
        """``kubectl rollout status`` of a Deployment or StatefulSet, bounded by ``timeout``."""
        return self.command(
            "rollout",
            "status",
            f"{key.resource}/{key.name}",
            "-n",
            key.namespace,
            f"--timeout={int(timeout)}s",
        )

    def _rollout_status(self, key: ObjectKey, timeout: float) -> None:
        started = time.monotonic()
        _process.run(
            self.rollout_command(key, timeout), timeout=timeout + 30, unavailable=self._engine_down
        )
        if time.monotonic() - started > timeout:
            raise DeployError(f"{key.kind} {key.ref} did not finish its rollout in {timeout:g}s")

    # ------------------------------------------------------------------ status

    def status(self) -> list[ServiceStatus]:
        """Desired, running and available replicas of every rendered Deployment/StatefulSet."""
        objects = self.objects(self.desired())
        wanted = {
            ObjectKey.of(d): int(d["spec"].get("replicas", 1))
            for d in objects
            if d["kind"] in ROLLOUT_KINDS
        }
        live = {
            ObjectKey.of(i): i for i in self._get_labelled(["deployment.apps", "statefulset.apps"])
        }
        out = []
        for key in sorted(set(wanted) | set(live)):
            if key not in live:
                out.append(
                    ServiceStatus(
                        f"{key.kind}/{key.ref}", wanted[key], 0, 0, message="not deployed"
                    )
                )
                continue
            st = workload_status(live[key], desired=wanted.get(key, 0))
            if key not in wanted:
                st = ServiceStatus(
                    st.name, 0, st.running, st.healthy, image=st.image,
                    message="not in the blueprint (will be removed)",
                )  # fmt: skip
            out.append(st)
        return out

    # ------------------------------------------------------------------ destroy

    def destroy_commands(self, kinds: Sequence[str]) -> list[list[str]]:
        """``kubectl delete`` by label selector: namespaced kinds first, namespaces last."""
        sel = selector(self.bp)
        return [
            self.command(
                "delete", ",".join(kinds), "-l", sel, "-A", "--ignore-not-found", "--wait=false"
            ),
            self.command("delete", "namespace", "-l", sel, "--ignore-not-found", "--wait=false"),
        ]

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line each (reads only)."""
        return [label for label, _ in self._removal_steps() if not label.startswith("wait ")]

    def _removal_steps(self) -> list[Step]:
        """What :meth:`destroy` would do now, naming every labelled object (reads only)."""
        kinds = self._kinds(self.objects(self.desired()))
        present = self._get_labelled(kinds)
        keys = sorted({ObjectKey.of(i) for i in present}, key=lambda k: (k.kind, k.ref))
        resources = sorted({k.resource for k in keys})
        steps: list[Step] = []
        if resources:
            cmd = self.destroy_commands(resources)[0]
            names = ", ".join(f"{k.kind} {k.ref}" for k in keys)
            steps.append(
                (f"delete {len(present)} labelled object(s): {names}", partial(_process.run, cmd))
            )
        ns_cmd = self.destroy_commands(["namespace"])[1]
        steps.append(("delete labelled namespaces", partial(_process.run, ns_cmd)))
        return steps

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every object carrying the blueprint's labels from the cluster."""
        lock = self.lock()
        with lock.held(purpose="destroy"):
            return run_steps(self.target, self.cluster, self._removal_steps(), progress)


__all__ = ["FIELD_MANAGER", "SECRET_LABEL", "KubernetesDriver"]

"""Kubernetes driver: applies the kubernetes renderer's kustomize tree with ``kubectl``.

kubectl rather than a Python client: it adds no dependency, its server-side apply is the
API server's own (the same semantics any client gets), and it builds kustomize trees itself.

* plan — ``kubectl diff --server-side --field-manager=attonix`` of the rendered objects and
  the declared secrets they reference gives the creates and updates; objects carrying the
  blueprint's labels that the rendered set no longer holds are planned for deletion.
* apply — secrets first, as ``Secret`` objects piped to ``kubectl apply -f -`` (values never
  touch the disk or the command line), then ``kubectl apply --server-side -k`` of the tree,
  then the deletions, then ``kubectl rollout status`` for each Deployment and StatefulSet the
  plan creates or updates.
* secret versions — a Secret keeps its name when its value changes (a rotated login, a new
  token), which alone rolls no pod. So the objects the driver diffs and applies (not the
  rendered files) carry, on the pod template of each Deployment and StatefulSet, the
  annotation :data:`SECRET_VERSIONS`: the versioned name (``<secret>-<tag>``, the tag keyed
  over the values as the Swarm and Podman secret names are) of each declared secret its pods
  reference. A new value changes the template, so the controller rolls the pods onto it.
* status — ``.status`` of the labelled Deployments and StatefulSets; destroy — ``kubectl
  delete`` by label selector, namespaces last.

``kubeconfig`` (else kubectl's own ``$KUBECONFIG``/``~/.kube/config``) chooses the cluster.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.deploy import _process
from attonix.deploy._engine import EngineDriver
from attonix.deploy.base import (
    Change,
    DeployError,
    Plan,
    ServiceStatus,
    Step,
)
from attonix.deploy.connections import Connection
from attonix.deploy.credentials import FileCredentialStore, credential_name
from attonix.deploy.kubernetes.parsing import (
    ObjectKey,
    parse_diff,
    prune_candidates,
    workload_status,
)
from attonix.deploy.secrets import SecretSource
from attonix.render.base import Artifact, dump_yaml, write_artifacts
from attonix.render.desired import DesiredState, SecretObject, Workload
from attonix.render.kubernetes import ROLLOUT_KINDS, rendered, secret_objects
from attonix.render.kubernetes._context import DATABASES_NAMESPACE
from attonix.render.kubernetes.databases import login_role
from attonix.render.labels import blueprint_labels, selector
from attonix.render.workloads import consumer_secrets

FIELD_MANAGER = "attonix"
SECRET_LABEL = "attonix.io/secret"  # noqa: S105 - a label name, not a password
#: Pod-template annotation of a Deployment or StatefulSet: the versioned names of the declared
#: secrets its pods reference, comma-separated (never a value, nor an unkeyed hash of one).
SECRET_VERSIONS = "attonix.io/secret-versions"  # noqa: S105 - an annotation name
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


#: Engines whose operator creates each consumer's login from its Secret: service suffix, port.
_OPERATOR_USERS = {"postgresql": ("-rw", "5432"), "mongodb": ("-svc", "27017")}


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
        self._desired: DesiredState | None = None

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
        """This cluster's kustomize tree, as the kubernetes renderer writes it (copies: the
        desired state the driver plans and applies from stays as rendered whatever a caller
        does with them)."""
        return [
            dataclasses.replace(a, content=copy.deepcopy(a.content))
            for a in self.desired_state().files
        ]

    def desired_state(self) -> DesiredState:
        """What the renderer says this cluster runs: its objects in file order, the
        Deployments and StatefulSets with their replicas, the declared secrets the objects
        reference (rendered once per driver)."""
        if self._desired is None:
            self._desired = rendered(self.bp).of(self.target, self.cluster)
        return self._desired

    def secret_manifests(self, secrets: Sequence[SecretObject]) -> list[dict[str, Any]]:
        """The ``Secret`` objects holding the values (for stdin only: they carry the values)."""
        out = []
        for ref in secrets:
            values = self._secrets.get(ref.secret)
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": ref.secret,
                        "namespace": ref.namespace,
                        "labels": {**blueprint_labels(self.bp), SECRET_LABEL: ref.secret},
                    },
                    "type": "Opaque",
                    "data": {
                        k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())
                    },
                }
            )
        return out

    def secret_versions(self, secrets: Sequence[SecretObject]) -> dict[str, str]:
        """The versioned name of each declared secret in ``secrets`` (by secret name):
        ``<secret>-<tag>``, the tag keyed over all its values by this machine's key, so it
        changes with any value and does not reveal one."""
        source = self._secrets
        names = sorted({ref.secret for ref in secrets})
        return {name: self.versioned(name, source.get(name)) for name in names}

    @staticmethod
    def with_versions(doc: Mapping[str, Any], versions: Mapping[str, str]) -> Mapping[str, Any]:
        """``doc`` as applied: a Deployment or StatefulSet whose pods reference some of the
        secrets in ``versions`` gets a copy whose pod template carries their versioned names
        (:data:`SECRET_VERSIONS`); any other object is ``doc`` itself."""
        if doc.get("kind") not in ROLLOUT_KINDS:
            return doc
        used = sorted({ref.secret for ref in secret_objects([dict(doc)], declared=set(versions))})
        if not used:
            return doc
        out = copy.deepcopy(dict(doc))
        meta = out["spec"]["template"].setdefault("metadata", {})
        meta["annotations"] = {
            **meta.get("annotations", {}),
            SECRET_VERSIONS: ",".join(versions[name] for name in used),
        }
        return out

    def _kinds(self, objects: Sequence[Mapping[str, Any]]) -> list[str]:
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

    def plan(self) -> Plan[ObjectKey]:
        """Creates and updates from ``kubectl diff``; deletes for labelled objects not rendered."""
        state = self.desired_state()
        versions = self.secret_versions(state.secret_objects)
        objects = [self.with_versions(d, versions) for d in state.manifests]
        secrets = self.secret_manifests(state.secret_objects)
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

    def _apply_steps(self, plan: Plan[ObjectKey], *, timeout: float) -> list[Step]:
        """Apply secrets and the tree server-side, delete pruned objects, wait for rollouts."""
        state = self.desired_state()
        steps: list[Step] = []
        if any(c.kind == "Secret" and c.action in ("create", "update") for c in plan.changes):
            secrets = state.secret_objects
            steps.append((f"apply {len(secrets)} secret(s)", partial(self._apply_secrets, secrets)))
        if any(c.kind != "Secret" and c.action in ("create", "update") for c in plan.changes):
            steps.append(
                (
                    f"apply {len(state.manifests)} object(s) server-side",
                    partial(self._apply_tree, state),
                )
            )
        for change in plan.of("delete"):
            steps.append(
                (f"delete {change.kind} {change.name}", partial(self._delete, change.payload))
            )
        # Only the workloads this plan creates or updates are waited for: a Deployment the
        # apply did not touch (however broken) neither slows nor fails it (verify judges all).
        changed = {c.payload for c in plan.pending if c.action in ("create", "update")}
        for w in state.workloads:
            key = _controller(w)
            if key in changed:
                steps.append(
                    (
                        f"wait for rollout of {key.kind} {key.ref}",
                        partial(self._rollout_status, key, timeout),
                    )
                )
        return steps

    def operator_logins(self, secrets: Sequence[SecretObject]) -> list[str]:
        """Store a login for each consuming service of a CloudNativePG cluster or MongoDB
        replica set that has none; return the credential names made.

        The operator creates the service's role (``spec.managed.roles``; MongoDB: the user in
        ``spec.users``) with the password of the Secret ``<database>.<service>``, whose
        ``username`` must be that role's name: the
        login is generated here, kept in the credential store (current at once: the role does
        not exist before the Secret does) and read back through :attr:`_secrets` like any
        provisioned login. A login already in the store is left as it is."""
        own = consumer_secrets(self.bp)
        store = FileCredentialStore(self._state_dir() / "credentials")
        made: list[str] = []
        for ref in secrets:
            if ref.namespace != DATABASES_NAMESPACE or ref.secret not in own:
                continue
            db_name, service = own[ref.secret]
            db = self.bp.databases_by_name[db_name]
            if db.engine not in _OPERATOR_USERS:
                continue
            name = credential_name(self.bp, db_name, service, "app")
            if store.current_version(name) is not None:
                continue
            svc = next(s for s in self.bp.services.backend if s.name == service)
            host, port = _OPERATOR_USERS[db.engine]
            values = {
                # the role (CloudNativePG) or user (MongoDB) the database object declares
                "username": login_role(db, svc) if db.engine == "postgresql" else svc.name,
                "password": token_urlsafe(32),
                "host": f"{db.name}{host}.{DATABASES_NAMESPACE}.svc",
                "port": port,
                "database": db.database,
                "tls": "required" if db.tls else "optional",
            }
            store.promote(name, store.put(name, values))
            made.append(name)
        return made

    def _apply_secrets(self, secrets: Sequence[SecretObject]) -> None:
        self.operator_logins(secrets)
        docs = self.secret_manifests(secrets)
        stream = "".join("---\n" + dump_yaml(d) for d in docs)
        _process.run(self.apply_command(), stdin=stream, unavailable=self._engine_down)

    def _apply_tree(self, state: DesiredState) -> None:
        # The versions are read here, after the secrets step stored any operator login.
        versions = self.secret_versions(state.secret_objects)
        files = [
            dataclasses.replace(a, content=self.with_versions(a.content, versions))
            if isinstance(a.content, Mapping)
            else a
            for a in state.files
        ]
        with tempfile.TemporaryDirectory(prefix="attonix-kube-") as tmp:
            write_artifacts(files, tmp)
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
        wanted = {_controller(w): w.replicas for w in self.desired_state().workloads}
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

    def _removal_steps(self) -> list[Step]:
        """What :meth:`destroy` would do now, naming every labelled object (reads only)."""
        kinds = self._kinds(self.desired_state().manifests)
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


def _controller(w: Workload) -> ObjectKey:
    """The Deployment or StatefulSet that runs a workload of the desired state."""
    return ObjectKey("apps", w.kind, w.namespace, w.key)


__all__ = ["FIELD_MANAGER", "SECRET_LABEL", "KubernetesDriver"]

"""Docker Swarm driver: converges one swarm cluster's stack through the ``docker`` CLI.

Observed state is everything carrying the blueprint's labels (services, networks, secrets,
volumes) that belongs to this cluster's stack or to no stack at all — so a labelled resource
made by hand is planned for deletion, and a second swarm cluster's stack is left alone.
Secrets are created from the secret source under versioned names before ``docker stack
deploy``; old versions are removed once no service uses them.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.deploy import _process
from attonix.deploy._engine import EngineDriver
from attonix.deploy.base import (
    Change,
    ConvergeFailed,
    DeployError,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    Step,
    compare,
    no_progress,
    run_steps,
)
from attonix.deploy.connections import Connection
from attonix.deploy.secrets import SecretSource, version_tag
from attonix.deploy.swarm import rollout, views
from attonix.render.base import Artifact, dump_yaml
from attonix.render.labels import blueprint_labels
from attonix.render.swarm import render, secret_base, stack_name, stack_path

STACK_LABEL = "com.docker.stack.namespace"
SECRET_LABEL = "attonix.io/secret"  # noqa: S105 - a label name, not a password
SECRET_KEY_LABEL = "attonix.io/secret-key"  # noqa: S105 - a label name
_DOWN_MARKERS = (
    "Cannot connect to the Docker daemon",
    "Is the docker daemon running",
    "This node is not a swarm manager",
    "error during connect",
)


class SwarmDriver(EngineDriver):
    """Plan, apply, status and destroy for one swarm cluster of a blueprint."""

    target = "swarm"
    down_markers = _DOWN_MARKERS

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        docker: str = "docker",
        state: Path | None = None,
        connection: Connection | None = None,
    ) -> None:
        super().__init__(
            blueprint, cluster=cluster, secrets=secrets, state=state, connection=connection
        )
        self.stack = stack_name(blueprint, cluster)
        self._docker = [docker]
        endpoint = connection.docker if connection is not None else None
        if endpoint is not None:
            self._docker += ["--host", endpoint.host]
            if endpoint.tls is not None:
                self._docker += [
                    "--tlsverify",
                    "--tlscacert",
                    str(endpoint.tls.ca),
                    "--tlscert",
                    str(endpoint.tls.cert),
                    "--tlskey",
                    str(endpoint.tls.key),
                ]

    # ------------------------------------------------------------------ engine access

    def _run(self, *args: str, stdin: str | None = None, check: bool = True) -> _process.Completed:
        return _process.run(
            [*self._docker, *args], stdin=stdin, check=check, unavailable=self._engine_down
        )

    def _filters(self) -> list[str]:
        out: list[str] = []
        for k, v in blueprint_labels(self.bp).items():
            out += ["--filter", f"label={k}={v}"]
        return out

    def _mine(self, labels: dict[str, str] | None) -> bool:
        # Another cluster's stack of the same blueprint is not ours to plan or destroy.
        return (labels or {}).get(STACK_LABEL, self.stack) == self.stack

    def _list(self, kind: str) -> list[dict[str, Any]]:
        ids = self._run(kind, "ls", "-q", *self._filters()).stdout.split()
        if not ids:
            return []
        # A resource can vanish between ls and inspect; inspect then prints the others.
        found = self._run(kind, "inspect", *sorted(set(ids)), check=False)
        items = found.json() or []
        out = []
        for item in items:
            labels = item.get("Spec", {}).get("Labels") if "Spec" in item else item.get("Labels")
            if self._mine(labels):
                out.append(item)
        return out

    # ------------------------------------------------------------------ desired state

    def desired(self) -> list[Artifact]:
        """This cluster's rendered stack file (none if the cluster runs no workload)."""
        return [a for a in render(self.bp) if a.path == stack_path(self.cluster)]

    def _doc(self, desired: Sequence[Artifact]) -> dict[str, Any]:
        for art in desired:
            if art.path == stack_path(self.cluster):
                return copy.deepcopy(art.content)
        return {"services": {}, "networks": {}}

    def _secret_labels(self, secret: str, key: str) -> dict[str, str]:
        return {
            **blueprint_labels(self.bp),
            STACK_LABEL: self.stack,
            SECRET_LABEL: secret,
            SECRET_KEY_LABEL: key,
        }

    def _versioned(self, doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
        """Compose secret key -> (engine name, secret, key); fills the names into ``doc``."""
        hmac_key = self._secret_key() if doc.get("secrets") else b""
        out: dict[str, tuple[str, str, str]] = {}
        values_cache: dict[str, dict[str, str]] = {}
        for ref, spec in doc.get("secrets", {}).items():
            secret, key = _split_ref(self.bp, ref)
            if secret not in values_cache:
                values_cache[secret] = self._secrets.get(secret)
            value = values_cache[secret].get(key)
            if value is None:
                raise DeployError(
                    f"secret {secret!r} has no key {key!r} in the secret source",
                    hint="Every key the blueprint declares for a secret needs a value.",
                )
            name = f"{secret_base(self.bp, secret, key)}-{version_tag({'': value}, key=hmac_key)}"
            spec["name"] = name
            out[ref] = (name, secret, key)
        return out

    # ------------------------------------------------------------------ plan

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Compare the rendered stack (with versioned secret names) with the live swarm."""
        doc = self._doc(self.desired() if desired is None else desired)
        secret_names = self._versioned(doc)
        live_services = {s["Spec"]["Name"]: s for s in self._list("service")}
        live_networks = {n["Name"]: n for n in self._list("network")}
        live_secrets = {s["Spec"]["Name"]: s for s in self._list("secret")}
        live_volumes = {v["Name"]: v for v in self._list("volume")}
        net_ids = {n["Id"]: name for name, n in live_networks.items()}
        names = {ref: name for ref, (name, _, _) in secret_names.items()}
        changes: list[Change] = []

        wanted_secrets = {name: (s, k) for name, s, k in secret_names.values()}
        for name, (secret, key) in sorted(wanted_secrets.items()):
            live = live_secrets.get(name)
            changes.append(
                compare(
                    "secret",
                    name,
                    desired=views.labelled_view(self._secret_labels(secret, key)),
                    observed=None if live is None else views.labelled_view(live["Spec"]["Labels"]),
                    payload=(secret, key),
                )
            )
        for key, net in sorted(doc.get("networks", {}).items()):
            name = f"{self.stack}_{key}"
            live_net = live_networks.get(name)
            changes.append(
                compare(
                    "network",
                    name,
                    desired=views.network_from_compose(net),
                    observed=None if live_net is None else views.network_from_inspect(live_net),
                )
            )
        for key, svc in sorted(doc["services"].items()):
            name = f"{self.stack}_{key}"
            live_svc = live_services.get(name)
            observed = (
                None
                if live_svc is None
                else views.service_from_inspect(live_svc["Spec"], networks=net_ids)
            )
            changes.append(
                compare(
                    "service",
                    name,
                    desired=views.service_from_compose(self.stack, svc, secret_names=names),
                    observed=observed,
                    payload=doc,
                )
            )
        for key, vol in sorted(doc.get("volumes", {}).items()):
            name = f"{self.stack}_{key}"
            live_vol = live_volumes.get(name)
            changes.append(
                compare(
                    "volume",
                    name,
                    desired=views.labelled_view(vol.get("labels")),
                    observed=None if live_vol is None else views.labelled_view(live_vol["Labels"]),
                )
            )
        wanted = {c.key for c in changes}
        for kind, live_map in (
            ("service", live_services),
            ("network", live_networks),
            ("volume", live_volumes),
            ("secret", live_secrets),
        ):
            for name, item in sorted(live_map.items()):
                labels_of: dict[str, str] = (item.get("Spec") or item).get("Labels") or {}
                if f"{kind}/{name}" not in wanted:
                    changes.append(
                        compare(
                            kind,
                            name,
                            desired=None,
                            observed=views.labelled_view(labels_of),
                        )
                    )
        return Plan(self.target, self.cluster, tuple(changes))

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Create secrets, deploy the stack, remove what is gone, wait for healthy replicas."""
        lock = self.lock()
        with lock.held(purpose="apply"):
            return self._apply(plan, progress, timeout=timeout)

    def _apply(self, plan: Plan, progress: Progress, *, timeout: float) -> Result:
        steps: list[tuple[str, Any]] = []
        for change in plan.of("create", "secret"):
            steps.append((f"create secret {change.name}", lambda c=change: self._create_secret(c)))
        bad_nets = plan.of("update", "network")
        if bad_nets:
            raise DeployError(
                f"network {bad_nets[0].name} differs from the blueprint and Swarm cannot change "
                "a network in place",
                hint="Run `attonix destroy` for this target, then apply again.",
            )
        deploy_kinds = ("service", "network", "volume")
        needs_deploy = [
            c for c in plan.pending if c.kind in deploy_kinds and c.action in ("create", "update")
        ]
        since: dict[str, rollout.Rollout] = {}
        if needs_deploy:
            doc = next(c.payload for c in plan.changes if c.kind == "service" and c.payload)
            label = f"deploy stack {self.stack} ({len(needs_deploy)} change(s))"
            steps.append((label, lambda: self._deploy(doc, since)))
        for change in plan.of("delete", "service"):
            steps.append((f"remove service {change.name}", partial(self._rm, "service", change)))
        changed = [
            c.name for c in plan.pending if c.kind == "service" and c.action in ("create", "update")
        ]
        if changed:
            steps.append(
                (
                    "wait for the engine to converge",
                    lambda: self.wait(changed, timeout=timeout, since=since),
                )
            )
        for kind in ("network", "volume", "secret"):
            for change in plan.of("delete", kind):
                steps.append((f"remove {kind} {change.name}", lambda c=change: self._rm(c.kind, c)))
        return run_steps(self.target, self.cluster, steps, progress)

    def _create_secret(self, change: Change) -> None:
        secret, key = change.payload
        value = self._secrets.get(secret)[key]
        if not change.name.endswith("-" + version_tag({"": value}, key=self._secret_key())):
            raise DeployError(
                f"secret {secret!r} changed after the plan was made",
                hint="Plan again, then apply the new plan.",
            )
        labels = [
            arg
            for k, v in self._secret_labels(secret, key).items()
            for arg in ("--label", f"{k}={v}")
        ]
        self._run("secret", "create", *labels, change.name, "-", stdin=value)

    def _deploy(self, doc: dict[str, Any], since: dict[str, rollout.Rollout]) -> None:
        # What the engine says about each service before this deploy: its update status
        # afterwards is this apply's verdict only if it started anew.
        for svc in self._list("service"):
            started = (svc.get("UpdateStatus") or {}).get("StartedAt", "")
            since[svc["Spec"]["Name"]] = rollout.Rollout(started=started)
        with tempfile.TemporaryDirectory(prefix="attonix-swarm-") as tmp:
            path = os.path.join(tmp, "docker-stack.yaml")
            Path(path).write_text(dump_yaml(doc), encoding="utf-8")
            self._run("stack", "deploy", "--resolve-image", "never", "-c", path, self.stack)

    def _rm(self, kind: str, change: Change, *, attempts: int = 20) -> None:
        # Networks and secrets stay in use until the tasks of removed services are gone.
        for attempt in range(attempts):
            done = self._run(kind, "rm", change.name, check=False)
            if done.returncode == 0 or "not found" in done.stderr.lower():
                return
            if attempt == attempts - 1 or kind == "service":
                self._run(kind, "rm", change.name)
            time.sleep(0.5)

    # ------------------------------------------------------------------ status

    def status(self) -> list[ServiceStatus]:
        """Desired, running and healthy tasks per service of this cluster's stack, whether the
        engine runs the blueprint's spec, and how it gave up on an update if it did; then one
        entry per node the swarm has lost (down, or a manager out of reach), naming it."""
        return self._statuses(None, None) + rollout.lost_nodes(self._nodes())

    def _nodes(self) -> list[dict[str, Any]]:
        ids = self._run("node", "ls", "-q").stdout.split()
        return (self._run("node", "inspect", *ids, check=False).json() or []) if ids else []

    def _rollout(self, names: Collection[str], since: Any) -> list[ServiceStatus]:
        return self._statuses(set(names), since)

    def wait(self, names: Collection[str], *, timeout: float, since: Any = None) -> None:
        """Wait as every driver does; when an update cannot go on (its new tasks cannot be
        placed, are rejected or keep failing) and Swarm has not rolled it back itself, ask
        Swarm to roll back to the previous spec, so the service runs again as before."""
        try:
            super().wait(names, timeout=timeout, since=since)
        except ConvergeFailed as exc:
            if exc.failure in ("rolled_back", "paused"):
                raise
            svc = next((s for s in self._list("service") if s["Spec"]["Name"] == exc.service), None)
            state = ((svc or {}).get("UpdateStatus") or {}).get("State")
            if svc is None or "PreviousSpec" not in svc or state != "updating":
                raise
            self._run("service", "rollback", "--detach", exc.service)
            raise ConvergeFailed(
                service=exc.service,
                failure=exc.failure,
                reason=f"{exc.reason} (rolled back to the previous spec)",
            ) from None

    def _statuses(
        self, names: set[str] | None, since: Mapping[str, rollout.Rollout] | None
    ) -> list[ServiceStatus]:
        doc = self._doc(self.desired())
        live = {s["Spec"]["Name"]: s for s in self._list("service")}
        wanted = {f"{self.stack}_{k}": v for k, v in doc["services"].items()}
        selected = sorted(n for n in set(wanted) | set(live) if names is None or n in names)
        tasks: list[dict[str, Any]] = []
        inspected = [n for n in selected if n in live]
        if inspected:
            ids = self._run("service", "ps", "-q", "--no-trunc", *inspected).stdout.split()
            if ids:
                # A task can be removed between ps and inspect; inspect then prints the others.
                tasks = self._run("inspect", *sorted(set(ids)), check=False).json() or []
        net_ids = {n["Id"]: n["Name"] for n in self._list("network")} if inspected else {}
        bases = {
            f"{s.name}_{k}": secret_base(self.bp, s.name, k)
            for s in self.bp.security.secrets
            for k in s.keys
        }
        out = []
        for name in selected:
            svc = live.get(name)
            spec = wanted.get(name)
            desired_n = int(spec["deploy"].get("replicas", 1)) if spec is not None else 0
            if svc is None:
                out.append(ServiceStatus(name, desired_n, 0, 0, message="not deployed"))
                continue
            drift = spec is not None and views.unversioned(
                views.service_from_compose(self.stack, spec, secret_names=bases)
            ) != views.unversioned(views.service_from_inspect(svc["Spec"], networks=net_ids))
            out.append(
                rollout.service_status(
                    name,
                    svc,
                    tasks,
                    desired=desired_n,
                    orphan=spec is None,
                    drift=drift,
                    since=None if since is None else since.get(name, rollout.Rollout()),
                )
            )
        return out

    # ------------------------------------------------------------------ destroy

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line each (reads only)."""
        return [label for label, _ in self._removal_steps() if not label.startswith("wait ")]

    def _removal_steps(self) -> list[Step]:
        """What :meth:`destroy` would do now, one labelled step per resource (reads only)."""
        steps: list[Step] = []
        services = self._list("service")
        for s in services:
            change = Change("service", s["Spec"]["Name"], "delete")
            steps.append((f"remove service {change.name}", partial(self._rm, "service", change)))
        if services:
            steps.append(("wait for tasks to stop", self._wait_gone))
        for kind in ("network", "volume", "secret"):
            for item in self._list(kind):
                name = item["Spec"]["Name"] if "Spec" in item else item["Name"]
                change = Change(kind, name, "delete")
                steps.append((f"remove {kind} {name}", partial(self._rm, kind, change)))
        return steps

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every service, network, volume and secret labelled for this stack."""
        lock = self.lock()
        with lock.held(purpose="destroy"):
            return run_steps(self.target, self.cluster, self._removal_steps(), progress)

    def _wait_gone(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        selector = [
            arg
            for k, v in blueprint_labels(self.bp).items()
            for arg in ("--filter", f"label={k}={v}")
        ]
        while time.monotonic() < deadline:
            left = self._run(
                "ps", "-aq", "--filter", f"label={STACK_LABEL}={self.stack}", *selector
            )
            if not left.stdout.strip():
                return
            time.sleep(0.5)
        raise DeployError(f"containers of stack {self.stack} were still running after {timeout:g}s")


def _split_ref(bp: Blueprint, ref: str) -> tuple[str, str]:
    """The (secret, key) a compose secret key stands for."""
    for declared in bp.security.secrets:
        for key in declared.keys:
            if ref == f"{declared.name}_{key}":
                return declared.name, key
    name, _, key = ref.rpartition("_")
    return name, key

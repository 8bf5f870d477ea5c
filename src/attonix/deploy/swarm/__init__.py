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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
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
    EngineUnavailable,
    Plan,
    ServiceStatus,
    Step,
    compare,
)
from attonix.deploy.connections import Connection, reachable_docker_host
from attonix.deploy.secrets import SecretSource
from attonix.deploy.swarm import rollout, views
from attonix.render.base import Artifact
from attonix.render.desired import DesiredState, SecretKeyRef
from attonix.render.labels import blueprint_labels
from attonix.render.swarm import TARGET, rendered, stack_name, stack_path, with_secret_names

STACK_LABEL = "com.docker.stack.namespace"
SECRET_LABEL = "attonix.io/secret"  # noqa: S105 - a label name, not a password
SECRET_KEY_LABEL = "attonix.io/secret-key"  # noqa: S105 - a label name
_DOWN_MARKERS = (
    "Cannot connect to the Docker daemon",
    "Is the docker daemon running",
    "This node is not a swarm manager",
    "error during connect",
)


@dataclass(frozen=True, slots=True)
class SecretPayload:
    """A secret change: the secret key the engine secret holds (its value is read from the
    secret source at apply time, never kept in the plan)."""

    ref: SecretKeyRef


@dataclass(frozen=True, slots=True)
class StackFile:
    """A service, network or volume change: the stack file ``docker stack deploy`` is given,
    its secrets under the versioned names of the plan."""

    file: Artifact


#: The payload of a Swarm change, per kind: secrets carry a :class:`SecretPayload`; services,
#: networks and volumes the :class:`StackFile` that creates them; deletions nothing.
SwarmPayload = SecretPayload | StackFile | None


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
        self._desired: DesiredState | None = None
        self._cli = docker
        #: The manager endpoint in use (None: the local engine's default socket).
        self.host: str | None = None
        self._docker: list[str] = []
        self._endpoint = connection.docker if connection is not None else None
        self._use(self._endpoint.host if self._endpoint else None)

    def _use(self, host: str | None) -> None:
        """Talk to ``host`` (one of the endpoint's managers) from now on."""
        self.host = host
        argv = [self._cli]
        if self._endpoint is not None and host is not None:
            argv += ["--host", host]
            if self._endpoint.tls is not None:
                tls = self._endpoint.tls
                argv += ["--tlsverify", "--tlscacert", str(tls.ca), "--tlscert", str(tls.cert)]
                argv += ["--tlskey", str(tls.key)]
        self._docker = argv

    # ------------------------------------------------------------------ engine access

    def check_connection(self) -> None:
        """Use the first of the cluster's manager endpoints that answers (in the stated
        order); an error naming the cluster and every endpoint when none does."""
        if self._endpoint is None:
            return
        self._use(reachable_docker_host(self._endpoint, cluster=self.cluster))

    def _run(self, *args: str, stdin: str | None = None, check: bool = True) -> _process.Completed:
        try:
            return _process.run(
                [*self._docker, *args], stdin=stdin, check=check, unavailable=self._engine_down
            )
        except EngineUnavailable:
            # The manager in use went away: the next one that answers takes over, once.
            if self._endpoint is None or not self._endpoint.fallback_hosts:
                raise
            before = self.host
            self.check_connection()
            if self.host == before:
                raise
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
        """This cluster's rendered stack file, none if the cluster runs no workload (copies:
        the desired state the driver plans from stays as rendered whatever a caller does with
        them)."""
        return [replace(a, content=copy.deepcopy(a.content)) for a in self.desired_state().files]

    def desired_state(self) -> DesiredState:
        """What the renderer says this cluster runs: services with their replicas and
        secret mounts, networks and volumes (rendered once per driver)."""
        if self._desired is None:
            self._desired = rendered(self.bp).of(self.target, self.cluster)
        return self._desired

    def _secret_labels(self, ref: SecretKeyRef) -> dict[str, str]:
        return {
            **blueprint_labels(self.bp),
            STACK_LABEL: self.stack,
            SECRET_LABEL: ref.secret,
            SECRET_KEY_LABEL: ref.key,
        }

    # ------------------------------------------------------------------ plan

    def plan(self) -> Plan[SwarmPayload]:
        """Compare the desired state (with versioned secret names) with the live swarm."""
        state = self.desired_state()
        names = self.versioned_keys(state.secrets)
        stack = (
            StackFile(
                Artifact(
                    TARGET,
                    stack_path(self.cluster),
                    with_secret_names(state.files[0].content, names),
                )
            )
            if state.files
            else None
        )
        live_services = {s["Spec"]["Name"]: s for s in self._list("service")}
        live_networks = {n["Name"]: n for n in self._list("network")}
        live_secrets = {s["Spec"]["Name"]: s for s in self._list("secret")}
        live_volumes = {v["Name"]: v for v in self._list("volume")}
        net_ids = {n["Id"]: name for name, n in live_networks.items()}
        changes: list[Change[SwarmPayload]] = []

        for ref, name in sorted(names.items(), key=lambda item: item[1]):
            live = live_secrets.get(name)
            changes.append(
                compare(
                    "secret",
                    name,
                    desired=views.labelled_view(self._secret_labels(ref)),
                    observed=None if live is None else views.labelled_view(live["Spec"]["Labels"]),
                    payload=SecretPayload(ref),
                )
            )
        for net in state.networks:
            live_net = live_networks.get(net.name)
            changes.append(
                compare(
                    "network",
                    net.name,
                    desired=views.network_view(net),
                    observed=None if live_net is None else views.network_from_inspect(live_net),
                    payload=stack,
                )
            )
        for w in sorted(state.workloads, key=lambda w: w.name):
            live_svc = live_services.get(w.name)
            observed = (
                None
                if live_svc is None
                else views.service_from_inspect(live_svc["Spec"], networks=net_ids)
            )
            changes.append(
                compare(
                    "service",
                    w.name,
                    desired=views.service_view(w, secret_names=names),
                    observed=observed,
                    payload=stack,
                )
            )
        for vol in state.volumes:
            live_vol = live_volumes.get(vol.name)
            changes.append(
                compare(
                    "volume",
                    vol.name,
                    desired=views.labelled_view(vol.labels),
                    observed=None if live_vol is None else views.labelled_view(live_vol["Labels"]),
                    payload=stack,
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
                            payload=None,
                        )
                    )
        return Plan(self.target, self.cluster, tuple(changes))

    # ------------------------------------------------------------------ apply

    def _apply_steps(self, plan: Plan[SwarmPayload], *, timeout: float) -> list[Step]:
        """Create secrets, deploy the stack, remove what is gone, wait for healthy replicas."""
        steps: list[Step] = []
        for change in plan.of("create", "secret"):
            secret = change.payload
            if isinstance(secret, SecretPayload):
                steps.append(
                    (
                        f"create secret {change.name}",
                        partial(self._create_secret, change.name, secret.ref),
                    )
                )
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
        stack = next((c.payload for c in needs_deploy if isinstance(c.payload, StackFile)), None)
        if stack is not None:
            label = f"deploy stack {self.stack} ({len(needs_deploy)} change(s))"
            steps.append((label, partial(self._deploy, stack.file, since)))
        for change in plan.of("delete", "service"):
            steps.append((f"remove service {change.name}", partial(self._rm, "service", change)))
        changed = [
            c.name for c in plan.pending if c.kind == "service" and c.action in ("create", "update")
        ]
        if changed:
            steps.append(
                (
                    "wait for the engine to converge",
                    partial(self.wait, changed, timeout=timeout, since=since),
                )
            )
        for kind in ("network", "volume", "secret"):
            for change in plan.of("delete", kind):
                steps.append((f"remove {kind} {change.name}", partial(self._rm, kind, change)))
        return steps

    def _create_secret(self, name: str, ref: SecretKeyRef) -> None:
        value = self.key_for_apply(ref, name)
        labels = [
            arg for k, v in self._secret_labels(ref).items() for arg in ("--label", f"{k}={v}")
        ]
        self._run("secret", "create", *labels, name, "-", stdin=value)

    def _deploy(self, stack: Artifact, since: dict[str, rollout.Rollout]) -> None:
        # What the engine says about each service before this deploy: its update status
        # afterwards is this apply's verdict only if it started anew.
        for svc in self._list("service"):
            started = (svc.get("UpdateStatus") or {}).get("StartedAt", "")
            since[svc["Spec"]["Name"]] = rollout.Rollout(started=started)
        with tempfile.TemporaryDirectory(prefix="attonix-swarm-") as tmp:
            path = os.path.join(tmp, "docker-stack.yaml")
            Path(path).write_text(stack.text(), encoding="utf-8")
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
        state = self.desired_state()
        live = {s["Spec"]["Name"]: s for s in self._list("service")}
        wanted = {w.name: w for w in state.workloads}
        selected = sorted(n for n in set(wanted) | set(live) if names is None or n in names)
        tasks: list[dict[str, Any]] = []
        inspected = [n for n in selected if n in live]
        if inspected:
            ids = self._run("service", "ps", "-q", "--no-trunc", *inspected).stdout.split()
            if ids:
                # A task can be removed between ps and inspect; inspect then prints the others.
                tasks = self._run("inspect", *sorted(set(ids)), check=False).json() or []
        net_ids = {n["Id"]: n["Name"] for n in self._list("network")} if inspected else {}
        bases = {r: r.base for r in state.secrets}
        out = []
        for name in selected:
            svc = live.get(name)
            spec = wanted.get(name)
            desired_n = spec.replicas if spec is not None else 0
            if svc is None:
                out.append(ServiceStatus(name, desired_n, 0, 0, message="not deployed"))
                continue
            drift = spec is not None and views.unversioned(
                views.service_view(spec, secret_names=bases)
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

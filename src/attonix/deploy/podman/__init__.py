"""Podman driver: converges one podman cluster through the ``podman`` CLI, host by host.

A cluster of one host is one engine (its connection, else this machine's Podman). A cluster
of several hosts needs one Podman connection per host (``podman: {hosts: ...}``, see
:mod:`attonix.deploy.connections`): Podman has no scheduler, so the driver is the one that
places the replicas — spread evenly over the candidate hosts in blueprint order (at most one
per host for a workload that publishes its ports), a database on its node — which is the
placement contract of :mod:`attonix.policy.placement`; one connection for several hosts is
refused. Without any connection, this machine's Podman stands in for every host of the cluster
(a lab set-up, said in every plan), which keeps no placement. Networks and secrets exist on
every host; their plan entries are named ``<name>@<host>``.

Observed state is every pod, container, secret, volume and network carrying the blueprint's
labels (secrets and networks also carry the cluster's); desired state is what the podman
renderer hands over next to its kube YAML (:func:`attonix.render.podman.rendered`): each
workload's replicas, settings, secret keys, volumes and network, typed. The driver plans,
versions secrets and reports status from those, and gives each YAML — with the versioned
secret names and one host's share of the replicas filled in — to ``podman kube play``
without reading it back. A service whose view differs —
image, environment, ports, mounts, or fewer running pods than replicas (or, on several hosts,
another count per host) — is replaced one host at a time: that host's pods are removed,
``podman kube play`` runs its share of the YAML, and the next host waits until they run and
pass their health check. Behind a load balancer with health checks over the hosts, a good
update so fails no request; on one host the service is down between removal and start.
Podman has no scheduler: a container that crashes is restarted by Podman (``restartPolicy:
Always``), but one stopped or removed by hand stays down until the next apply, which sees the
missing replica as drift.

Podman runs health checks from systemd timers; where systemd is not PID 1 the timers never
fire, so :meth:`PodmanDriver.status` runs each running container's check once itself, at
most :data:`HEALTH_CHECKS_AT_ONCE` at a time (eight, or two per CPU).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from attonix.blueprint.model import Blueprint, Database, Host
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
from attonix.deploy.connections import Connection, PodmanEndpoint, podman_endpoints
from attonix.deploy.podman import views
from attonix.deploy.secrets import SecretSource
from attonix.policy.placement import cluster_nodes, database_node, matches
from attonix.render.base import Artifact, dump_yaml
from attonix.render.chef.haproxy import CHECK_FALL, CHECK_INTER_SECONDS, CHECK_RISE, haproxy_lbs
from attonix.render.desired import DesiredState, Rendered, SecretKeyRef, Workload
from attonix.render.labels import NAME, blueprint_labels
from attonix.render.podman import (
    CLUSTER_LABEL,
    rendered,
    tmp_volume_of,
    units_of,
    with_replicas,
    with_secret_names,
    yaml_path,
)

#: Health checks :meth:`PodmanDriver.status` runs at once (each is a ``podman healthcheck
#: run``, mostly waiting on the container's own probe): eight, or two per CPU where fewer —
#: more at once on a small machine makes the checks themselves miss their timeout (2 s).
HEALTH_CHECKS_AT_ONCE = min(8, 2 * (os.cpu_count() or 1))
#: Seconds beyond twice its own timeout after which :meth:`PodmanDriver.status` stops a
#: container's health check and counts it as failed.
CHECK_GRACE_SECONDS = 5
#: Seconds a replaced container gets to finish its requests after SIGTERM.
STOP_GRACE_SECONDS = 10
SECRET_LABEL = "attonix.io/secret"  # noqa: S105 - a label name, not a password
_DOWN_MARKERS = ("Cannot connect to Podman", "unable to connect to Podman")


def _ssh_home(state: Path, cluster: str, known_hosts: Path) -> Path:
    """A home directory for Podman's SSH client whose known_hosts holds only the pinned keys."""
    home = state / "ssh-home" / cluster
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "known_hosts").write_bytes(known_hosts.read_bytes())
    return home


def secret_document(name: str, values: dict[str, str], *, engine: tuple[int, ...]) -> str:
    """The Kubernetes ``Secret`` a Podman secret holds for ``podman kube play`` to mount.

    Podman 4.3 writes ``data`` values into the files as they are (and ignores ``stringData``);
    later versions decode ``data`` as base64, as Kubernetes does, and let ``stringData``
    override it — so older engines get raw ``data``, newer ones both.
    """
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if engine < (4, 4):
        doc["data"] = dict(values)
    else:
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        doc["stringData"] = dict(values)
    return json.dumps(doc)


@dataclasses.dataclass(frozen=True)
class Engine:
    """One Podman service the driver talks to: a host of the cluster, or (``host`` None) the
    one engine of a cluster of one host."""

    host: str | None
    argv: tuple[str, ...]
    env: dict[str, str] | None = None

    def tag(self, name: str) -> str:
        """``name`` in a plan: ``<name>@<host>`` when the cluster has several engines."""
        return name if self.host is None else f"{name}@{self.host}"


@dataclasses.dataclass(frozen=True, slots=True)
class NetworkPayload:
    """A network change: the cluster's bridge network (or a stray one) ``name`` on ``engine``,
    created with ``labels``."""

    engine: Engine
    name: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class SecretPayload:
    """A secret change: the Podman secret ``name`` on ``engine``, holding the secret keys
    ``keys`` (their values are read from the secret source at apply time, never kept in the
    plan; none for a secret to remove)."""

    engine: Engine
    name: str
    keys: tuple[SecretKeyRef, ...] = ()

    @property
    def secret(self) -> str:
        """The declared secret (or service login) it holds ("" for a secret to remove)."""
        return self.keys[0].secret if self.keys else ""


@dataclasses.dataclass(frozen=True, slots=True)
class PodPayload:
    """A service to create or replace: its desired state, its kube YAML with the plan's
    versioned secret names (for ``podman kube play``), and the view its pods must match."""

    workload: Workload
    file: Artifact
    view: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class RemovalPayload:
    """A service whose pods carry the blueprint's labels but which the blueprint no longer
    runs on this cluster: ``service`` is the name in its pods' labels."""

    service: str


#: The payload of a Podman change, per kind: networks a :class:`NetworkPayload`, secrets a
#: :class:`SecretPayload`, services a :class:`PodPayload` (or a :class:`RemovalPayload`).
PodmanPayload = NetworkPayload | SecretPayload | PodPayload | RemovalPayload


class PodmanDriver(EngineDriver):
    """Plan, apply, status and destroy for one podman cluster of a blueprint."""

    target = "podman"
    down_markers = _DOWN_MARKERS

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        podman: str = "podman",
        state: Path | None = None,
        connection: Connection | None = None,
    ) -> None:
        super().__init__(
            blueprint, cluster=cluster, secrets=secrets, state=state, connection=connection
        )
        endpoints = podman_endpoints(connection.podman if connection is not None else None)
        self.engines = [
            self._engine(podman, host, endpoint) for host, endpoint in endpoints.items()
        ]
        self._versions: dict[str | None, tuple[int, ...]] = {}
        self._rendered: Rendered | None = None

    def _engine(self, podman: str, host: str | None, endpoint: PodmanEndpoint | None) -> Engine:
        argv = [podman]
        if endpoint is not None:
            argv += ["--remote", "--url", endpoint.url]
            if endpoint.identity is not None:
                argv += ["--identity", str(endpoint.identity)]
        # Podman's SSH client reads (and trusts on first use into) $HOME/.ssh/known_hosts:
        # a pinned known_hosts gets a home of its own, so only the pinned key is accepted.
        env = None
        if endpoint is not None and endpoint.known_hosts is not None:
            where = self.cluster if host is None else f"{self.cluster}/{host}"
            env = {"HOME": str(_ssh_home(self._state_dir(), where, endpoint.known_hosts))}
        return Engine(host, tuple(argv), env)

    @property
    def endpoint(self) -> str:
        """The engines this driver touches, in words; the local Podman standing in for a
        cluster of several hosts says so."""
        said = super().endpoint
        hosts = [h.name for h in self._nodes()]
        if self.connection is None and len(hosts) > 1:
            return f"{said}, standing in for all {len(hosts)} hosts ({', '.join(hosts)})"
        return said

    # ------------------------------------------------------------------ engine access

    def _run(
        self,
        engine: Engine,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = _process.DEFAULT_TIMEOUT,
    ) -> _process.Completed:
        return _process.run(
            [*engine.argv, *args],
            stdin=stdin,
            check=check,
            timeout=timeout,
            env=engine.env,
            unavailable=self._engine_down,
        )

    def _labels(self) -> dict[str, str]:
        return blueprint_labels(self.bp)

    def _ours(self, labels: dict[str, str] | None) -> bool:
        return all((labels or {}).get(k) == v for k, v in self._labels().items())

    def _mine(self, labels: dict[str, str] | None) -> bool:
        # Secrets and networks of another podman cluster of the blueprint are not ours.
        return self._ours(labels) and (labels or {}).get(CLUSTER_LABEL) == self.cluster

    def _inspect(self, engine: Engine, kind: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        # Something can vanish between ls and inspect; inspect then prints the others.
        found = self._run(engine, *kind.split(), "inspect", *ids, check=False).json()
        return list(found or [])

    def version(self, engine: Engine | None = None) -> tuple[int, ...]:
        """An engine's Podman version (the first engine's by default), asked once."""
        engine = engine or self.engines[0]
        if engine.host not in self._versions:
            text = self._run(engine, "version", "--format", "{{.Client.Version}}").stdout
            parts = text.strip().split("-")[0].split(".")
            self._versions[engine.host] = tuple(int(p) for p in parts if p.isdigit())
        return self._versions[engine.host]

    def _pods(self, engine: Engine) -> list[dict[str, Any]]:
        key, value = next(iter(self._labels().items()))
        pods = self._run(
            engine, "pod", "ps", "--filter", f"label={key}={value}", "--format", "json"
        )
        return [p for p in pods.json() or [] if self._ours(p.get("Labels"))]

    def _containers(self, engine: Engine) -> dict[str, list[dict[str, Any]]]:
        """Service name -> its pods' app containers on ``engine``:
        ``{"info", "view", "running", "pod", "engine"}``."""
        pods = self._pods(engine)
        ids = [
            c["Id"] for p in pods for c in p.get("Containers") or [] if c["Id"] != p.get("InfraId")
        ]
        infos = self._inspect(engine, "container", ids)
        images = {i.get("Image", "") for i in infos}
        image_env = {
            img["Id"]: img.get("Config", {}).get("Env") or []
            for img in self._inspect(engine, "image", sorted(i for i in images if i))
        }
        out: dict[str, list[dict[str, Any]]] = {}
        for info in infos:
            labels = info.get("Config", {}).get("Labels") or {}
            service = labels.get(NAME, "")
            view = views.container_view(info, image_env=image_env.get(info.get("Image", ""), []))
            out.setdefault(service, []).append(
                {
                    "info": info,
                    "view": view,
                    "running": views.running(info),
                    "pod": info["Pod"],
                    "engine": engine,
                }
            )
        # Pods whose app container is gone still hold a replica's name: count them as down.
        seen = {c["pod"] for cs in out.values() for c in cs}
        for p in pods:
            if p["Id"] not in seen:
                service = (p.get("Labels") or {}).get(NAME, "")
                info = {"Name": p["Name"], "Pod": p["Id"], "State": {"Status": "missing"}}
                out.setdefault(service, []).append(
                    {"info": info, "view": None, "running": False, "pod": p["Id"], "engine": engine}
                )
        return out

    def _every_container(self) -> dict[str, list[dict[str, Any]]]:
        """:meth:`_containers` of every engine, merged by service (engine order kept)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for engine in self.engines:
            for service, cs in self._containers(engine).items():
                out.setdefault(service, []).extend(cs)
        return out

    def _secrets_live(self, engine: Engine) -> dict[str, dict[str, Any]]:
        ids = self._run(engine, "secret", "ls", "--format", "{{.ID}}").stdout.split()
        found = self._inspect(engine, "secret", ids)
        return {s["Spec"]["Name"]: s for s in found if self._mine(s["Spec"].get("Labels"))}

    def _networks_live(self, engine: Engine) -> dict[str, dict[str, Any]]:
        key, value = next(iter(self._labels().items()))
        names = self._run(
            engine, "network", "ls", "--filter", f"label={key}={value}", "--format", "{{.Name}}"
        ).stdout.split()
        return {
            n["name"]: n for n in self._inspect(engine, "network", names) if self._mine(n["labels"])
        }

    # ------------------------------------------------------------------ placement

    def _nodes(self) -> list[Host]:
        cluster = next(c for c in self.bp.orchestration.clusters if c.name == self.cluster)
        return cluster_nodes(self.bp, cluster)

    def _check_engines(self) -> None:
        """The connection's engines must be the cluster's hosts: one engine standing for
        several hosts would run every replica on one of them (the placement contract is
        one engine per host)."""
        nodes = [h.name for h in self._nodes()]
        given = [e.host for e in self.engines]
        if given == [None]:
            # No connection at all: this machine's Podman stands in for the cluster (a lab
            # set-up, said in every plan through ``endpoint``).
            if len(nodes) > 1 and self.connection is not None:
                raise DeployError(
                    f"podman cluster {self.cluster} has {len(nodes)} hosts "
                    f"({', '.join(nodes)}) but one Podman connection: every replica would "
                    "run on that one engine",
                    hint="Give the cluster one Podman connection per host in the connections "
                    "file (podman: {hosts: {HOST: {url: ...}}}).",
                )
            return
        unknown = sorted(str(h) for h in given if h not in nodes)
        missing = [h for h in nodes if h not in given]
        if unknown or missing:
            raise DeployError(
                f"the Podman connections of cluster {self.cluster} name "
                + ", ".join(
                    part
                    for part in (
                        f"hosts not in the cluster ({', '.join(unknown)})" if unknown else "",
                        f"no engine for {', '.join(missing)}" if missing else "",
                    )
                    if part
                ),
                hint=f"Give exactly one connection per host of the cluster: {', '.join(nodes)}.",
            )

    def shares(self, service: str, replicas: int) -> dict[str | None, int]:
        """How many pods of ``service`` each engine runs (engine host -> count).

        One engine runs them all. On several hosts, a database runs on its node; a workload's
        replicas go round-robin over its candidate hosts (the cluster's hosts its placement
        allows, in blueprint order), so counts differ by at most one between hosts.
        """
        out = {e.host: 0 for e in self.engines}
        if list(out) == [None]:
            return {None: replicas}
        unit = _workload(self.bp, self.cluster, service)
        if isinstance(unit, Database):
            node = database_node(self.bp, unit)
            candidates = [node.name] if node is not None else []
        else:
            candidates = [h.name for h in self._nodes() if matches(h, unit.placement)]
        for i in range(replicas if candidates else 0):
            out[candidates[i % len(candidates)]] += 1
        return out

    def _placed(self, want: dict[str, Any], shares: dict[str | None, int]) -> dict[str, Any]:
        return want if list(shares) == [None] else {**want, "hosts": shares}

    @staticmethod
    def _running_per_host(
        containers: list[dict[str, Any]], shares: dict[str | None, int]
    ) -> dict[str | None, int]:
        counts = dict.fromkeys(shares, 0)
        for c in containers:
            host = c["engine"].host
            counts[host] = counts.get(host, 0) + (1 if c["running"] else 0)
        return counts

    # ------------------------------------------------------------------ desired state

    def _every_state(self) -> Rendered:
        if self._rendered is None:
            self._rendered = rendered(self.bp)
        return self._rendered

    def desired_state(self) -> DesiredState:
        """What the renderer says this cluster runs: workloads with their replicas, settings
        and secret keys, the network and the scratch volumes (rendered once per driver)."""
        return self._every_state().of(self.target, self.cluster)

    def desired(self) -> list[Artifact]:
        """This cluster's rendered kube YAML and Quadlet units (copies: the desired state the
        driver plans from stays as rendered whatever a caller does with them)."""
        return [
            dataclasses.replace(a, content=copy.deepcopy(a.content))
            for a in self.desired_state().files
        ]

    def _secret_labels(self, secret: str) -> dict[str, str]:
        return {**self._labels(), CLUSTER_LABEL: self.cluster, SECRET_LABEL: secret}

    def _secret_names(self, state: DesiredState) -> dict[str, tuple[str, tuple[SecretKeyRef, ...]]]:
        """Podman secret name before versioning -> its versioned name and the keys it holds.

        A Podman secret holds every key of one declared secret (a Kubernetes ``Secret``
        document), so its version tag is keyed over all of their values."""
        by_base: dict[str, list[SecretKeyRef]] = {}
        for ref in state.secrets:
            by_base.setdefault(ref.base, []).append(ref)
        cache: dict[str, dict[str, str]] = {}
        out: dict[str, tuple[str, tuple[SecretKeyRef, ...]]] = {}
        for base, refs in sorted(by_base.items()):
            values = {r.key: self.key_value(r, cache) for r in refs}
            out[base] = (self.versioned(base, values), tuple(refs))
        return out

    # ------------------------------------------------------------------ plan

    def plan(self) -> Plan[PodmanPayload]:
        """Compare the desired state (with versioned secret names) with the live hosts."""
        self._check_engines()
        state = self.desired_state()
        secrets = self._secret_names(state)
        names = {base: name for base, (name, _) in secrets.items()}
        files = {a.path: a for a in state.files}
        changes: list[Change[PodmanPayload]] = []
        for engine in self.engines:
            changes += self._plan_engine(engine, state=state, secrets=secrets)
        containers = self._every_container()
        service_changes: list[Change[PodmanPayload]] = []
        for w in sorted(state.workloads, key=lambda w: w.key):
            shares = self.shares(w.key, w.replicas)
            view = views.pod_view(w, secret_names=names)
            want = self._placed(view, shares)
            mine = [c for c in containers.get(w.key, []) if c["view"] is not None]
            down = [c for c in containers.get(w.key, []) if c["view"] is None]
            observed = views.service_view(want, mine)
            if observed is None and down:
                observed = {**want, "replicas": 0}
            if observed is not None and "hosts" in want:
                observed = {
                    **observed,
                    "hosts": self._running_per_host(containers.get(w.key, []), shares),
                }
            rendered_file = files[yaml_path(self.cluster, w.key)]
            file = Artifact(
                self.target,
                rendered_file.path,
                with_secret_names(rendered_file.content, names),
                "yaml",
            )
            service_changes.append(
                compare(
                    "service",
                    w.name,
                    desired=want,
                    observed=observed,
                    payload=PodPayload(w, file, view),
                )
            )
        wanted = {w.key for w in state.workloads}
        others = self._other_clusters_services()
        for service, cs in sorted(containers.items()):
            if service in wanted or service in others:
                continue
            name = _deployment_of(cs[0]["info"].get("Name", service))
            seen = [c["view"] for c in cs if c["view"] is not None]
            service_changes.append(
                compare(
                    "service",
                    name,
                    desired=None,
                    observed=seen[0] if seen else {"replicas": 0},
                    payload=RemovalPayload(service),
                )
            )
        # Networks and secrets come first and go last: keep the plan in that order.
        creates = [c for c in changes if c.action != "delete"]
        deletes = sorted((c for c in changes if c.action == "delete"), key=_networks_last)
        return Plan(self.target, self.cluster, (*creates, *service_changes, *deletes))

    def _plan_engine(
        self,
        engine: Engine,
        *,
        state: DesiredState,
        secrets: Mapping[str, tuple[str, tuple[SecretKeyRef, ...]]],
    ) -> list[Change[PodmanPayload]]:
        """The network and secret changes of one engine."""
        live_secrets = self._secrets_live(engine)
        live_networks = self._networks_live(engine)
        wanted_nets = {n.name: n for n in state.networks}
        changes: list[Change[PodmanPayload]] = []
        for name in sorted(set(wanted_nets) | set(live_networks)):
            net = wanted_nets.get(name)
            live_net = live_networks.get(name)
            changes.append(
                compare(
                    "network",
                    engine.tag(name),
                    desired=None
                    if net is None
                    else {"driver": net.driver, "labels": views.own_labels(net.labels)},
                    observed=None
                    if live_net is None
                    else {
                        "driver": live_net["driver"],
                        "labels": views.own_labels(live_net["labels"]),
                    },
                    payload=NetworkPayload(engine, name, net.labels if net else {}),
                )
            )
        wanted_secrets = dict(secrets.values())
        for name, refs in sorted(wanted_secrets.items()):
            live = live_secrets.get(name)
            changes.append(
                compare(
                    "secret",
                    engine.tag(name),
                    desired={"labels": views.own_labels(self._secret_labels(refs[0].secret))},
                    observed=None
                    if live is None
                    else {"labels": views.own_labels(live["Spec"]["Labels"])},
                    payload=SecretPayload(engine, name, refs),
                )
            )
        for name, item in sorted(live_secrets.items()):
            if name not in wanted_secrets:
                changes.append(
                    compare(
                        "secret",
                        engine.tag(name),
                        desired=None,
                        observed={"labels": views.own_labels(item["Spec"]["Labels"])},
                        payload=SecretPayload(engine, name),
                    )
                )
        return changes

    def _other_clusters_services(self) -> set[str]:
        return {
            w.key
            for cluster, state in self._every_state().states.items()
            if cluster != self.cluster
            for w in state.workloads
        }

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan[PodmanPayload], progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Create the networks and secrets, replace changed pods host by host, prune, wait."""
        self._check_engines()
        return super().apply(plan, progress, timeout=timeout)

    def _apply_steps(self, plan: Plan[PodmanPayload], *, timeout: float) -> list[Step]:
        steps: list[Step] = []
        for change in plan.of("update", "network"):
            raise DeployError(
                f"network {change.name} differs from the blueprint and Podman cannot change "
                "a network in place",
                hint="Run `attonix destroy` for this target, then apply again.",
            )
        for change in plan.of("create", "network"):
            if isinstance(net := change.payload, NetworkPayload):
                steps.append(
                    (
                        f"create network {change.name}",
                        partial(self._create_network, net),
                    )
                )
        for change in plan.of("create", "secret"):
            if isinstance(secret := change.payload, SecretPayload):
                steps.append((f"create secret {change.name}", partial(self._create_secret, secret)))
        changed: list[str] = []
        for change in plan.pending:
            pod = change.payload
            if change.kind == "service" and isinstance(pod, PodPayload):
                rolling = change.action == "update" and len(self.engines) > 1
                label = f"{change.action} service {change.name}" + (
                    " (host by host)" if rolling else ""
                )
                steps.append((label, partial(self._play, change.name, pod, timeout=timeout)))
                changed.append(change.name)
        for change in plan.of("delete", "service"):
            gone = change.payload
            service = gone.service if isinstance(gone, RemovalPayload) else change.name
            steps.append(
                (
                    f"remove service {change.name}",
                    partial(self._remove_service, change.name, service),
                )
            )
        if changed:
            steps.append(
                ("wait for the engine to converge", partial(self.wait, changed, timeout=timeout))
            )
        for kind, remove in (("secret", self._remove_secret), ("network", self._rm_network)):
            for change in plan.of("delete", kind):
                item = change.payload
                if isinstance(item, SecretPayload | NetworkPayload):
                    steps.append(
                        (f"remove {kind} {change.name}", partial(remove, item.engine, item.name))
                    )
        return steps

    def _create_network(self, net: NetworkPayload) -> None:
        labels = [a for k, v in net.labels.items() for a in ("--label", f"{k}={v}")]
        self._run(net.engine, "network", "create", *labels, net.name)

    def secret_document(
        self, name: str, values: dict[str, str], *, engine: Engine | None = None
    ) -> str:
        """The Kubernetes ``Secret`` a Podman secret holds, for the engine's version."""
        return secret_document(name, values, engine=self.version(engine))

    def _create_secret(self, secret: SecretPayload) -> None:
        cache: dict[str, dict[str, str]] = {}
        values = {r.key: self.key_value(r, cache) for r in secret.keys}
        if self.versioned(secret.keys[0].base, values) != secret.name:
            raise DeployError(
                f"secret {secret.secret!r} changed after the plan was made",
                hint="Plan again, then apply the new plan.",
            )
        labels = [
            a
            for k, v in self._secret_labels(secret.secret).items()
            for a in ("--label", f"{k}={v}")
        ]
        self._run(
            secret.engine,
            "secret",
            "create",
            *labels,
            secret.name,
            "-",
            stdin=self.secret_document(secret.name, values, engine=secret.engine),
        )

    def _service_pods(self, engine: Engine, service: str) -> list[str]:
        return [p["Id"] for p in self._pods(engine) if (p.get("Labels") or {}).get(NAME) == service]

    def _play(self, name: str, pod: PodPayload, *, timeout: float) -> None:
        """Replace a service's pods one host at a time: remove that host's pods, play its
        share, and wait until they run and pass their check before the next host, so the
        other hosts keep serving while one is replaced."""
        service = pod.workload.key
        unplaceable = self._unplaceable(service)
        if unplaceable:
            raise ConvergeFailed(service=name, failure="unschedulable", reason=unplaceable)
        shares = self.shares(service, pod.workload.replicas)
        want = pod.view
        rolling = len(self.engines) > 1
        drain, rejoin = self._balanced(service) if rolling else (0.0, 0.0)
        for i, engine in enumerate(self.engines):
            count = shares.get(engine.host, 0)
            current = self._containers(engine).get(service, [])
            same = [
                c
                for c in current
                if c["running"]
                and c["view"] is not None
                and {**c["view"], "replicas": 0} == {**want, "replicas": 0}
            ]
            if len(current) == count and len(same) == count and rolling:
                continue  # this host already runs its share of the new spec
            serving = [c["info"]["Id"] for c in current if c["running"] and c["view"] is not None]
            if serving and drain:
                # Leave the balancer first: a stopped container refuses new connections
                # (the balancer retries them elsewhere) while its pod's network stays up,
                # until the balancer's checks have taken the host out. Tearing the network
                # down under live traffic instead lets a connection hang until it times out.
                self._run(engine, "stop", "-t", str(STOP_GRACE_SECONDS), *serving)
                time.sleep(drain)
            # Down then play: --replace alone keeps pods beyond a lowered replica count.
            pods = self._service_pods(engine, service)
            if pods:
                self._run(engine, "pod", "rm", "-f", *pods)
            if count == 0:
                continue
            share = with_replicas(pod.file.content, count)
            with tempfile.TemporaryDirectory(prefix="attonix-podman-") as tmp:
                path = os.path.join(tmp, f"{name}.yaml")
                Path(path).write_text(dump_yaml(share), encoding="utf-8")
                network = pod.workload.networks[0]
                self._run(engine, "kube", "play", "--replace", "--network", network, path)
            if rolling:
                self.wait([name], timeout=timeout, since=engine)
                if rejoin and i < len(self.engines) - 1:
                    time.sleep(rejoin)  # the balancer takes the host back before the next goes

    def _balanced(self, service: str) -> tuple[float, float]:
        """Seconds the blueprint's HAProxy load balancers in front of ``service`` take to let a
        host go once its checks fail, and to take it back once they pass — one check interval
        more than their ``fall`` and ``rise`` — or ``(0, 0)`` when none balances it."""
        fronts = [fe for lb in haproxy_lbs(self.bp) for fe in lb.frontends if fe.backend == service]
        if not fronts:
            return 0.0, 0.0
        return (
            float(CHECK_INTER_SECONDS * (CHECK_FALL + 1)),
            float(CHECK_INTER_SECONDS * (CHECK_RISE + 1)),
        )

    def _remove_service(self, name: str, service: str) -> None:
        for engine in self.engines:
            pods = self._service_pods(engine, service)
            if pods:
                self._run(engine, "pod", "rm", "-f", *pods)
            self._run(engine, "volume", "rm", "-f", tmp_volume_of(name), check=False)

    def _remove_secret(self, engine: Engine, name: str) -> None:
        # Podman 4.3 copies a mounted secret into a volume of the same name; it goes too.
        self._run(engine, "volume", "rm", "-f", name, check=False)
        self._run(engine, "secret", "rm", name)

    def _rm_network(self, engine: Engine, name: str) -> None:
        self._run(engine, "network", "rm", "-f", name)

    # ------------------------------------------------------------------ status

    def _healthy(self, c: dict[str, Any]) -> bool:
        """Runs the container's check once (systemd timers may not); a container that was
        healthy stays so through fewer failures in a row than its check's ``retries``, as
        Podman itself judges it — one slow check on a busy host is not a failed service.

        A check still running at twice its own timeout, plus :data:`CHECK_GRACE_SECONDS`, is
        stopped and counts as failed: Podman 4.3 does not end a hung check (a frozen web
        server) at its timeout, and without this limit one such container stalled status,
        and every wait and verify reading it, for the engine call's ten minutes."""
        info = c["info"]
        if not views.running(info):
            return False
        check = info.get("Config", {}).get("Healthcheck") or {}
        if not check.get("Test"):
            return True
        # Timeout in nanoseconds; Podman's default (30 s) where none is set.
        limit = 2 * int(check.get("Timeout") or 30e9) / 1e9 + CHECK_GRACE_SECONDS
        try:
            done = self._run(
                c["engine"], "healthcheck", "run", info["Id"], check=False, timeout=limit
            )
        except _process.TimedOut:
            return False
        if done.returncode == 0:
            return True
        health = info.get("State", {}).get("Health") or {}
        streak = int(health.get("FailingStreak") or 0) + 1
        return health.get("Status") == "healthy" and streak < int(check.get("Retries") or 1)

    def _rollout(self, names: Collection[str], since: Any) -> list[ServiceStatus]:
        """The status of the services an apply waits for (``names``) and of no other: only
        their containers are looked at and health-checked, so another service of the cluster
        — broken, or with a slow check — neither fails nor slows an apply that did not touch
        it. While one host is replaced (``since`` is its engine), the status of its share."""
        engines = [since] if isinstance(since, Engine) else self.engines
        return self._status(engines, only=names)

    def status(self) -> list[ServiceStatus]:
        """Desired, running and healthy replicas per service of this cluster (all hosts)."""
        return self._status(self.engines)

    def _checked(self, containers: Sequence[dict[str, Any]]) -> list[bool]:
        """:meth:`_healthy` of each container, at most :data:`HEALTH_CHECKS_AT_ONCE` checks
        at a time (each mostly waits on the container's probe, not on this machine)."""
        if len(containers) <= 1:
            return [self._healthy(c) for c in containers]
        workers = min(HEALTH_CHECKS_AT_ONCE, len(containers))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="podman-check") as pool:
            return list(pool.map(self._healthy, containers))

    def _status(
        self, engines: Sequence[Engine], *, only: Collection[str] | None = None
    ) -> list[ServiceStatus]:
        """The status of every service of the cluster on ``engines``, or (``only``) of the
        blueprint's services of those names: the others' containers are not checked."""
        state = self.desired_state()
        wanted = {w.key: w for w in state.workloads}
        containers: dict[str, list[dict[str, Any]]] = {}
        for engine in engines:
            for service, cs in self._containers(engine).items():
                containers.setdefault(service, []).extend(cs)
        hosts = {e.host for e in engines}
        if only is None:
            services = sorted(set(wanted) | (set(containers) - self._other_clusters_services()))
        else:
            services = sorted(k for k, w in wanted.items() if w.name in only)
        live = [c for service in services for c in containers.get(service, []) if c["view"]]
        verdicts = dict(zip((id(c) for c in live), self._checked(live), strict=True))
        out = []
        for service in services:
            cs = containers.get(service, [])
            w = wanted.get(service)
            healthy = sum(1 for c in cs if verdicts.get(id(c), False))
            drift = False
            if w is not None:
                name = w.name
                shares = self.shares(service, w.replicas)
                desired_n = sum(n for h, n in shares.items() if h in hosts)
                image = str(w.spec["image"])
                want = views.pod_view(w, secret_names={})
                seen = views.service_view(want, [c for c in cs if c["view"] is not None])
                drift = seen is not None and views.unversioned(
                    {**seen, "replicas": 0}
                ) != views.unversioned({**want, "replicas": 0})
                if len(self.engines) > 1 and not drift:
                    per_host = self._running_per_host(cs, shares)
                    drift = any(per_host.get(h, 0) > shares.get(h, 0) for h in hosts)
            else:
                name = _deployment_of(cs[0]["info"].get("Name", service))
                desired_n = 0
                image = next((c["view"]["image"] for c in cs if c["view"]), "")
            status = views.service_status(
                name,
                desired=desired_n,
                containers=cs,
                healthy=healthy,
                image=image,
                orphan=w is None,
                drift=drift,
            )
            unplaceable = self._unplaceable(service) if w is not None else ""
            if unplaceable:
                status = dataclasses.replace(status, failure="unschedulable", reason=unplaceable)
            out.append(status)
        return out

    def _unplaceable(self, service: str) -> str:
        """Why no host of this cluster may run ``service`` under its placement pin ("" when
        one may). Podman has no scheduler: the driver is the one that keeps the pin."""
        pin = getattr(_workload(self.bp, self.cluster, service), "placement", None)
        if pin is None:
            return ""
        cluster = next(c for c in self.bp.orchestration.clusters if c.name == self.cluster)
        hosts = self.bp.cluster_hosts(cluster)
        for h in hosts:
            if (
                (not pin.zones or h.zone in pin.zones)
                and (not pin.racks or h.rack in pin.racks)
                and (not pin.hosts or h.name in pin.hosts)
            ):
                return ""
        wanted = ", ".join(
            f"{label} {', '.join(values)}"
            for label, values in (("zones", pin.zones), ("racks", pin.racks), ("hosts", pin.hosts))
            if values
        )
        have = ", ".join(f"{h.name} (zone {h.zone}, rack {h.rack})" for h in hosts) or "none"
        return f"placement asks for {wanted}; hosts of podman cluster {self.cluster}: {have}"

    # ------------------------------------------------------------------ destroy

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line each (reads only)."""
        return [label for label, _ in self._removal_steps() if not label.startswith("wait ")]

    def _removal_steps(self) -> list[Step]:
        """What :meth:`destroy` would do now, one labelled step per resource (reads only)."""
        steps: list[Step] = []
        for engine in self.engines:
            steps += self._engine_removals(engine)
        return steps

    def _engine_removals(self, engine: Engine) -> list[Step]:
        others = self._other_clusters_services()
        pods = [p for p in self._pods(engine) if (p.get("Labels") or {}).get(NAME) not in others]
        key, value = next(iter(self._labels().items()))
        strays = [
            c
            for c in self._run(
                engine, "ps", "-a", "--filter", f"label={key}={value}", "--format", "json"
            ).json()
            or []
            if self._ours(c.get("Labels")) and (c.get("Labels") or {}).get(NAME) not in others
        ]
        secrets = sorted(self._secrets_live(engine))
        volumes = [v.name for v in self.desired_state().volumes]
        volumes += [
            v["Name"]
            for v in self._inspect(
                engine,
                "volume",
                self._run(
                    engine,
                    "volume",
                    "ls",
                    "--filter",
                    f"label={key}={value}",
                    "--format",
                    "{{.Name}}",
                ).stdout.split(),
            )
            if self._ours(v.get("Labels"))
        ]
        at = "" if engine.host is None else f" on {engine.host}"
        steps: list[Step] = []
        if pods:
            ids = [p["Id"] for p in pods]
            names = ", ".join(sorted(str(p.get("Name", p["Id"][:12])) for p in pods))
            steps.append(
                (
                    f"remove {len(pods)} pod(s){at}: {names}",
                    partial(self._run, engine, "pod", "rm", "-f", *ids),
                )
            )
        if strays:
            stray_ids = [c["Id"] for c in strays]
            names = ", ".join(sorted(str((c.get("Names") or [c["Id"][:12]])[0]) for c in strays))
            steps.append(
                (
                    f"remove {len(strays)} container(s){at}: {names}",
                    partial(self._run, engine, "rm", "-f", *stray_ids),
                )
            )
        for name in secrets:
            steps.append(
                (f"remove secret {engine.tag(name)}", partial(self._remove_secret, engine, name))
            )
        existing = set(self._run(engine, "volume", "ls", "--format", "{{.Name}}").stdout.split())
        for vol in sorted(set(volumes) & existing):
            steps.append(
                (
                    f"remove volume {engine.tag(vol)}",
                    partial(self._run, engine, "volume", "rm", "-f", vol),
                )
            )
        for net in sorted(self._networks_live(engine)):
            steps.append(
                (f"remove network {engine.tag(net)}", partial(self._rm_network, engine, net))
            )
        return steps

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every pod, container, secret, volume and network labelled for the cluster,
        on every host."""
        lock = self.lock()
        with lock.held(purpose="destroy"):
            return run_steps(self.target, self.cluster, self._removal_steps(), progress)


def _deployment_of(container_or_pod: str) -> str:
    """``<deployment>`` from ``<deployment>-pod-<n>[-<container>]`` (podman kube play names)."""
    head, sep, _ = container_or_pod.rpartition("-pod-")
    return head if sep else container_or_pod


def _workload(bp: Blueprint, cluster: str, service: str) -> Any:
    return next(w for w in units_of(bp, cluster) if w.name == service)


def _networks_last(change: Change[Any]) -> bool:
    return change.kind == "network"


__all__ = [
    "CLUSTER_LABEL",
    "Engine",
    "NetworkPayload",
    "PodPayload",
    "PodmanDriver",
    "PodmanPayload",
    "RemovalPayload",
    "SecretPayload",
    "secret_document",
]

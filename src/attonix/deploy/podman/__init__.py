"""Podman driver: converges one podman cluster on this host through the ``podman`` CLI.

Observed state is every pod, container, secret, volume and network carrying the blueprint's
labels (secrets and networks also carry the cluster's); desired state is the podman
renderer's kube YAML with versioned secret names filled in. A service whose view differs —
image, environment, ports, mounts, or fewer running pods than replicas — is replaced: its
pods are removed and ``podman kube play`` runs its YAML again. Podman has no scheduler: a
container that crashes is restarted by Podman (``restartPolicy: Always``), but one stopped
or removed by hand stays down until the next apply, which sees the missing replica as drift.

Podman runs health checks from systemd timers; where systemd is not PID 1 the timers never
fire, so :meth:`PodmanDriver.status` runs each running container's check once itself.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
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
from attonix.deploy.podman import views
from attonix.deploy.secrets import SecretSource, version_tag
from attonix.render.base import Artifact, dump_yaml
from attonix.render.labels import NAME, blueprint_labels
from attonix.render.podman import (
    deployment_name,
    network_name,
    render,
    secret_base,
    tmp_volume,
    units_of,
    workloads_of,
    yaml_path,
)
from attonix.render.workloads import consumer_secrets

CLUSTER_LABEL = "attonix.io/podman-cluster"
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


class PodmanDriver(EngineDriver):
    """Plan, apply, status and destroy for one podman cluster of a blueprint, on this host."""

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
        self.network = network_name(blueprint, cluster)
        self._podman = [podman]
        endpoint = connection.podman if connection is not None else None
        if endpoint is not None:
            self._podman += ["--remote", "--url", endpoint.url]
            if endpoint.identity is not None:
                self._podman += ["--identity", str(endpoint.identity)]
        # Podman's SSH client reads (and trusts on first use into) $HOME/.ssh/known_hosts:
        # a pinned known_hosts gets a home of its own, so only the pinned key is accepted.
        self._env = (
            {"HOME": str(_ssh_home(self._state_dir(), cluster, endpoint.known_hosts))}
            if endpoint is not None and endpoint.known_hosts is not None
            else None
        )
        self._version: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ engine access

    def _run(self, *args: str, stdin: str | None = None, check: bool = True) -> _process.Completed:
        return _process.run(
            [*self._podman, *args],
            stdin=stdin,
            check=check,
            env=self._env,
            unavailable=self._engine_down,
        )

    def _labels(self) -> dict[str, str]:
        return blueprint_labels(self.bp)

    def _ours(self, labels: dict[str, str] | None) -> bool:
        return all((labels or {}).get(k) == v for k, v in self._labels().items())

    def _mine(self, labels: dict[str, str] | None) -> bool:
        # Secrets and networks of another podman cluster of the blueprint are not ours.
        return self._ours(labels) and (labels or {}).get(CLUSTER_LABEL) == self.cluster

    def _inspect(self, kind: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        # Something can vanish between ls and inspect; inspect then prints the others.
        found = self._run(*kind.split(), "inspect", *ids, check=False).json()
        return list(found or [])

    def version(self) -> tuple[int, ...]:
        """The Podman version as a tuple of integers, asked once."""
        if self._version is None:
            text = self._run("version", "--format", "{{.Client.Version}}").stdout.strip()
            self._version = tuple(int(p) for p in text.split("-")[0].split(".") if p.isdigit())
        return self._version

    def _pods(self) -> list[dict[str, Any]]:
        key, value = next(iter(self._labels().items()))
        pods = self._run("pod", "ps", "--filter", f"label={key}={value}", "--format", "json")
        return [p for p in pods.json() or [] if self._ours(p.get("Labels"))]

    def _containers(self) -> dict[str, list[dict[str, Any]]]:
        """Service name -> its pods' app containers: ``{"info", "view", "running", "pod"}``."""
        pods = self._pods()
        ids = [
            c["Id"] for p in pods for c in p.get("Containers") or [] if c["Id"] != p.get("InfraId")
        ]
        infos = self._inspect("container", ids)
        images = {i.get("Image", "") for i in infos}
        image_env = {
            img["Id"]: img.get("Config", {}).get("Env") or []
            for img in self._inspect("image", sorted(i for i in images if i))
        }
        out: dict[str, list[dict[str, Any]]] = {}
        for info in infos:
            labels = info.get("Config", {}).get("Labels") or {}
            service = labels.get(NAME, "")
            view = views.container_view(info, image_env=image_env.get(info.get("Image", ""), []))
            out.setdefault(service, []).append(
                {"info": info, "view": view, "running": views.running(info), "pod": info["Pod"]}
            )
        # Pods whose app container is gone still hold a replica's name: count them as down.
        seen = {c["pod"] for cs in out.values() for c in cs}
        for p in pods:
            if p["Id"] not in seen:
                service = (p.get("Labels") or {}).get(NAME, "")
                info = {"Name": p["Name"], "Pod": p["Id"], "State": {"Status": "missing"}}
                out.setdefault(service, []).append(
                    {"info": info, "view": None, "running": False, "pod": p["Id"]}
                )
        return out

    def _secrets_live(self) -> dict[str, dict[str, Any]]:
        ids = self._run("secret", "ls", "--format", "{{.ID}}").stdout.split()
        found = self._inspect("secret", ids)
        return {s["Spec"]["Name"]: s for s in found if self._mine(s["Spec"].get("Labels"))}

    def _networks_live(self) -> dict[str, dict[str, Any]]:
        key, value = next(iter(self._labels().items()))
        names = self._run(
            "network", "ls", "--filter", f"label={key}={value}", "--format", "{{.Name}}"
        ).stdout.split()
        return {n["name"]: n for n in self._inspect("network", names) if self._mine(n["labels"])}

    # ------------------------------------------------------------------ desired state

    def desired(self) -> list[Artifact]:
        """This cluster's rendered kube YAML and Quadlet units."""
        prefix = f"podman/{self.cluster}/"
        return [a for a in render(self.bp) if a.path.startswith(prefix)]

    def _services(self) -> dict[str, str]:
        """Service name -> deployment name, for this cluster's workloads."""
        return {u.name: deployment_name(self.bp, u) for u in units_of(self.bp, self.cluster)}

    def _docs(self, desired: Sequence[Artifact]) -> dict[str, dict[str, Any]]:
        by_path = {a.path: a for a in desired}
        out = {}
        for service in self._services():
            art = by_path.get(yaml_path(self.cluster, service))
            if art is not None:
                out[service] = copy.deepcopy(art.content)
        return out

    def _secret_labels(self, secret: str) -> dict[str, str]:
        return {**self._labels(), CLUSTER_LABEL: self.cluster, SECRET_LABEL: secret}

    def _versioned(self, docs: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Engine secret name -> declared secret; rewrites the YAML to the versioned names."""
        every = [s.name for s in self.bp.security.secrets] + list(consumer_secrets(self.bp))
        bases = {secret_base(self.bp, n): n for n in every}
        names: dict[str, str] = {}
        out: dict[str, str] = {}
        for doc in docs.values():
            for vol in doc["spec"]["template"]["spec"].get("volumes", []):
                ref = vol.get("secret")
                if ref is None:
                    continue
                secret = bases.get(ref["secretName"], ref["secretName"])
                if secret not in names:
                    values = self._secrets.get(secret)
                    tag = version_tag(values, key=self._secret_key())
                    names[secret] = f"{secret_base(self.bp, secret)}-{tag}"
                ref["secretName"] = names[secret]
                out[names[secret]] = secret
        return out

    # ------------------------------------------------------------------ plan

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Compare the rendered pods (with versioned secret names) with the live host."""
        docs = self._docs(self.desired() if desired is None else desired)
        wanted_secrets = self._versioned(docs)
        live_secrets = self._secrets_live()
        live_networks = self._networks_live()
        containers = self._containers()
        changes: list[Change] = []
        if docs or self.network in live_networks:
            live_net = live_networks.get(self.network)
            changes.append(
                compare(
                    "network",
                    self.network,
                    desired={"driver": "bridge", "labels": views.own_labels(self._net_labels())}
                    if docs
                    else None,
                    observed=None
                    if live_net is None
                    else {
                        "driver": live_net["driver"],
                        "labels": views.own_labels(live_net["labels"]),
                    },
                )
            )
        for name, secret in sorted(wanted_secrets.items()):
            live = live_secrets.get(name)
            changes.append(
                compare(
                    "secret",
                    name,
                    desired={"labels": views.own_labels(self._secret_labels(secret))},
                    observed=None
                    if live is None
                    else {"labels": views.own_labels(live["Spec"]["Labels"])},
                    payload=secret,
                )
            )
        services = self._services()
        for service, doc in sorted(docs.items()):
            want = views.pod_from_kube(doc)
            mine = [c for c in containers.get(service, []) if c["view"] is not None]
            down = [c for c in containers.get(service, []) if c["view"] is None]
            observed = views.service_view(want, mine)
            if observed is None and down:
                observed = {**want, "replicas": 0}
            changes.append(
                compare("service", services[service], desired=want, observed=observed, payload=doc)
            )
        others = self._other_clusters_services()
        for service, cs in sorted(containers.items()):
            if service in docs or service in others:
                continue
            name = _deployment_of(cs[0]["info"].get("Name", service))
            seen = [c["view"] for c in cs if c["view"] is not None]
            changes.append(
                compare(
                    "service",
                    name,
                    desired=None,
                    observed=seen[0] if seen else {"replicas": 0},
                    payload={"service": service},
                )
            )
        wanted = {c.key for c in changes}
        for name, item in sorted(live_secrets.items()):
            if f"secret/{name}" not in wanted:
                changes.append(
                    compare(
                        "secret",
                        name,
                        desired=None,
                        observed={"labels": views.own_labels(item["Spec"]["Labels"])},
                    )
                )
        for name, net in sorted(live_networks.items()):
            if f"network/{name}" not in wanted:
                changes.append(
                    compare(
                        "network",
                        name,
                        desired=None,
                        observed={"labels": views.own_labels(net["labels"])},
                    )
                )
        return Plan(self.target, self.cluster, tuple(changes))

    def _net_labels(self) -> dict[str, str]:
        return {**self._labels(), CLUSTER_LABEL: self.cluster}

    def _other_clusters_services(self) -> set[str]:
        return {
            w.name
            for c in self.bp.orchestration.clusters
            if c.kind == self.target and c.name != self.cluster
            for w in units_of(self.bp, c.name)
        }

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Create the network and secrets, replay changed pods, prune, wait for health."""
        lock = self.lock()
        with lock.held(purpose="apply"):
            return self._apply(plan, progress, timeout=timeout)

    def _apply(self, plan: Plan, progress: Progress, *, timeout: float) -> Result:
        steps: list[Step] = []
        if plan.of("update", "network"):
            raise DeployError(
                f"network {self.network} differs from the blueprint and Podman cannot change "
                "a network in place",
                hint="Run `attonix destroy` for this target, then apply again.",
            )
        for change in plan.of("create", "network"):
            steps.append((f"create network {change.name}", self._create_network))
        for change in plan.of("create", "secret"):
            steps.append((f"create secret {change.name}", partial(self._create_secret, change)))
        for change in plan.pending:
            if change.kind == "service" and change.action in ("create", "update"):
                steps.append(
                    (f"{change.action} service {change.name}", partial(self._play, change))
                )
        for change in plan.of("delete", "service"):
            steps.append((f"remove service {change.name}", partial(self._remove_service, change)))
        changed = [
            c.name for c in plan.pending if c.kind == "service" and c.action in ("create", "update")
        ]
        if changed:
            steps.append(
                ("wait for the engine to converge", lambda: self.wait(changed, timeout=timeout))
            )
        for change in plan.of("delete", "secret"):
            steps.append(
                (f"remove secret {change.name}", partial(self._remove_secret, change.name))
            )
        for change in plan.of("delete", "network"):
            steps.append((f"remove network {change.name}", partial(self._rm_network, change.name)))
        return run_steps(self.target, self.cluster, steps, progress)

    def _create_network(self) -> None:
        labels = [a for k, v in self._net_labels().items() for a in ("--label", f"{k}={v}")]
        self._run("network", "create", *labels, self.network)

    def secret_document(self, name: str, values: dict[str, str]) -> str:
        """The Kubernetes ``Secret`` a Podman secret holds, for this engine's version."""
        return secret_document(name, values, engine=self.version())

    def _create_secret(self, change: Change) -> None:
        secret = str(change.payload)
        values = self._secrets.get(secret)
        tag = version_tag(values, key=self._secret_key())
        if not change.name.endswith("-" + tag):
            raise DeployError(
                f"secret {secret!r} changed after the plan was made",
                hint="Plan again, then apply the new plan.",
            )
        labels = [
            a for k, v in self._secret_labels(secret).items() for a in ("--label", f"{k}={v}")
        ]
        self._run(
            "secret",
            "create",
            *labels,
            change.name,
            "-",
            stdin=self.secret_document(change.name, values),
        )

    def _service_pods(self, service: str) -> list[str]:
        return [p["Id"] for p in self._pods() if (p.get("Labels") or {}).get(NAME) == service]

    def _play(self, change: Change) -> None:
        doc = change.payload
        service = doc["spec"]["template"]["metadata"]["labels"][NAME]
        unplaceable = self._unplaceable(service)
        if unplaceable:
            raise ConvergeFailed(service=change.name, failure="unschedulable", reason=unplaceable)
        # Down then play: --replace alone keeps pods beyond a lowered replica count.
        pods = self._service_pods(service)
        if pods:
            self._run("pod", "rm", "-f", *pods)
        with tempfile.TemporaryDirectory(prefix="attonix-podman-") as tmp:
            path = os.path.join(tmp, f"{change.name}.yaml")
            Path(path).write_text(dump_yaml(doc), encoding="utf-8")
            self._run("kube", "play", "--replace", "--network", self.network, path)

    def _remove_service(self, change: Change) -> None:
        service = change.payload["service"] if change.payload else change.name
        pods = self._service_pods(service)
        if pods:
            self._run("pod", "rm", "-f", *pods)
        self._run("volume", "rm", "-f", f"{change.name}-tmp", check=False)

    def _remove_secret(self, name: str) -> None:
        # Podman 4.3 copies a mounted secret into a volume of the same name; it goes too.
        self._run("volume", "rm", "-f", name, check=False)
        self._run("secret", "rm", name)

    def _rm_network(self, name: str) -> None:
        self._run("network", "rm", "-f", name)

    # ------------------------------------------------------------------ status

    def _healthy(self, info: dict[str, Any]) -> bool:
        """Runs the container's check once (systemd timers may not); a container that was
        healthy stays so through fewer failures in a row than its check's ``retries``, as
        Podman itself judges it — one slow check on a busy host is not a failed service."""
        if not views.running(info):
            return False
        check = info.get("Config", {}).get("Healthcheck") or {}
        if not check.get("Test"):
            return True
        done = self._run("healthcheck", "run", info["Id"], check=False)
        if done.returncode == 0:
            return True
        health = info.get("State", {}).get("Health") or {}
        streak = int(health.get("FailingStreak") or 0) + 1
        return health.get("Status") == "healthy" and streak < int(check.get("Retries") or 1)

    def status(self) -> list[ServiceStatus]:
        """Desired, running and healthy replicas per service of this cluster."""
        docs = self._docs(self.desired())
        containers = self._containers()
        others = self._other_clusters_services()
        out = []
        for service in sorted(set(docs) | (set(containers) - others)):
            cs = containers.get(service, [])
            doc = docs.get(service)
            healthy = sum(1 for c in cs if c["view"] is not None and self._healthy(c["info"]))
            drift = False
            if doc is not None:
                name = deployment_name(self.bp, _workload(self.bp, self.cluster, service))
                desired_n = int(doc["spec"].get("replicas", 1))
                image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
                want = views.pod_from_kube(doc)
                seen = views.service_view(want, [c for c in cs if c["view"] is not None])
                drift = seen is not None and views.unversioned(
                    {**seen, "replicas": 0}
                ) != views.unversioned({**want, "replicas": 0})
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
                orphan=doc is None,
                drift=drift,
            )
            unplaceable = self._unplaceable(service) if doc is not None else ""
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
        others = self._other_clusters_services()
        pods = [p for p in self._pods() if (p.get("Labels") or {}).get(NAME) not in others]
        key, value = next(iter(self._labels().items()))
        strays = [
            c
            for c in self._run(
                "ps", "-a", "--filter", f"label={key}={value}", "--format", "json"
            ).json()
            or []
            if self._ours(c.get("Labels")) and (c.get("Labels") or {}).get(NAME) not in others
        ]
        secrets = sorted(self._secrets_live())
        volumes = [f"{tmp_volume(self.bp, w)}" for w in workloads_of(self.bp, self.cluster)]
        volumes += [
            v["Name"]
            for v in self._inspect(
                "volume",
                self._run(
                    "volume", "ls", "--filter", f"label={key}={value}", "--format", "{{.Name}}"
                ).stdout.split(),
            )
            if self._ours(v.get("Labels"))
        ]
        steps: list[Step] = []
        if pods:
            ids = [p["Id"] for p in pods]
            names = ", ".join(sorted(str(p.get("Name", p["Id"][:12])) for p in pods))
            steps.append(
                (f"remove {len(pods)} pod(s): {names}", lambda: self._run("pod", "rm", "-f", *ids))
            )
        if strays:
            stray_ids = [c["Id"] for c in strays]
            names = ", ".join(sorted(str((c.get("Names") or [c["Id"][:12]])[0]) for c in strays))
            steps.append(
                (
                    f"remove {len(strays)} container(s): {names}",
                    lambda: self._run("rm", "-f", *stray_ids),
                )
            )
        for name in secrets:
            steps.append((f"remove secret {name}", partial(self._remove_secret, name)))
        existing = set(self._run("volume", "ls", "--format", "{{.Name}}").stdout.split())
        for vol in sorted(set(volumes) & existing):
            steps.append((f"remove volume {vol}", partial(self._run, "volume", "rm", "-f", vol)))
        for net in sorted(self._networks_live()):
            steps.append((f"remove network {net}", partial(self._rm_network, net)))
        return steps

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every pod, container, secret, volume and network labelled for the cluster."""
        lock = self.lock()
        with lock.held(purpose="destroy"):
            return run_steps(self.target, self.cluster, self._removal_steps(), progress)


def _deployment_of(container_or_pod: str) -> str:
    """``<deployment>`` from ``<deployment>-pod-<n>[-<container>]`` (podman kube play names)."""
    head, sep, _ = container_or_pod.rpartition("-pod-")
    return head if sep else container_or_pod


def _workload(bp: Blueprint, cluster: str, service: str) -> Any:
    return next(w for w in units_of(bp, cluster) if w.name == service)


__all__ = ["CLUSTER_LABEL", "PodmanDriver", "secret_document"]

"""The ``ceph`` target: pools, RBD images, CephFS filesystems with subvolume groups and
subvolumes (:mod:`.cephfs`), cephx keys, gateway users and buckets on a Ceph cluster that runs
on hosts (``storage.ceph[].mode: hosts``).

Plan reads the cluster in a handful of batched calls, compares every wanted object (see
:mod:`.desired`) and lists registered objects that are no longer wanted as deletions. What
Attonix creates is recorded in the monitors' config-key store under
``attonix/<blueprint>/<environment>/<kind>/<name>`` before it is created; an object with a
wanted name that is not recorded stops the plan (never adopted), and destroy removes recorded
objects only. Secrets made on the way (cephx keys, gateway access keys) go to the credential
store, never into a plan, a message or a log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attonix.blueprint.model import Blueprint, Ceph
from attonix.deploy.base import (
    Change,
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
from attonix.deploy.ceph import cephfs, placement
from attonix.deploy.ceph.admin import CephAdmin, connections_path, dumps, load_connection
from attonix.deploy.ceph.desired import Want, prefix, wanted
from attonix.deploy.credentials import CredentialStore, FileCredentialStore
from attonix.deploy.secrets import SecretSource
from attonix.deploy.state import TargetLock, state_dir
from attonix.render.base import Artifact

TARGET = "ceph"
ORDER = (
    "rule",
    "pool",
    "placement",
    "filesystem",
    "image",
    "group",
    "subvolume",
    "key",
    "user",
    "bucket",
)
PG_NUM = 8


class CephDriver:
    """One Ceph cluster of the blueprint, in mode ``hosts``."""

    target = TARGET

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        state: Path | None = None,
        credentials: CredentialStore | None = None,
        librados: bool | None = None,
    ) -> None:
        """``librados``: ``None`` sends monitor commands through librados when its binding
        loads, ``False`` always through the ``ceph`` CLI (see :mod:`.admin`)."""
        self.bp = blueprint
        self._librados = librados
        self.cluster = cluster
        self._secrets = secrets
        self._state = state
        self.credentials = credentials or FileCredentialStore(self.state_directory / "credentials")
        self._admin: CephAdmin | None = None

    @staticmethod
    def pick(blueprint: Blueprint, name: str | None) -> str:
        """The ``storage.ceph`` cluster in mode ``hosts`` to work on."""
        hosts = [c.name for c in blueprint.storage.ceph if c.mode == "hosts"]
        if name is not None:
            if name not in hosts:
                raise DeployError(
                    f"the blueprint has no Ceph cluster in mode 'hosts' named {name!r}",
                    hint=f"Such clusters: {', '.join(hosts) or 'none'} (Rook clusters deploy "
                    "with the kubernetes target).",
                )
            return name
        if len(hosts) == 1:
            return hosts[0]
        raise DeployError(
            f"the blueprint has {len(hosts) or 'no'} Ceph cluster(s) in mode 'hosts'",
            hint="Choose one with --cluster." if hosts else "Declare storage.ceph with mode hosts.",
        )

    @property
    def state_directory(self) -> Path:
        """Where credentials and locks live."""
        return self._state or state_dir()

    @property
    def ceph(self) -> Ceph:
        """The blueprint's cluster."""
        return next(c for c in self.bp.storage.ceph if c.name == self.cluster)

    @property
    def admin(self) -> CephAdmin:
        """The administrator CLI wrapper (connection read on first use)."""
        if self._admin is None:
            path = connections_path(self.state_directory)
            conn = load_connection(path, self.cluster)
            self._admin = CephAdmin(conn, librados=self._librados)
        return self._admin

    @property
    def _prefix(self) -> str:
        return prefix(self.bp)

    # ------------------------------------------------------------------ reading

    def observe(
        self, wants: Sequence[Want], registry: dict[str, str]
    ) -> dict[tuple[str, str], Any]:
        """Views of every wanted or registered object that exists, in a few batched calls."""
        adm = self.admin
        names = {(w.kind, w.name) for w in wants} | {tuple(k.split("/", 1)) for k in registry}
        out: dict[tuple[str, str], Any] = {}
        rules = {r["rule_id"]: r for r in adm.mon("osd crush rule dump") or []}
        for r in rules.values():
            take: dict[str, Any] = next((s for s in r["steps"] if s["op"] == "take"), {})
            choose: dict[str, Any] = next(
                (s for s in r["steps"] if s["op"].startswith("choose")), {}
            )
            out[("rule", r["rule_name"])] = {
                "failure_domain": choose.get("type", ""),
                "root": str(take.get("item_name", "")).split("~")[0],
            }
        for p in adm.mon("osd pool ls", detail="detail") or []:
            rule = rules.get(p["crush_rule"], {}).get("rule_name", str(p["crush_rule"]))
            apps = sorted(p.get("application_metadata", {}))
            out[("pool", p["pool_name"])] = {
                "size": p["size"],
                "min_size": p["min_size"],
                "rule": rule,
                "application": ",".join(apps),
                "quota_max_bytes": p.get("quota_max_bytes", 0),
            }
        out.update(cephfs.observe(adm, names))
        out.update(placement.observe(adm, names))
        image_pools = {n.split("/")[0] for k, n in names if k == "image"}
        for pool in sorted(image_pools):
            if ("pool", pool) not in out:
                continue
            for img in adm.rbd_json("ls", "-l", "-p", pool) or []:
                out[("image", f"{pool}/{img['image']}")] = {"size": img["size"]}
        for entry in (adm.mon("auth ls") or {}).get("auth_dump", []):
            if ("key", entry["entity"]) in names:
                out[("key", entry["entity"])] = dict(sorted(entry.get("caps", {}).items()))
        users = {n for k, n in names if k == "user"}
        if users or any(k == "bucket" for k, _ in names):
            existing = set(adm.rgw_json("user", "list") or [])
            for uid in sorted(users & existing):
                info = adm.rgw_json("user", "info", "--uid", uid)
                out[("user", uid)] = {"max_buckets": info.get("max_buckets")}
            for b in adm.rgw_json("bucket", "stats") or []:
                if ("bucket", b["bucket"]) not in names:
                    continue
                q = b.get("bucket_quota", {})
                out[("bucket", b["bucket"])] = {
                    "owner": b.get("owner", ""),
                    "placement": str(b.get("placement_rule", "")).split("/")[0],
                    "quota_enabled": bool(q.get("enabled")),
                    "quota_max_size": int(q.get("max_size", -1)),
                    "quota_max_objects": int(q.get("max_objects", -1)),
                }
        return out

    # ------------------------------------------------------------------ protocol

    def desired(self) -> list[Artifact]:
        """Nothing is rendered for this target: the blueprint is the desired state."""
        return []

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Compare the blueprint's pools, images, keys, users and buckets with the cluster."""
        wants = wanted(self.bp, self.ceph)
        registry = self.admin.registry(self._prefix)
        observed = self.observe(wants, registry)
        changes: list[Change] = []
        seen: set[str] = set()
        for w in wants:
            key = f"{w.kind}/{w.name}"
            seen.add(key)
            found = observed.get((w.kind, w.name))
            if found is not None and key not in registry:
                raise DeployError(
                    f"{w.kind} {w.name!r} already exists on Ceph cluster {self.cluster!r} and "
                    "was not created by Attonix for this blueprint",
                    hint="Attonix does not adopt what it did not create: rename it in the "
                    "blueprint, or remove the existing one.",
                )
            changes.append(compare(w.kind, w.name, desired=w.view, observed=found, payload=w))
        deletes = []
        for key in registry:
            kind, name = key.split("/", 1)
            if key not in seen:
                view = observed.get((kind, name), {"registered": True})
                deletes.append(compare(kind, name, desired=None, observed=view))
        deletes.sort(key=lambda c: -ORDER.index(c.kind))
        return Plan(TARGET, self.cluster, tuple(deletes + changes))

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan``, then plan again and fail unless nothing is left."""
        with TargetLock(self.state_directory, target=TARGET, cluster=self.cluster).held():
            steps = self._steps(plan.pending)
            result = run_steps(TARGET, self.cluster, steps, progress)
            if result.ok:
                progress("verifying")
                after = self.plan()
                if not after.is_empty:
                    left = ", ".join(f"{c.action} {c.key}" for c in after.pending)
                    result.error = f"after apply the cluster still differs: {left}"
        return result

    def _recorded(self) -> list[str]:
        """``kind/name`` of every recorded object, in deletion order."""
        registry = self.admin.registry(self._prefix)
        return sorted(registry, key=lambda k: -ORDER.index(k.split("/", 1)[0]))

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line per object (reads only)."""
        return [f"delete {key} on Ceph cluster {self.cluster}" for key in self._recorded()]

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every object Attonix registered for this blueprint, and nothing else."""
        with TargetLock(self.state_directory, target=TARGET, cluster=self.cluster).held(
            purpose="destroy"
        ):
            changes = [
                Change(key.split("/", 1)[0], key.split("/", 1)[1], "delete")
                for key in self._recorded()
            ]
            return run_steps(TARGET, self.cluster, self._steps(changes), progress)

    def status(self) -> list[ServiceStatus]:
        """Per pool: declared size, live size, and whether all its placement groups are clean;
        one more line for the other objects' drift."""
        plan = self.plan()
        pools = {
            p["pool_name"]: p["pool_id"]
            for p in self.admin.mon("osd pool ls", detail="detail") or []
        }
        dump = self.admin.mon("pg dump", dumpcontents=["pgs_brief"])
        pgs = dump.get("pg_stats", dump) if isinstance(dump, dict) else dump
        out: list[ServiceStatus] = []
        for c in plan.changes:
            if c.kind != "pool":
                continue
            pool_id = pools.get(c.name)
            states = [
                p["state"]
                for p in pgs
                if pool_id is not None and p["pgid"].split(".")[0] == str(pool_id)
            ]
            clean = bool(states) and all(s == "active+clean" for s in states)
            size = (c.observed or {}).get("size", 0)
            out.append(
                ServiceStatus(
                    name=f"pool/{c.name}",
                    desired=c.desired["size"],
                    running=size,
                    healthy=size if clean and c.action == "unchanged" else 0,
                    image=f"ceph {self.cluster}",
                    message="" if c.action == "unchanged" else f"{c.action}: drift",
                )
            )
        others = [c for c in plan.pending if c.kind != "pool"]
        total = len([c for c in plan.changes if c.kind != "pool"])
        out.append(
            ServiceStatus(
                name="objects",
                desired=total,
                running=total - len(plan.of("create")),
                healthy=total - len(others),
                image=f"ceph {self.cluster}",
                message="; ".join(f"{c.action} {c.key}" for c in others),
            )
        )
        return out

    # ------------------------------------------------------------------ writing

    def _steps(self, changes: Sequence[Change]) -> list[Step]:
        """One step per change, except that the placement targets to add, and those to remove,
        are each one step (see :func:`.placement.step_all`)."""
        batches = {
            action: [c for c in changes if c.kind == "placement" and c.action == action]
            for action in ("create", "delete")
        }
        steps: list[Step] = []
        for c in changes:
            batch = batches.get(c.action, []) if c.kind == "placement" else []
            if not batch:
                steps.append((f"{c.action} {c.key}", self._step(c)))
            elif c is batch[0]:
                label = f"{c.action} {', '.join(x.key for x in batch)}"
                steps.append((label, self._placements(batch)))
        return steps

    def _placements(self, changes: list[Change]) -> Callable[[], object]:
        def run() -> None:
            # Recorded before they are added, forgotten once they are removed (as in _step).
            for c in changes:
                if c.action == "create":
                    self.admin.register(self._prefix, c.key, dumps({"cluster": self.cluster}))
            placement.step_all(self.admin, changes)
            for c in changes:
                if c.action == "delete":
                    self.admin.unregister(self._prefix, c.key)

        return run

    def _step(self, change: Change) -> Callable[[], object]:
        handlers = {
            "rule": self._rule,
            "pool": self._pool,
            "image": self._image,
            "placement": lambda c: placement.step(self.admin, c),
            "filesystem": lambda c: cephfs.filesystem(self.admin, c),
            "group": lambda c: cephfs.group(self.admin, c),
            "subvolume": lambda c: cephfs.subvolume(self.admin, c),
            "key": self._key,
            "user": self._user,
            "bucket": self._bucket,
        }

        def run() -> None:
            registry_key = f"{change.kind}/{change.name}"
            if change.action == "create":
                # Recorded first: an interrupted create leaves an object the next plan owns.
                self.admin.register(self._prefix, registry_key, dumps({"cluster": self.cluster}))
            handlers[change.kind](change)
            if change.action == "delete":
                self.admin.unregister(self._prefix, registry_key)

        return run

    def _rule(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            if c.observed != {"registered": True}:
                adm.mon("osd crush rule rm", name=c.name)
        elif c.action == "create":
            adm.mon(
                "osd crush rule create-replicated",
                name=c.name,
                root="default",
                type=c.desired["failure_domain"],
            )
        else:
            raise DeployError(
                f"CRUSH rule {c.name} was changed by hand and cannot be edited in place",
                hint=f"Remove it (ceph osd crush rule rm {c.name}) once no pool uses it; the "
                "next apply recreates it.",
            )

    def _pool(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            if c.observed != {"registered": True}:
                adm.mon(
                    "osd pool rm",
                    pool=c.name,
                    pool2=c.name,
                    yes_i_really_really_mean_it=True,
                )
            return
        d, o = c.desired, c.observed or {}

        def pool_set(var: str, val: object) -> None:
            adm.mon("osd pool set", pool=c.name, var=var, val=str(val))

        if c.action == "create":
            adm.mon(
                "osd pool create",
                pool=c.name,
                pg_num=PG_NUM,
                pgp_num=PG_NUM,
                pool_type="replicated",
                rule=d["rule"],
                autoscale_mode="off",
            )
        if o.get("rule") != d["rule"] and c.action == "update":
            pool_set("crush_rule", d["rule"])
        # Raise size before min_size and lower min_size before size: never min_size > size.
        if d["size"] >= o.get("size", 0):
            pool_set("size", d["size"])
            pool_set("min_size", d["min_size"])
        else:
            pool_set("min_size", d["min_size"])
            pool_set("size", d["size"])
        if o.get("application") != d["application"]:
            adm.mon("osd pool application enable", pool=c.name, app=d["application"])
            for extra in set(str(o.get("application", "")).split(",")) - {d["application"], ""}:
                adm.mon(
                    "osd pool application disable",
                    pool=c.name,
                    app=extra,
                    yes_i_really_mean_it=True,
                )
        if o.get("quota_max_bytes", 0) != d["quota_max_bytes"]:
            adm.mon(
                "osd pool set-quota",
                pool=c.name,
                field="max_bytes",
                val=str(d["quota_max_bytes"]),
            )

    def _image(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            if c.observed != {"registered": True}:
                adm.rbd("rm", "--no-progress", c.name)
        elif c.action == "create":
            adm.rbd("create", c.name, "--size", f"{c.desired['size']}B")
        elif c.desired["size"] > (c.observed or {}).get("size", 0):
            adm.rbd("resize", "--no-progress", c.name, "--size", f"{c.desired['size']}B")
        else:
            raise DeployError(
                f"RBD image {c.name} is larger than the blueprint says; Attonix never shrinks "
                "an image (it would destroy data)",
                hint="Raise the volume's size in the blueprint to the image's size.",
            )

    def _key(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            adm.mon("auth del", entity=c.name, check=False)
            self.credentials.forget(f"ceph.{self.cluster}.{c.name}")
            return
        caps = [x for k in sorted(c.desired) for x in (k, c.desired[k])]
        if c.action == "create":
            made = adm.mon("auth get-or-create", entity=c.name, caps=caps)
            entry = made[0] if isinstance(made, list) else made
            name = f"ceph.{self.cluster}.{c.name}"
            version = self.credentials.put(name, {"entity": c.name, "key": entry["key"]})
            self.credentials.promote(name, version)
        else:
            adm.mon("auth caps", entity=c.name, caps=caps)

    def _user(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            adm.rgw("user", "rm", f"--uid={c.name}", "--purge-data", check=False)
            self.credentials.forget(f"rgw.{self.cluster}.{c.name}")
            return
        if c.action == "create":
            info = adm.rgw_json(
                "user",
                "create",
                f"--uid={c.name}",
                f"--display-name=Attonix {self._prefix} {c.name}",
                f"--max-buckets={c.desired['max_buckets']}",
            )
            keys = info["keys"][0]
            name = f"rgw.{self.cluster}.{c.name}"
            version = self.credentials.put(
                name,
                {
                    "user": c.name,
                    "access_key": keys["access_key"],
                    "secret_key": keys["secret_key"],
                    "endpoint": adm.conn.rgw_url,
                },
            )
            self.credentials.promote(name, version)
        else:
            adm.rgw(
                "user", "modify", f"--uid={c.name}", f"--max-buckets={c.desired['max_buckets']}"
            )

    def _bucket(self, c: Change) -> None:
        adm = self.admin
        if c.action == "delete":
            if c.observed != {"registered": True}:
                adm.rgw("bucket", "rm", f"--bucket={c.name}", "--purge-objects", check=False)
            return
        d, o = c.desired, c.observed or {}
        if c.action == "create":
            owner = self.credentials.read(f"rgw.{self.cluster}.{d['owner']}")
            if owner is None:
                raise DeployError(
                    f"bucket {c.name}: no local credential for its owner {d['owner']}",
                    hint="Destroy and re-apply the gateway user, or restore the credential store.",
                )
            adm.create_bucket(
                c.name,
                access_key=owner["access_key"],
                secret_key=owner["secret_key"],
                location=placement.location(adm, d["placement"]),
                hint=placement.RESTART_HINT,
            )
        elif o.get("owner") != d["owner"]:
            raise DeployError(
                f"bucket {c.name} belongs to {o.get('owner')!r}, not {d['owner']!r}",
                hint="Attonix does not move buckets between users; change the blueprint back.",
            )
        elif o.get("placement") != d["placement"]:
            raise DeployError(
                f"bucket {c.name} stores its data through placement target "
                f"{o.get('placement')!r}, not {d['placement']!r}",
                hint="A bucket's placement is fixed when it is created: copy its objects into a "
                "new bucket on the declared pool.",
            )
        limits = [
            "--quota-scope=bucket",
            f"--bucket={c.name}",
            f"--max-size={d['quota_max_size']}",
            f"--max-objects={d['quota_max_objects']}",
        ]
        if d["quota_enabled"]:
            # One call: ``quota enable`` also sets the limits it is given.
            adm.rgw("quota", "enable", *limits)
        else:
            adm.rgw("quota", "set", *limits)
            adm.rgw("quota", "disable", "--quota-scope=bucket", f"--bucket={c.name}")

"""Hypothesis strategies that draw valid blueprints over the whole model, as plain data.

``blueprints()`` draws a document the way a user writes one (dicts and lists, ready to dump as
YAML): every section, names up to the 63-character limit, 1-5 zones with racks, clusters of
each kind, databases of each engine with and without backups, services with and without ports
and HTTP health checks, each storage kind (Ceph by Rook or on hosts, OpenStack, vSphere), CI/CD
providers, Chef, users and load balancers. Cross-references are drawn from what was declared,
so a draw is valid by construction; ``attonix validate`` still decides, and a draw it refuses
is a generator bug worth a look, not something to filter out silently.

Importable from tests (``tests.generative.strategies``) and from ``tools/generate_blueprints.py``.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from attonix.blueprint.naming import (
    CNPG_CLUSTER_MAX,
    MONGODB_MAX,
    MYSQL_CLUSTER_MAX,
    ROOK_OBJECT_STORE_MAX,
    STATEFULSET_MAX,
)
from attonix.render.kubernetes.validation import supported_versions

D = dict[str, Any]
_ALNUM = string.ascii_lowercase + string.digits
_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5"


@st.composite
def dns_label(draw: st.DrawFn, prefix: str, *, max_size: int = 63) -> str:
    """A DNS-1123 label starting with ``prefix``, sometimes padded up to ``max_size``."""
    long = draw(st.integers(0, 9)) == 0  # one name in ten is as long as allowed
    size = max_size if long else draw(st.integers(len(prefix), min(len(prefix) + 8, max_size)))
    tail = draw(st.text(_ALNUM + "-", min_size=size - len(prefix), max_size=size - len(prefix)))
    name = (prefix + tail)[:size].rstrip("-")
    if not name[-1].isalnum():
        name += "0"
    return name[:max_size]


def _unique(names: list[str], *, max_size: int = 63) -> list[str]:
    """Make drawn names distinct by replacing their tail with a counter where needed."""
    seen: set[str] = set()
    out: list[str] = []
    for i, name in enumerate(names):
        if name in seen:
            suffix = f"-{i}"
            name = name[: max_size - len(suffix)].rstrip("-") + suffix
        seen.add(name)
        out.append(name)
    return out


@st.composite
def names(draw: st.DrawFn, prefix: str, count: int, *, max_size: int = 63) -> list[str]:
    """``count`` distinct DNS labels that start with ``prefix``."""
    drawn = [draw(dns_label(f"{prefix}{i}-", max_size=max_size)) for i in range(count)]
    return _unique(drawn, max_size=max_size)


@st.composite
def hosts(draw: st.DrawFn) -> list[D]:
    """1-5 zones, 1-3 racks each, 1-3 hosts per rack, with unique addresses."""
    zones = draw(names("z", draw(st.integers(1, 5))))
    out: list[D] = []
    for zi, zone in enumerate(zones):
        racks = draw(names(f"r{zi}x", draw(st.integers(1, 3))))
        for rack in racks:
            for _ in range(draw(st.integers(1, 3))):
                n = len(out)
                host: D = {
                    "name": f"h{n}",
                    "address": f"10.{zi}.{n // 250}.{n % 250 + 1}",
                    "zone": zone,
                    "rack": rack,
                    "roles": draw(
                        st.lists(
                            st.sampled_from(["compute", "storage", "database", "monitoring"]),
                            unique=True,
                            max_size=2,
                        )
                    ),
                }
                if draw(st.booleans()):
                    host["disks"] = ["/dev/sdb"]
                if draw(st.integers(0, 4)) == 0:
                    host["labels"] = {"tier": draw(st.sampled_from(["gold", "silver"]))}
                out.append(host)
    host_names = draw(names("h", len(out)))
    for host, name in zip(out, host_names, strict=True):
        host["name"] = name
    return out


def _take(pool: list[str], count: int) -> tuple[list[str], list[str]]:
    return pool[:count], pool[count:]


@st.composite
def clusters(draw: st.DrawFn, host_names: list[str]) -> list[D]:
    """Clusters of each kind over disjoint hosts (hosts run out before kinds do)."""
    free = list(host_names)
    kinds = draw(
        st.lists(st.sampled_from(["kubernetes", "swarm", "podman"]), min_size=1, max_size=4)
    )
    cluster_names = draw(names("c", len(kinds), max_size=20))
    out: list[D] = []
    for kind, name in zip(kinds, cluster_names, strict=True):
        if not free:
            break
        if kind == "podman":
            workers, free = _take(free, draw(st.integers(1, max(1, min(3, len(free))))))
            out.append({"name": name, "kind": "podman", "workers": workers})
            continue
        cp, free = _take(free, draw(st.sampled_from([1, 3])) if len(free) >= 3 else 1)
        workers, free = _take(free, draw(st.integers(0, min(6, len(free)))))
        cluster: D = {"name": name, "kind": kind, "control_plane": cp}
        if workers:
            cluster["workers"] = workers
        if kind == "kubernetes":
            cluster["version"] = draw(st.sampled_from(supported_versions()))
        out.append(cluster)
    return out


@st.composite
def pools(draw: st.DrawFn, prefix: str) -> list[D]:
    """Pools of each type, with replicas, min_size and failure domains drawn."""
    types = draw(
        st.lists(st.sampled_from(["block", "object", "filesystem"]), min_size=0, max_size=4)
    )
    pool_names = draw(names(prefix, len(types), max_size=40))
    out: list[D] = []
    defaults = 0
    for t, name in zip(types, pool_names, strict=True):
        replicas = draw(st.integers(1, 4))
        pool: D = {"name": name, "type": t, "replicas": replicas}
        pool["min_size"] = draw(st.integers(1, replicas))
        if draw(st.booleans()):
            pool["failure_domain"] = draw(st.sampled_from(["host", "rack", "zone"]))
        if t == "block" and defaults == 0 and draw(st.booleans()):
            pool["default"] = True
            defaults += 1
        out.append(pool)
    return out


_STAGES = ["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]


def _stages(draw: st.DrawFn) -> list[str]:
    """Stages in pipeline order; a pipeline that deploys passes the policy gate first."""
    chosen = set(draw(st.lists(st.sampled_from(_STAGES), unique=True, min_size=1)))
    if "deploy" in chosen:
        chosen.add("check")
    return [s for s in _STAGES if s in chosen]


def _cron() -> st.SearchStrategy[str]:
    return st.sampled_from(["0 0 2 * * *", "0 30 1 * * *", "15 3 * * *", "0 */6 * * *"])


@st.composite
def blueprints(draw: st.DrawFn, *, name_limit: int = 63) -> D:
    """A whole valid blueprint as data; names of services and databases up to ``name_limit``."""
    # Docker prefixes a swarm service with <blueprint>-<cluster>_ and keeps 63 characters.
    blueprint_name = draw(dns_label("dc-", max_size=20))
    hs = draw(hosts())
    host_names = [h["name"] for h in hs]
    cls = draw(clusters(host_names))
    used = {n for c in cls for n in (*c.get("control_plane", []), *c.get("workers", []))}
    spare = [n for n in host_names if n not in used]
    kube = [c["name"] for c in cls if c["kind"] == "kubernetes"]

    secrets: list[D] = []

    def secret(prefix: str, keys: list[str] | None = None) -> str:
        name = f"{prefix}-s{len(secrets)}"[:63]
        entry: D = {"name": name}
        if keys:
            entry["keys"] = keys
        secrets.append(entry)
        return name

    # --------------------------------------------------------------- storage
    ceph: list[D] = []
    # Rook on some Kubernetes clusters, Ceph on hosts beside them.
    rook_of: dict[str, D] = {}
    for i in range(draw(st.sampled_from([0, 1, 1, 2]))):
        free_kube = [k for k in kube if k not in rook_of]
        mode = "rook" if free_kube and draw(st.integers(0, 3)) > 0 else "hosts"
        c: D = {
            "name": draw(dns_label(f"ceph{i}-", max_size=40)),
            "mode": mode,
            "monitors": draw(st.sampled_from([1, 3, 5])),
            "managers": draw(st.integers(1, 3)),
            "failure_domain": draw(st.sampled_from(["host", "rack", "zone"])),
            "encryption": draw(st.booleans()),
            "network_encryption": draw(st.booleans()),
            "pools": draw(pools(f"p{i}x")),
        }
        if mode == "rook":
            # Workloads and databases on a Rook cluster claim block (and object) pools.
            extra = [{"name": f"{c['name'][:30]}-rbd", "type": "block"}]
            if draw(st.booleans()):
                extra.append({"name": f"{c['name'][:30]}-s3", "type": "object"})
            for p in c["pools"]:
                if p["type"] == "object":  # Rook names the gateway rook-ceph-rgw-<pool>
                    p["name"] = p["name"][:ROOK_OBJECT_STORE_MAX].rstrip("-")
            c["pools"] = extra + c["pools"]
            c["kubernetes_cluster"] = draw(st.sampled_from(free_kube))
            rook_of[c["kubernetes_cluster"]] = c
        c["hosts"] = draw(st.lists(st.sampled_from(host_names), unique=True, max_size=6))
        ceph.append(c)

    def pools_in(cluster: str, *types: str) -> list[str]:
        c = rook_of.get(cluster)
        return [] if c is None else [p["name"] for p in c["pools"] if p["type"] in types]

    openstack: list[D] = []
    if draw(st.booleans()):
        nets = draw(names("net", draw(st.integers(1, 2)), max_size=30))
        openstack.append(
            {
                "name": draw(dns_label("os-")),
                "auth_url": "https://keystone.example.net:5000/v3",
                "project": "dc",
                "credentials_secret": secret("openstack"),
                "networks": [
                    {"name": n, "cidr": f"192.168.{k}.0/24", "external": k == 0}
                    for k, n in enumerate(nets)
                ],
                "instances": [
                    {
                        "name": draw(dns_label(f"grp{k}-", max_size=40)),
                        "flavor": "m1.small",
                        "image": "ubuntu-24.04",
                        "count": draw(st.integers(1, 3)),
                        "network": draw(st.sampled_from(nets)),
                        "availability_zones": draw(
                            st.lists(st.sampled_from(["az1", "az2", "az3"]), unique=True)
                        ),
                    }
                    for k in range(draw(st.integers(0, 2)))
                ],
            }
        )
    vsphere: list[D] = []
    if draw(st.booleans()):
        vsphere.append(
            {
                "name": draw(dns_label("vs-")),
                "vcenter": "vcenter.example.net",
                "datacenter": "DC1",
                "cluster": "Cluster1",
                "datastore": "ds1",
                "credentials_secret": secret("vsphere"),
                "ha_enabled": draw(st.booleans()),
                "drs_enabled": draw(st.booleans()),
                "vm_encryption": draw(st.booleans()),
                "vms": [
                    {"name": draw(dns_label(f"vm{k}-", max_size=40)), "template": "ubuntu-24.04"}
                    for k in range(draw(st.integers(0, 2)))
                ],
            }
        )

    # --------------------------------------------------------------- security
    fw_zones = draw(names("fz", draw(st.integers(0, 3)), max_size=30))
    rules = []
    for k in range(draw(st.integers(0, 3)) if fw_zones else 0):
        rules.append(
            {
                "name": f"rule-{k}",
                "source": draw(st.sampled_from(["internet", *fw_zones])),
                "destination": draw(st.sampled_from(fw_zones)),
                "ports": draw(
                    st.lists(
                        st.sampled_from([22, 80, 443, 5432, "8000-8100"]), min_size=1, max_size=3
                    )
                ),
                "protocol": draw(st.sampled_from(["tcp", "udp"])),
                "action": draw(st.sampled_from(["allow", "deny"])),
            }
        )

    # --------------------------------------------------------------- databases
    databases: list[D] = []
    engines = draw(
        st.lists(
            st.sampled_from(["postgresql", "mysql", "mongodb", "biganimal"]), min_size=1, max_size=4
        )
    )
    db_names = draw(names("db", len(engines), max_size=name_limit))
    primary_done = False
    # Swarm and Podman clusters run a database as one container on one node.
    standalone = {
        c["name"]: [*c.get("control_plane", []), *c.get("workers", [])]
        for c in cls
        if c["kind"] != "kubernetes"
    }
    for engine, name in zip(engines, db_names, strict=True):
        # An operator-run database needs a Ceph block pool on its cluster (Rook).
        homes = [k for k in kube if pools_in(k, "block")] + sorted(standalone)
        if engine != "biganimal" and not homes:
            continue
        # The operators' own name limits (validate reports a longer name at its line).
        limit = {"postgresql": CNPG_CLUSTER_MAX, "mysql": MYSQL_CLUSTER_MAX}.get(engine, 63)
        name = name[: MONGODB_MAX if engine == "mongodb" else limit].rstrip("-")
        home = "" if engine == "biganimal" else draw(st.sampled_from(homes))
        if home in standalone and any(c["name"] == home and c["kind"] == "swarm" for c in cls):
            name = name[: 63 - len(blueprint_name) - len(home) - 2].rstrip("-")
        replicas = 1 if home in standalone else draw(st.integers(1, 5))
        db: D = {
            "name": name,
            "engine": engine,
            "version": {"postgresql": "17", "mysql": "8.4", "mongodb": "7.0", "biganimal": "16"}[
                engine
            ],
            "replicas": replicas,
            "credentials_secret": secret(name[:50], ["username", "password"]),
            "tls": home not in standalone and draw(st.booleans()),
            "encryption_at_rest": draw(st.booleans()),
        }
        if engine in ("postgresql", "biganimal") and not primary_done and draw(st.booleans()):
            db["primary"] = True
            primary_done = True
        if engine == "postgresql":
            db["synchronous_replicas"] = draw(st.integers(0, replicas - 1))
        if engine == "biganimal":
            # A host name label may not end with '-'.
            endpoint = f"{name[:40].rstrip('-')}.biganimal.example"
            db["managed"] = {"region": "eu-west-1", "endpoint": endpoint}
        elif home in standalone:
            db["cluster"] = home
            if draw(st.booleans()):
                db["host"] = draw(st.sampled_from(standalone[home]))
        else:
            db["cluster"] = home
            if draw(st.booleans()):
                block = pools_in(home, "block")
                db["storage"] = {"pool": draw(st.sampled_from(block)), "size": "10Gi"}
            if draw(st.booleans()):
                db["spread"] = draw(st.sampled_from(["host", "rack", "zone"]))
        # Backups go to an object pool of the database's own cluster.
        objects = pools_in(db.get("cluster", ""), "object")
        backup: D = {"enabled": bool(objects) and draw(st.booleans()), "schedule": draw(_cron())}
        if objects and draw(st.booleans()):
            backup["object_pool"] = draw(st.sampled_from(objects))
        db["backup"] = backup
        databases.append(db)

    # --------------------------------------------------------------- services
    backend: list[D] = []
    frontend: list[D] = []
    cluster_names = [c["name"] for c in cls]
    zones_of_hosts = sorted({h["zone"] for h in hs})
    racks_of_hosts = sorted({h["rack"] for h in hs})
    count = draw(st.sampled_from([0, 1, 2, 3, 3, 4, 5, 6]))
    svc_names = draw(names("s", count, max_size=name_limit))
    for k, name in enumerate(svc_names):
        is_frontend = k > 0 and draw(st.integers(0, 3)) == 0
        # Workers (backend services without ports) are modelled too.
        port_count = draw(st.integers(1 if is_frontend else 0, 3))
        ports = draw(
            st.lists(
                st.integers(1024, 65000), min_size=port_count, max_size=port_count, unique=True
            )
        )
        port_names = draw(
            st.lists(
                st.sampled_from(["http", "https", "http-admin", "grpc", "redis", "metrics", "p"]),
                min_size=len(ports),
                max_size=len(ports),
                unique=True,
            )
        )
        cluster = draw(st.sampled_from(cluster_names))
        if any(c["name"] == cluster and c["kind"] == "swarm" for c in cls):
            name = name[: 63 - len(blueprint_name) - len(cluster) - 2].rstrip("-")
        w: D = {
            "name": name,
            "cluster": cluster,
            "image": f"registry.example.net/team/{name[:40]}:1.{k}.0",
            "replicas": draw(st.integers(0, 5)),
        }
        if ports:
            w["ports"] = [{"name": n, "port": p} for n, p in zip(port_names, ports, strict=True)]
        health = draw(st.sampled_from(["default", "none", "http", "tcp", "command"]))
        if health == "none" or (not ports and health in ("http", "tcp")):
            w["health"] = {"check": "none"} if draw(st.booleans()) else None
        elif health == "http":
            w["health"] = {"check": "http", "path": "/ready", "port": draw(st.sampled_from(ports))}
        elif health == "tcp":
            w["health"] = {"check": "tcp", "port": draw(st.sampled_from(ports))}
        elif health == "command":
            w["health"] = {"check": "command", "command": ["/bin/check", "--quiet"]}
        if draw(st.integers(0, 3)) == 0:
            lo = draw(st.integers(1, 4))
            w["autoscaling"] = {"min_replicas": lo, "max_replicas": lo + draw(st.integers(0, 6))}
        if draw(st.booleans()):
            w["env"] = {"LOG_LEVEL": "info", "FEATURE_X": draw(st.sampled_from(["on", "off"]))}
        if draw(st.booleans()):
            w["secrets"] = [{"secret": secret(name[:50])}]
        if fw_zones and draw(st.booleans()):
            w["zone"] = draw(st.sampled_from(fw_zones))
        if draw(st.booleans()):
            w["namespace"] = draw(dns_label("ns-"))
        if draw(st.booleans()):
            w["spread"] = draw(st.sampled_from(["host", "rack", "zone"]))
        if draw(st.integers(0, 3)) == 0:
            w["placement"] = {
                "zones": draw(
                    st.lists(st.sampled_from(zones_of_hosts), min_size=1, max_size=2, unique=True)
                )
            }
            if draw(st.booleans()):
                w["placement"]["racks"] = draw(
                    st.lists(st.sampled_from(racks_of_hosts), min_size=1, max_size=2, unique=True)
                )
        if draw(st.integers(0, 3)) == 0:
            w["min_available"] = draw(st.integers(0, 2))
        on_podman = any(c["kind"] == "podman" and c["name"] == w["cluster"] for c in cls)
        if ports and draw(st.booleans()):
            w["expose"] = {
                "host": f"{name[:50].rstrip('-')}.apps.example.com",
                "tls": draw(st.booleans()),
            }
            if on_podman:  # ports published on the host: one replica per host
                w["replicas"] = min(w["replicas"], 1)
                w.pop("autoscaling", None)
        sec = draw(st.integers(0, 5))
        if sec == 0:
            w["security"] = {"run_as_root": True, "read_only_root_filesystem": False}
        elif sec == 1:
            w["security"] = {"capabilities_add": ["NET_BIND_SERVICE"]}

        def allowed(callee: D, caller: D = w) -> bool:
            # The firewall's default is deny: a call between zones needs an allow rule.
            src, dst = caller.get("zone"), callee.get("zone")
            if src is None or dst is None:
                return True
            pair = [r for r in rules if (r["source"], r["destination"]) == (src, dst)]
            return any(r["action"] == "allow" for r in pair)

        if is_frontend:
            reachable = [b["name"] for b in backend if b.get("ports") and allowed(b)]
            if reachable:
                w["backends"] = draw(st.lists(st.sampled_from(reachable), unique=True, max_size=2))
            frontend.append(w)
            continue
        # A service reaches the databases of its own cluster, and managed ones.
        usable = [d["name"] for d in databases if d.get("cluster", w["cluster"]) == w["cluster"]]
        if usable:
            w["databases"] = draw(st.lists(st.sampled_from(usable), unique=True, max_size=2))
        reachable = [
            b["name"]
            for b in backend
            if b.get("ports") and allowed(b) and b["cluster"] == w["cluster"]
        ]
        if reachable and draw(st.booleans()):
            w["depends_on"] = [draw(st.sampled_from(reachable))]
        kind = next(c["kind"] for c in cls if c["name"] == w["cluster"])
        claimable = pools_in(w["cluster"], "block", "filesystem")
        has_block = bool(pools_in(w["cluster"], "block"))
        if draw(st.integers(0, 2)) == 0 and (kind != "kubernetes" or has_block):
            vol: D = {"name": "data", "mount_path": "/var/lib/data", "size": "5Gi"}
            if claimable and draw(st.booleans()):
                vol["pool"] = draw(st.sampled_from(claimable))
            w["volumes"] = [vol]
            w["stateful"] = True
            if kind == "swarm":  # a local volume lives on one node: one replica there
                w["replicas"] = min(w["replicas"], 1)
                w.pop("autoscaling", None)
            w["name"] = name = name[:STATEFULSET_MAX].rstrip("-")  # its pods' revision label
            if kind == "swarm":  # a local volume lives on one node: one replica there
                w["replicas"] = min(w["replicas"], 1)
                w.pop("autoscaling", None)
        if draw(st.integers(0, 4)) == 0:
            w["command"] = ["/app/run", "--serve"]
        if draw(st.integers(0, 4)) == 0:
            w["kubernetes_api_access"] = True
        backend.append(w)

    # --------------------------------------------------------------- users
    groups = draw(names("g", draw(st.integers(0, 2)), max_size=30))
    accounts = []
    for k, acct in enumerate(draw(names("u", draw(st.integers(1, 3)), max_size=30))):
        a: D = {"name": acct, "email": f"{acct}@example.com"}
        if groups:
            a["groups"] = draw(st.lists(st.sampled_from(groups), unique=True, max_size=2))
        if draw(st.booleans()):
            a["ssh_keys"] = [f"{_KEY} {acct}@lab"]
        a["disabled"] = k > 0 and draw(st.integers(0, 4)) == 0
        accounts.append(a)
    bindings = []
    for role in draw(
        st.lists(
            st.sampled_from(["admin", "operator", "developer", "auditor"]), unique=True, max_size=3
        )
    ):
        subjects: D = {}
        if accounts and draw(st.booleans()):
            subjects["users"] = [draw(st.sampled_from([a["name"] for a in accounts]))]
        elif groups:
            subjects["groups"] = [draw(st.sampled_from(groups))]
        if subjects:
            bindings.append({"role": role, "environments": ["prod"], **subjects})
    identity: D = {"kind": "local"}
    if draw(st.integers(0, 3)) == 0:
        identity = {
            "kind": "oidc",
            "issuer": "https://sso.example.com",
            "client_id": "attonix",
            "client_secret": secret("oidc"),
        }

    # --------------------------------------------------------------- cicd, chef
    cicd: D = {}
    providers = draw(st.lists(st.sampled_from(["zuul", "github", "gitlab"]), unique=True))
    if "zuul" in providers:
        cicd["zuul"] = {
            "tenant": draw(dns_label("tenant-")),
            "url": "https://zuul.example.net",
            "pipelines": draw(
                st.lists(
                    st.sampled_from(["check", "gate", "post", "deploy", "periodic"]),
                    unique=True,
                    min_size=1,
                )
            ),
        }
    if "github" in providers or "zuul" in providers:
        cicd["github"] = {"organization": "example-org"}
    if "gitlab" in providers:
        cicd["gitlab"] = {"group": "example-group", "url": "https://gitlab.example.net"}
    pipelines = []
    sources = [s for s in ("github", "gitlab") if s in cicd]
    workload_names = [w["name"] for w in backend + frontend]
    listening = [w["name"] for w in backend + frontend if w.get("ports")]
    for k, pname in enumerate(
        draw(names("pl", len(providers) and draw(st.integers(0, 3)), max_size=40))
    ):
        provider = draw(st.sampled_from(providers))
        source = provider if provider in ("github", "gitlab") else draw(st.sampled_from(sources))
        pl: D = {
            "name": pname,
            "provider": provider,
            "source": source,
            "repository": f"example/repo-{k}",
            "stages": _stages(draw),
        }
        if draw(st.booleans()):
            pl["deploy_environment"] = "prod"
        if workload_names:
            pl["services"] = draw(
                st.lists(st.sampled_from(workload_names), unique=True, max_size=2)
            )
        pipelines.append(pl)
    if pipelines:
        cicd["pipelines"] = pipelines

    configuration: D = {}
    if draw(st.booleans()):
        configuration["chef"] = {
            "server_url": "https://chef.example.net",
            "organization": "example",
            "validation_secret": secret("chef"),
            "roles": [
                {"name": "base", "run_list": ["recipe[attonix_base]"], "hosts_with": ["all"]},
                {
                    "name": "lb",
                    "run_list": ["recipe[attonix_base::haproxy]"],
                    "hosts_with": ["load-balancer"],
                },
            ],
        }

    # --------------------------------------------------------------- ha
    load_balancers = []
    # Load balancers reach services that listen, and Kubernetes API servers.
    targets = listening + kube
    # Swarm has no ingress: a load balancer routes an exposed workload's host.
    kinds = {c["name"]: c["kind"] for c in cls}
    routed = [w for w in [*backend, *frontend] if "expose" in w and kinds[w["cluster"]] == "swarm"]
    if routed or (targets and draw(st.integers(0, 2)) > 0):
        lb_pool = spare or host_names
        lb_hosts = lb_pool[: draw(st.integers(1, min(2, len(lb_pool))))]
        for h in hs:
            if h["name"] in lb_hosts:
                h["roles"] = (
                    [*h["roles"], "load-balancer"]
                    if "load-balancer" not in h["roles"]
                    else h["roles"]
                )
        lb: D = {
            "name": draw(dns_label("lb-", max_size=40)),
            "hosts": lb_hosts,
            "frontends": [
                {
                    "name": f"fe-{k}",
                    "port": 8000 + k,
                    "protocol": draw(st.sampled_from(["tcp", "http", "https"])),
                    "backend": t,
                }
                for k, t in enumerate(
                    draw(st.lists(st.sampled_from(targets), unique=True, min_size=1, max_size=3))
                )
            ],
        }
        fronted = {f["backend"] for f in lb["frontends"] if f["protocol"] == "https"}
        for k, w in enumerate(routed):
            if w["name"] not in fronted:
                tls = w["expose"].get("tls", True)
                lb["frontends"].append(
                    {
                        "name": f"ex-{k}",
                        "port": 9000 + k,
                        "protocol": "https" if tls else draw(st.sampled_from(["http", "https"])),
                        "backend": w["name"],
                    }
                )
        if len(lb_hosts) > 1:
            lb["virtual_ip"] = "10.250.0.10"
        load_balancers.append(lb)

    doc: D = {
        "apiVersion": "attonix.io/v1",
        "kind": "DataCenter",
        "metadata": {
            "name": blueprint_name,
            "environment": "prod",
            "domain": "example.com",
        },
        "hosts": hs,
        "orchestration": {"clusters": cls},
        "storage": {"ceph": ceph, "openstack": openstack, "vsphere": vsphere},
        "security": {
            "tls": {
                "min_version": draw(st.sampled_from(["1.2", "1.3"])),
                "ca": {"name": "internal-ca", "common_name": "Example Internal CA"},
            },
            "encryption": {
                "in_transit": {
                    "internal_tls": draw(st.booleans()),
                    "mutual_tls": draw(st.booleans()),
                    "overlay_encryption": draw(st.booleans()),
                }
            },
            "access_control": {"bindings": bindings},
            "firewall": {
                "default_policy": "deny",
                "zones": [
                    {"name": z, "cidrs": [f"10.{100 + k}.0.0/16"]} for k, z in enumerate(fw_zones)
                ],
                "rules": rules,
            },
            "secrets": secrets,
        },
        "cicd": cicd,
        "configuration": configuration,
        "databases": databases,
        "services": {"backend": backend, "frontend": frontend},
        "users": {
            "identity_provider": identity,
            "groups": [{"name": g} for g in groups],
            "accounts": accounts,
        },
        "ha": {
            "failure_domain": draw(st.sampled_from(["host", "rack", "zone"])),
            "load_balancers": load_balancers,
        },
    }
    if draw(st.booleans()):
        doc["security"]["tls"]["acme"] = {"email": "ops@example.com"}
    return doc

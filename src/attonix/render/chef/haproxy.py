"""haproxy and keepalived for the blueprint's haproxy load balancers.

The haproxy configuration is produced here, in Python, as plain text, so that it can be checked
with ``haproxy -c`` without Chef. The cookbook's ``haproxy.cfg.erb`` is that same text, with
each load balancer's sections wrapped in a condition on the node's own load balancers: the only
thing Chef decides is which of them the node serves.

Backends: a backend service or frontend is reached on the hosts of its cluster — through the
ingress controller (443, or 80 for ``http``) on Kubernetes, on its first port (published on the
host) on Swarm and Podman. A Kubernetes cluster named as a backend is its API server (6443) on
the control-plane hosts. Retries, redispatch and ``retry-on all-retryable-errors`` with health
checks make a dying backend invisible to clients.

TLS: an ``https`` frontend whose backend speaks TLS itself (a Kubernetes ingress on 443, an API
server) passes TLS through (``mode tcp``). One whose backend speaks plain HTTP (a Swarm or
Podman service's port) terminates TLS here with the load balancer's certificate from the
internal CA, and routes only the workload's ``expose.host`` (and ``expose.path``) to it, as an
Ingress does on Kubernetes — validation requires such a frontend for every exposed Swarm
workload. The certificate is ``<cert_dir>/<load balancer>.pem`` (certificate chain and
key, delivered out of band, never rendered), at ``security.tls.min_version``, and HTTP is
balanced with health checks.

Headers: every HTTP-mode frontend whose backend is a blueprint frontend sends that frontend's
``content_security_policy`` with its responses (replacing any the server sent), so the
declared policy is the one browsers get.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint, Frontend, Host, LoadBalancer, LoadBalancerFrontend
from attonix.render import hosts
from attonix.render.base import RenderError

KUBE_API_PORT = 6443
#: Where each load balancer's certificate and key (one PEM file) are delivered.
CERT_DIR = "/etc/haproxy/certs"

_GLOBAL = """\
# Managed by attonix: haproxy for the load balancers of blueprint {name}.
global
    log /dev/log local0
    log /dev/log local1 notice
    chroot /var/lib/haproxy
    stats socket /run/haproxy/admin.sock mode 660 level admin
    stats timeout 30s
    user haproxy
    group haproxy
    daemon
    maxconn 20000

defaults
    log global
    mode tcp
    option dontlognull
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout check 5s
    # A failed attempt goes to another server, so clients do not see a backend dying.
    retries 3
    option redispatch
"""


#: Every server is checked each ``CHECK_INTER_SECONDS``; ``CHECK_FALL`` failures in a row take
#: it out, ``CHECK_RISE`` passes bring it back (deploy steps that replace one host at a time
#: wait by these, so the balancer has let a host go before its pods do).
CHECK_INTER_SECONDS = 2
CHECK_FALL = 3
CHECK_RISE = 2


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where a frontend's traffic goes: servers, their port, and how their health is checked."""

    servers: tuple[Host, ...]
    port: int
    health_path: str | None
    #: Whether the servers speak TLS themselves (then an https frontend passes TLS through).
    tls: bool = False


def upstream(bp: Blueprint, frontend: LoadBalancerFrontend) -> Upstream:
    """The servers behind ``frontend`` (see the module docstring for the mapping)."""
    name = frontend.backend.removeprefix("kubernetes-api:")
    workload = bp.workloads_by_name.get(name)
    if workload is None:
        cluster = bp.clusters_by_name.get(name)
        if cluster is None or cluster.kind != "kubernetes":
            raise RenderError(
                f"ha.load_balancers: frontend {frontend.name}: backend {frontend.backend!r} is "
                "neither a service nor a kubernetes cluster",
                hint="Name a backend service, a frontend, or a kubernetes cluster (its API).",
            )
        servers = [bp.hosts_by_name[n] for n in cluster.control_plane if n in bp.hosts_by_name]
        return Upstream(tuple(servers), KUBE_API_PORT, None, tls=True)
    cluster = bp.clusters_by_name[workload.cluster]
    servers = bp.cluster_hosts(cluster)
    check = workload.health_check()
    health = check.path if check is not None and check.check == "http" else None
    if cluster.kind == "kubernetes":
        port = 80 if frontend.protocol == "http" else 443
        return Upstream(
            tuple(servers), port, "/healthz" if health else None, tls=frontend.protocol != "http"
        )
    return Upstream(tuple(servers), workload.ports[0].port, health)


def certificate_path(lb: LoadBalancer, *, cert_dir: str = CERT_DIR) -> str:
    """The PEM file (chain and key) with which ``lb`` terminates TLS."""
    return f"{cert_dir.rstrip('/')}/{lb.name}.pem"


def terminates_tls(bp: Blueprint, frontend: LoadBalancerFrontend) -> bool:
    """Whether haproxy itself terminates TLS for ``frontend`` (https to a plain backend)."""
    return frontend.protocol == "https" and not upstream(bp, frontend).tls


def quoted(value: str) -> str:
    """``value`` as one double-quoted haproxy argument that is a log-format string (as
    ``http-response set-header`` takes): backslash, double quote and dollar (environment
    variables) are escaped for the configuration parser, ``%`` (a format variable) is doubled.
    The blueprint admits only printable ASCII, which needs nothing else."""
    if any(not " " <= c <= "~" for c in value):
        raise RenderError(f"haproxy: {value!r} is not printable ASCII on one line")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("%", "%%") + '"'


def _response_headers(bp: Blueprint, fe: LoadBalancerFrontend, mode: str) -> list[str]:
    """The headers the load balancer sets on the responses of a blueprint frontend."""
    w = bp.workloads_by_name.get(fe.backend)
    if mode != "http" or not isinstance(w, Frontend):
        return []
    policy = quoted(w.content_security_policy)
    return [f"    http-response set-header Content-Security-Policy {policy}"]


def _expose_routing(bp: Blueprint, fe: LoadBalancerFrontend, mode: str) -> list[str]:
    """Host and path routing for a Swarm or Podman workload's ``expose`` (what an Ingress does
    on Kubernetes): requests for another host, or outside the path, are refused with 404."""
    w = bp.workloads_by_name.get(fe.backend)
    if w is None or w.expose is None or mode != "http":
        return []
    cluster = bp.clusters_by_name.get(w.cluster)
    if cluster is None or cluster.kind == "kubernetes":
        return []  # the cluster's Ingress routes the host itself
    conditions = "expose_host" if w.expose.path == "/" else "expose_host expose_path"
    lines = [f"    acl expose_host hdr(host),field(1,:) -i {w.expose.host}"]
    if w.expose.path != "/":
        lines.append(f"    acl expose_path path_beg {w.expose.path}")
    return [*lines, f"    http-request deny deny_status 404 unless {conditions}"]


def _sections(bp: Blueprint, lb: LoadBalancer, *, cert_dir: str = CERT_DIR) -> str:
    bind_host = str(lb.virtual_ip) if lb.virtual_ip is not None else ""
    if lb.virtual_ip is not None and lb.virtual_ip.version == 6:
        bind_host = f"[{bind_host}]"
    min_tls = f"TLSv{bp.security.tls.min_version}"
    out: list[str] = []
    for fe in lb.frontends:
        up = upstream(bp, fe)
        terminate = fe.protocol == "https" and not up.tls
        mode = "http" if fe.protocol == "http" or terminate else "tcp"
        name = f"{lb.name}-{fe.name}"
        bind = f"    bind {bind_host}:{fe.port}"
        if terminate:
            crt = certificate_path(lb, cert_dir=cert_dir)
            bind += f" ssl crt {crt} ssl-min-ver {min_tls} alpn h2,http/1.1"
        out += ["", f"frontend {name}", bind, f"    mode {mode}"]
        if terminate:
            out += [
                "    option httplog",
                "    option forwardfor",
                "    http-request set-header X-Forwarded-Proto https",
                '    http-response set-header Strict-Transport-Security "max-age=31536000"',
            ]
        else:
            if fe.protocol == "https":
                out.append("    # TLS passes through to the backend, which terminates it.")
            out.append(f"    option {'httplog' if mode == 'http' else 'tcplog'}")
        out += _response_headers(bp, fe, mode)
        out += _expose_routing(bp, fe, mode)
        out += [
            f"    default_backend {name}",
            "",
            f"backend {name}",
            f"    mode {mode}",
            f"    balance {'roundrobin' if mode == 'http' else 'leastconn'}",
            "    retries 3",
            "    option redispatch",
            "    retry-on all-retryable-errors",
        ]
        if mode == "http" and (up.health_path or terminate):
            path = up.health_path or "/"
            out += [f"    option httpchk GET {path}", "    http-check expect status 200"]
        out.append(
            f"    default-server inter {CHECK_INTER_SECONDS}s fall {CHECK_FALL} rise {CHECK_RISE}"
        )
        if not up.servers:
            out.append(f"    # no hosts in the cluster behind {fe.backend}")
        for host in up.servers:
            address = f"[{host.address}]" if host.address.version == 6 else str(host.address)
            out.append(f"    server {host.name} {address}:{up.port} check")
    return "\n".join(out) + "\n"


def haproxy_lbs(bp: Blueprint) -> list[LoadBalancer]:
    """The load balancers haproxy serves (kind haproxy), in blueprint order."""
    return [lb for lb in bp.ha.load_balancers if lb.kind == "haproxy"]


def haproxy_config(bp: Blueprint, lbs: Sequence[LoadBalancer], *, cert_dir: str = CERT_DIR) -> str:
    """The complete haproxy.cfg for a node that serves ``lbs`` (certificates in ``cert_dir``)."""
    return _GLOBAL.format(name=bp.metadata.name) + "".join(
        _sections(bp, lb, cert_dir=cert_dir) for lb in lbs
    )


def haproxy_template(bp: Blueprint) -> str:
    """``haproxy.cfg.erb``: every load balancer's sections, each kept only on its own nodes."""
    parts = [_GLOBAL.format(name=bp.metadata.name)]
    for lb in haproxy_lbs(bp):
        parts.append(f"<% if @load_balancers.include?('{lb.name}') -%>\n")
        # ERB would run a "<%" of a header value as code: "<%%" is its literal "<%".
        parts.append(_sections(bp, lb).replace("<%", "<%%"))
        parts.append("<% end -%>\n")
    return "".join(parts)


def router_id(lb: LoadBalancer) -> int:
    """A stable VRRP virtual router id (1-255) for the load balancer, derived from its name."""
    return zlib.crc32(lb.name.encode()) % 255 + 1


def keepalived_attributes(bp: Blueprint, host: Host) -> list[dict[str, Any]]:
    """The node attributes keepalived.conf.erb needs for each load balancer ``host`` is in."""
    out: list[dict[str, Any]] = []
    for lb in hosts.load_balancers_of(bp, host):
        if lb.virtual_ip is None:
            continue
        members = [n for n in lb.hosts if n in bp.hosts_by_name]
        out.append(
            {
                "name": lb.name,
                "virtual_ip": str(lb.virtual_ip),
                "router_id": router_id(lb),
                # The first listed host is the preferred holder of the virtual IP.
                "priority": 150 - 10 * members.index(host.name),
                "unicast_src_ip": str(host.address),
                "peers": [str(bp.hosts_by_name[n].address) for n in members if n != host.name],
            }
        )
    return out


KEEPALIVED_TEMPLATE = """\
# Managed by attonix (Chef): VRRP moves each virtual IP to a healthy haproxy.
global_defs {
    enable_script_security
    script_user root
    router_id <%= node['hostname'] %>
}

vrrp_script chk_haproxy {
    script "/usr/bin/pgrep -x haproxy"
    interval 2
    fall 2
    rise 2
}
<% @load_balancers.each do |lb| -%>

vrrp_instance <%= lb['name'] %> {
    state BACKUP
    interface <%= @interface %>
    virtual_router_id <%= lb['router_id'] %>
    priority <%= lb['priority'] %>
    advert_int 1
    unicast_src_ip <%= lb['unicast_src_ip'] %>
    unicast_peer {
<% lb['peers'].each do |peer| -%>
        <%= peer %>
<% end -%>
    }
    virtual_ipaddress {
        <%= lb['virtual_ip'] %>
    }
    track_script {
        chk_haproxy
    }
}
<% end -%>
"""

"""cert-manager: a CA ClusterIssuer for the internal CA, an ACME ClusterIssuer for public
hosts, and Certificates for every exposed host and every internal TLS endpoint."""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Database
from attonix.blueprint.naming import derived
from attonix.render import workloads as wl
from attonix.render.kubernetes._context import DATABASES_NAMESPACE, Ctx, obj
from attonix.render.kubernetes.workloads import (
    headless_name,
    internal_tls_secret,
    is_stateful,
    public_tls_secret,
)

API = "cert-manager.io/v1"
ACME_ISSUER = "acme"

_KEYS = {
    "ecdsa-p256": {"algorithm": "ECDSA", "size": 256},
    "ecdsa-p384": {"algorithm": "ECDSA", "size": 384},
    "rsa-3072": {"algorithm": "RSA", "size": 3072},
    "rsa-4096": {"algorithm": "RSA", "size": 4096},
}


def ca_issuer_name(ctx: Ctx) -> str:
    """The ClusterIssuer that signs with the internal CA."""
    return ctx.bp.security.tls.ca.name


def issuers(ctx: Ctx) -> list[dict[str, Any]]:
    """The internal CA ClusterIssuer (CA secret referenced by name) and the ACME one."""
    tls = ctx.bp.security.tls
    out = [
        obj(
            API,
            "ClusterIssuer",
            tls.ca.name,
            namespace=None,
            labels=ctx.labels(tls.ca.name, component="certificate-issuer"),
            # The CA key pair lives in this Secret in cert-manager's namespace; the deploy
            # driver creates it from the vault. Only its name appears here.
            spec={"ca": {"secretName": tls.ca.name}},
        )
    ]
    if tls.acme is not None:
        out.append(
            obj(
                API,
                "ClusterIssuer",
                ACME_ISSUER,
                namespace=None,
                labels=ctx.labels(ACME_ISSUER, component="certificate-issuer"),
                spec={
                    "acme": {
                        "email": tls.acme.email,
                        "server": tls.acme.server,
                        "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account-key"},
                        "solvers": [
                            {"http01": {"ingress": {"ingressClassName": ctx.cluster.ingress_class}}}
                        ],
                    }
                },
            )
        )
    return out


_SERVER = ["digital signature", "key encipherment", "server auth"]


def certificate(
    ctx: Ctx,
    name: str,
    *,
    namespace: str,
    dns: list[str],
    secret: str | None = None,
    issuer: str | None = None,
    usages: list[str] | None = None,
) -> dict[str, Any]:
    """A cert-manager Certificate (internal CA and server usage unless told otherwise)."""
    secret = secret or name
    issuer = issuer or ca_issuer_name(ctx)
    usages = usages or list(_SERVER)
    ca = ctx.bp.security.tls.ca
    return obj(
        API,
        "Certificate",
        name,
        namespace=namespace,
        labels=ctx.labels(name, component="certificate"),
        spec={
            "secretName": secret,
            "secretTemplate": {"labels": ctx.base_labels()},
            "dnsNames": dns,
            "duration": f"{ca.certificate_validity_days * 24}h",
            "renewBefore": f"{ca.renew_before_days * 24}h",
            "privateKey": {**_KEYS[ca.key_algorithm], "rotationPolicy": "Always"},
            "usages": usages,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
        },
    )


def service_dns(name: str, namespace: str) -> list[str]:
    """The in-cluster DNS names of a Service."""
    return [
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    ]


def member_dns(headless: str, namespace: str) -> list[str]:
    """The names of a headless Service and of every pod it governs
    (``<pod>.<headless>.<namespace>.svc``, one wildcard label), which members of a StatefulSet
    or an operator's cluster dial each other at: without them, TLS between members fails
    hostname verification."""
    return [
        *service_dns(headless, namespace),
        f"*.{headless}.{namespace}.svc",
        f"*.{headless}.{namespace}.svc.cluster.local",
    ]


def workload_certificates(ctx: Ctx, w: wl.Workload) -> list[dict[str, Any]]:
    """The public certificate of an exposed host and the internal one of the Service."""
    ns = wl.namespace_of(ctx.bp, w)
    out = []
    if w.expose is not None and w.expose.tls:
        issuer = ACME_ISSUER if ctx.bp.security.tls.acme is not None else ca_issuer_name(ctx)
        out.append(
            certificate(
                ctx,
                public_tls_secret(w),
                namespace=ns,
                secret=public_tls_secret(w),
                dns=[w.expose.host],
                issuer=issuer,
                usages=["digital signature", "key encipherment", "server auth"],
            )
        )
    if ctx.bp.security.encryption.in_transit.internal_tls:
        mtls = ctx.bp.security.encryption.in_transit.mutual_tls
        dns = service_dns(w.name, ns)
        if is_stateful(w):
            dns.extend(member_dns(headless_name(w), ns))
        out.append(
            certificate(
                ctx,
                internal_tls_secret(w),
                namespace=ns,
                secret=internal_tls_secret(w),
                dns=dns,
                issuer=ca_issuer_name(ctx),
                usages=["digital signature", "key encipherment", "server auth"]
                + (["client auth"] if mtls else []),
            )
        )
    return out


def database_tls_secret(db: Database) -> str:
    """The Secret with a database's server certificate (and the CA in ``ca.crt``)."""
    return derived(db.name, "server-tls")


def database_certificate(ctx: Ctx, db: Database) -> dict[str, Any] | None:
    """The server certificate of an operator-run database (None when TLS is off)."""
    if not db.tls:
        return None
    # The operators' client Services, then the headless Service whose pod names members use
    # among themselves (MySQL group replication, MongoDB's replica set); CloudNativePG's
    # replicas stream from the ``-rw`` Service.
    services, headless = {
        "postgresql": ([f"{db.name}-rw", f"{db.name}-ro", f"{db.name}-r"], None),
        "mysql": ([db.name], f"{db.name}-instances"),
        "mongodb": ([], f"{db.name}-svc"),
    }[db.engine]
    dns: list[str] = []
    for s in services:
        dns.extend(service_dns(s, DATABASES_NAMESPACE))
    if headless is not None:
        dns.extend(member_dns(headless, DATABASES_NAMESPACE))
    return certificate(
        ctx,
        database_tls_secret(db),
        namespace=DATABASES_NAMESPACE,
        secret=database_tls_secret(db),
        dns=dns,
        issuer=ca_issuer_name(ctx),
        usages=["digital signature", "key encipherment", "server auth", "client auth"],
    )

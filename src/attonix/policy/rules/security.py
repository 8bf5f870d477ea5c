"""Security rules: TLS and the CA, encryption at rest and in transit, secrets in the blueprint."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.diagnostics import Path
from attonix.blueprint.model import Blueprint, Frontend
from attonix.policy.components import all_components, workloads
from attonix.policy.findings import Area, Context, Issue, Rule, Severity
from attonix.policy.secret_scan import literal_secret, looks_like_secret, model_strings

_TLS: Path = ("security", "tls")
_CA: Path = (*_TLS, "ca")
_AT_REST: Path = ("security", "encryption", "at_rest")
_IN_TRANSIT: Path = ("security", "encryption", "in_transit")


def _tls_minimum(ctx: Context) -> Iterator[Issue]:
    version = ctx.blueprint.security.tls.min_version
    if version in ("1.0", "1.1"):
        yield Issue(
            (*_TLS, "min_version"),
            "security/tls",
            f"TLS {version} is allowed; it has known attacks and is deprecated (RFC 8996)",
        )


def _tls_13(ctx: Context) -> Iterator[Issue]:
    if ctx.blueprint.security.tls.min_version == "1.2":
        yield Issue(
            (*_TLS, "min_version"),
            "security/tls",
            "TLS 1.2 is the minimum; TLS 1.3 removes legacy cipher suites and renegotiation",
        )


def _certificate_validity(ctx: Context) -> Iterator[Issue]:
    ca = ctx.blueprint.security.tls.ca
    if ca.certificate_validity_days >= ca.validity_days:
        yield Issue(
            (*_CA, "certificate_validity_days"),
            "security/ca",
            f"certificates are valid {ca.certificate_validity_days} days but the CA only "
            f"{ca.validity_days}: they would outlive their issuer",
        )


def _renewal(ctx: Context) -> Iterator[Issue]:
    ca = ctx.blueprint.security.tls.ca
    if ca.renew_before_days >= ca.certificate_validity_days:
        yield Issue(
            (*_CA, "renew_before_days"),
            "security/ca",
            f"certificates are renewed {ca.renew_before_days} days before expiry but are "
            f"valid only {ca.certificate_validity_days}: renewal never stops",
        )


def _at_rest(ctx: Context) -> Iterator[Issue]:
    at_rest = ctx.blueprint.security.encryption.at_rest
    for what in ("databases", "storage", "secrets"):
        if not getattr(at_rest, what):
            yield Issue(
                (*_AT_REST, what),
                "security/encryption",
                f"encryption at rest is disabled for {what}",
            )


def _weak_provider(ctx: Context) -> Iterator[Issue]:
    if ctx.blueprint.security.encryption.at_rest.provider == "aescbc":
        yield Issue(
            (*_AT_REST, "provider"),
            "security/encryption",
            "secrets are encrypted with AES-CBC, which has no integrity protection",
        )


def _internal_tls(ctx: Context) -> Iterator[Issue]:
    if not ctx.blueprint.security.encryption.in_transit.internal_tls:
        yield Issue(
            (*_IN_TRANSIT, "internal_tls"),
            "security/encryption",
            "traffic between services inside the data center is not encrypted",
        )


def _overlay(ctx: Context) -> Iterator[Issue]:
    if not ctx.blueprint.security.encryption.in_transit.overlay_encryption:
        yield Issue(
            (*_IN_TRANSIT, "overlay_encryption"),
            "security/encryption",
            "the container overlay network carries traffic between hosts unencrypted",
        )


def _env_secrets(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        for key, value in w.env.items():
            if literal_secret(key, value):
                yield Issue(
                    (*path, "env", key),
                    component,
                    f"env {key} of {component} holds a literal credential (value not shown)",
                )


def _component_at(index: dict[Path, str], path: Path) -> str:
    for end in range(len(path), 0, -1):
        found = index.get(path[:end])
        if found is not None:
            return found
    return f"blueprint/{path[0]}" if path else "blueprint/document"


def _embedded_secrets(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    index = {p: c for c, p in all_components(bp).items()}
    # env values with a credential-like name are ATX047's; report each value once.
    skip = {
        (*path, "env", key)
        for path, _, w in workloads(bp)
        for key, value in w.env.items()
        if literal_secret(key, value)
    }
    for path, text in model_strings(bp):
        if path in skip:
            continue
        kind = looks_like_secret(text)
        if kind is not None:
            component = _component_at(index, path)
            yield Issue(
                path,
                component,
                f"a value of {component} looks like {kind} (value not shown)",
            )


def _rotation(ctx: Context) -> Iterator[Issue]:
    for i, s in enumerate(ctx.blueprint.security.secrets):
        if s.rotation_days > 365:
            yield Issue(
                ("security", "secrets", i, "rotation_days"),
                f"secret/{s.name}",
                f"secret {s.name!r} is rotated only every {s.rotation_days} days",
            )


def csp_edges(bp: Blueprint, w: Frontend) -> list[str]:
    """What Attonix renders that sends the frontend's Content-Security-Policy: the haproxy
    load balancers' HTTP-mode frontends for it (plain ``http``, or ``https`` terminated in
    front of a Swarm or Podman cluster: TLS to a Kubernetes ingress passes through) and, on a
    Kubernetes cluster whose ingress allows the header, its Ingress. The renderers' tests hold
    them to this."""
    cluster = bp.clusters_by_name.get(w.cluster)
    kind = cluster.kind if cluster is not None else ""
    edges = [
        f"load balancer {lb.name} ({fe.name})"
        for lb in bp.ha.load_balancers
        if lb.kind == "haproxy"
        for fe in lb.frontends
        if fe.backend == w.name
        and (fe.protocol == "http" or (fe.protocol == "https" and kind != "kubernetes"))
    ]
    if (
        cluster is not None
        and kind == "kubernetes"
        and w.expose is not None
        and cluster.ingress_custom_headers
    ):
        edges.append(f"the Ingress of cluster {cluster.name}")
    return edges


def _csp_unsent(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    for i, w in enumerate(bp.services.frontend):
        if csp_edges(bp, w):
            continue
        cluster = bp.clusters_by_name.get(w.cluster)
        if cluster is not None and cluster.kind == "kubernetes" and w.expose is not None:
            hint = (
                f"Allow the header in the ingress controller of cluster {cluster.name} "
                "(global-allowed-response-headers: Content-Security-Policy in its ConfigMap) "
                "and set its 'ingress_custom_headers: true'; or send it from the frontend's "
                "server."
            )
        else:
            hint = (
                "Put it behind an haproxy load balancer's https (or http) frontend, or send "
                "the header from the frontend's own server."
            )
        yield Issue(
            ("services", "frontend", i, "content_security_policy"),
            f"frontend/{w.name}",
            f"nothing Attonix renders sends the Content-Security-Policy of frontend/{w.name}: "
            "its own server must",
            hint=hint,
        )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX040",
        title="TLS below 1.2 allowed",
        severity=Severity.high,
        area=Area.security,
        rationale="TLS 1.0 and 1.1 are deprecated (RFC 8996) and allow downgrade attacks.",
        fix='Set \'security.tls.min_version: "1.3"\' (or "1.2" for old clients).',
        check=_tls_minimum,
    ),
    Rule(
        id="ATX041",
        title="TLS 1.3 not required",
        severity=Severity.info,
        area=Area.security,
        rationale="TLS 1.3 drops legacy key exchange and cipher suites; 1.2 is acceptable but "
        "should be a deliberate choice for old clients.",
        fix="Set 'security.tls.min_version: \"1.3\"' once clients support it.",
        check=_tls_13,
    ),
    Rule(
        id="ATX042",
        title="Certificates outlive the CA",
        severity=Severity.medium,
        area=Area.security,
        rationale="A certificate issued near the end of the CA's life would be valid past its "
        "issuer; clients reject it and services fail at the CA's expiry.",
        fix="Make 'certificate_validity_days' much shorter than the CA's 'validity_days'.",
        check=_certificate_validity,
    ),
    Rule(
        id="ATX043",
        title="Certificate renewal window not shorter than validity",
        severity=Severity.medium,
        area=Area.security,
        rationale="If renew_before_days is not below the validity, every certificate is due for "
        "renewal as soon as it is issued.",
        fix="Use a 'renew_before_days' of about a third of 'certificate_validity_days'.",
        check=_renewal,
    ),
    Rule(
        id="ATX044",
        title="Encryption at rest disabled",
        severity=Severity.high,
        area=Area.security,
        rationale="Databases, volumes and secrets at rest must be encrypted so that disks, "
        "snapshots and backups do not leak them.",
        fix="Set 'security.encryption.at_rest' databases, storage and secrets to true.",
        check=_at_rest,
    ),
    Rule(
        id="ATX045",
        title="Weak encryption provider for secrets",
        severity=Severity.low,
        area=Area.security,
        rationale="AES-CBC lacks authentication; kms, aesgcm or secretbox detect tampering.",
        fix="Set 'security.encryption.at_rest.provider: kms' (or aesgcm / secretbox).",
        check=_weak_provider,
    ),
    Rule(
        id="ATX046",
        title="Internal traffic not encrypted",
        severity=Severity.high,
        area=Area.security,
        rationale="Without internal TLS, anyone on the data-center network reads tokens, "
        "passwords and data passing between services.",
        fix="Set 'security.encryption.in_transit.internal_tls: true'.",
        check=_internal_tls,
    ),
    Rule(
        id="ATX047",
        title="Overlay network not encrypted",
        severity=Severity.medium,
        area=Area.security,
        rationale="Container traffic between hosts crosses the physical network; the overlay "
        "should encrypt it (WireGuard, IPsec).",
        fix="Set 'security.encryption.in_transit.overlay_encryption: true'.",
        check=_overlay,
    ),
    Rule(
        id="ATX048",
        title="Plaintext credential in an environment variable",
        severity=Severity.critical,
        area=Area.security,
        rationale="A password or token written in the blueprint is in every clone, review and "
        "rendered manifest of it, and cannot be rotated without a commit.",
        fix="Declare it under 'security.secrets' and mount it with 'secrets:' on the service; "
        "remove the value from 'env' and rotate it.",
        check=_env_secrets,
    ),
    Rule(
        id="ATX049",
        title="Secret material embedded in the blueprint",
        severity=Severity.critical,
        area=Area.security,
        rationale="Private keys, access keys and tokens in the blueprint leak through version "
        "control and every artifact rendered from it.",
        fix="Move the value into the vault as a declared secret, reference it by name, and "
        "rotate it: it has been exposed.",
        check=_embedded_secrets,
    ),
    Rule(
        id="ATX050",
        title="Secret rotated less than yearly",
        severity=Severity.low,
        area=Area.security,
        rationale="Long-lived secrets widen the window in which a leaked copy is useful.",
        fix="Set 'rotation_days' to 365 or less (90 is usual).",
        check=_rotation,
    ),
    Rule(
        id="ATX051",
        title="Frontend's Content-Security-Policy not sent by Attonix",
        severity=Severity.medium,
        area=Area.security,
        rationale="A declared policy that no edge sends protects nothing: browsers enforce "
        "only the header they receive, and the frontend's server may not send it.",
        fix="Serve the frontend through an haproxy HTTP-mode frontend, or on Kubernetes let "
        "the ingress controller allow the header and set the cluster's "
        "'ingress_custom_headers: true'; otherwise send the header from the frontend's server.",
        check=_csp_unsent,
    ),
)

"""Service certificates of each environment, issued by its internal CA.

Issues TLS certificates for the blueprint's services, keeps their keys sealed in the vault and
renews them before they expire (a periodic job). The cryptography itself is in
``server/security/pki.py``; this module is the service that stores and rotates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.blueprint import Blueprint
from attonix.blueprint.model import Frontend, Service
from attonix.render.workloads import namespace_of
from attonix.server import audit, environments
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import Certificate, Environment, utcnow
from attonix.server.errors import NotFound
from attonix.server.schemas import CertificateOut
from attonix.server.security import pki
from attonix.server.security.envelope import Sealed
from attonix.server.vault import environment_row

CA_NAME = "ca"


def _aad(environment: str, name: str) -> bytes:
    return f"cert:{environment}/{name}".encode()


@dataclass
class RotationReport:
    """Which certificates were issued or renewed, and which were still fresh."""

    issued: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)


def service_names(bp: Blueprint) -> dict[str, list[str]]:
    """Each service and frontend of the blueprint, with the DNS names clients use for it."""
    out: dict[str, list[str]] = {}
    workloads: list[Service | Frontend] = [*bp.services.backend, *bp.services.frontend]
    for w in workloads:
        ns = namespace_of(bp, w)
        out[w.name] = [
            w.name,
            f"{w.name}.{ns}",
            f"{w.name}.{ns}.svc",
            f"{w.name}.{ns}.svc.cluster.local",
        ]
    return out


def _store(
    ctx: ServerContext, s: Session, env: Environment, name: str, kind: str, pair: pki.KeyPair
) -> None:
    info = pki.certificate_info(pair.cert_pem)
    row = s.execute(
        select(Certificate).where(Certificate.environment_id == env.id, Certificate.name == name)
    ).scalar_one_or_none()
    if row is None:
        row = Certificate(environment_id=env.id, name=name, kind=kind)
        s.add(row)
    row.cert_pem = pair.cert_pem.decode()
    row.key_sealed = ctx.keyring.seal(pair.key_pem, aad=_aad(env.name, name)).to_bytes()
    row.not_after = info["not_after"]
    row.issued_at = utcnow()


def _keypair(ctx: ServerContext, environment: str, row: Certificate) -> pki.KeyPair:
    key = ctx.keyring.open(Sealed.from_bytes(row.key_sealed), aad=_aad(environment, row.name))
    return pki.KeyPair(cert_pem=row.cert_pem.encode(), key_pem=key)


def rotate(
    ctx: ServerContext, *, environment: str, actor: Actor, now: dt.datetime | None = None
) -> RotationReport:
    """Create the CA if missing, then issue or renew every service certificate that needs it."""
    versions = environments.list_versions(ctx, environment, limit=1)
    if not versions:
        raise NotFound(f"Environment {environment!r} has no blueprint yet.")
    bp = environments.load_version(ctx, environment, versions[0].version).blueprint
    ca_spec = bp.security.tls.ca
    report = RotationReport()
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = {
            r.name: r
            for r in s.execute(
                select(Certificate).where(Certificate.environment_id == env.id)
            ).scalars()
        }
        ca_row = rows.get(CA_NAME)
        if ca_row is None or pki.needs_renewal(
            ca_row.cert_pem.encode(), renew_before_days=ca_spec.renew_before_days, now=now
        ):
            ca = pki.create_ca(
                common_name=ca_spec.common_name,
                key_algorithm=ca_spec.key_algorithm,
                validity_days=ca_spec.validity_days,
                now=now,
            )
            _store(ctx, s, env, CA_NAME, "ca", ca)
            (report.issued if ca_row is None else report.renewed).append(CA_NAME)
            rows.pop(CA_NAME, None)
            force = True  # a new CA re-issues every leaf
        else:
            ca = _keypair(ctx, environment, ca_row)
            force = False
        for name, dns in sorted(service_names(bp).items()):
            row = rows.get(name)
            stale = row is None or pki.needs_renewal(
                row.cert_pem.encode(), renew_before_days=ca_spec.renew_before_days, now=now
            )
            if not (stale or force):
                report.fresh.append(name)
                continue
            leaf = pki.issue_certificate(
                ca,
                common_name=name,
                dns_names=dns,
                validity_days=ca_spec.certificate_validity_days,
                now=now,
            )
            _store(ctx, s, env, name, "leaf", leaf)
            (report.issued if row is None else report.renewed).append(name)
        if report.issued or report.renewed:
            audit.record(
                s,
                actor,
                "pki.rotate",
                target=f"environment/{environment}",
                detail={"issued": report.issued, "renewed": report.renewed},
            )
    return report


def list_certificates(ctx: ServerContext, environment: str) -> list[CertificateOut]:
    """The CA and service certificates of an environment (public parts only)."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = s.execute(
            select(Certificate)
            .where(Certificate.environment_id == env.id)
            .order_by(Certificate.name)
        ).scalars()
        return [CertificateOut.model_validate(r) for r in rows]


def rotate_all(ctx: ServerContext, *, actor: Actor) -> dict[str, RotationReport]:
    """Rotate every environment that has a blueprint (the periodic job)."""
    with ctx.db.session() as s:
        names = list(s.execute(select(Environment.name).order_by(Environment.name)).scalars())
    out = {}
    for name in names:
        try:
            out[name] = rotate(ctx, environment=name, actor=actor)
        except NotFound:
            continue
    return out

"""The environment's internal CA over HTTP: list certificates, issue or renew them now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from attonix.server import certificates
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import NAME_PATTERN, CertificateOut

router = APIRouter(prefix="/environments/{env}/certificates", tags=["certificates"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


class RotationOut(BaseModel):
    """Certificates issued, renewed, or still fresh."""

    issued: list[str]
    renewed: list[str]
    fresh: list[str]


@router.get("", response_model=list[CertificateOut], name="list_certificates")
def list_certificates(
    env: Env, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.CERT_READ))]
) -> list[CertificateOut]:
    """The CA and service certificates (private keys stay sealed in the vault)."""
    return certificates.list_certificates(ctx, env)


@router.post("/rotate", response_model=RotationOut, name="rotate_certificates")
def rotate_certificates(
    env: Env,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.CERT_WRITE))],
) -> RotationOut:
    """Issue missing certificates and renew those close to expiry, now."""
    r = certificates.rotate(ctx, environment=env, actor=actor_of(request, p))
    return RotationOut(issued=r.issued, renewed=r.renewed, fresh=r.fresh)

"""The audit trail: read it, verify its hash chain, export it as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from attonix.server import audit
from attonix.server.auth.deps import Ctx, Require
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.db.models import AuditEntry
from attonix.server.schemas import AuditEntryOut, AuditVerifyOut

router = APIRouter(prefix="/audit", tags=["audit"])
Reader = Annotated[Principal, Depends(Require(Permission.AUDIT_READ))]


@router.get("", response_model=list[AuditEntryOut], name="list_audit")
def list_audit(
    ctx: Ctx,
    p: Reader,
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Entries after this sequence number.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditEntryOut]:
    """Audit entries in chain order, paged by sequence number."""
    with ctx.db.session() as s:
        q = select(AuditEntry).where(AuditEntry.seq > after)
        if action:
            q = q.where(AuditEntry.action == action)
        rows = s.execute(q.order_by(AuditEntry.seq).limit(limit)).scalars()
        return [AuditEntryOut(**audit.to_dict(e)) for e in rows]


@router.get("/verify", response_model=AuditVerifyOut, name="verify_audit")
def verify_audit(ctx: Ctx, p: Reader) -> AuditVerifyOut:
    """Recompute the hash chain; name every edited or deleted entry."""
    with ctx.db.session() as s:
        r = audit.verify(s)
        return AuditVerifyOut(ok=r.ok, checked=r.checked, problems=r.problems)


@router.get(
    "/export",
    name="export_audit",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
)
def export_audit(ctx: Ctx, p: Reader) -> StreamingResponse:
    """The whole chain as JSON lines."""

    def lines() -> Iterator[str]:
        with ctx.db.session() as s:
            yield from audit.export_lines(s)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )

"""The audit trail: read it, verify its hash chain, export it as JSON lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from attonix.server import audit
from attonix.server.auth.deps import Ctx, Require
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import AuditEntryOut, AuditVerifyOut

router = APIRouter(prefix="/audit", tags=["audit"])
Reader = Annotated[Principal, Depends(Require(Permission.AUDIT_READ))]


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    """``t`` in UTC (a time without a zone is read as UTC, the zone every entry is stored
    in), clamped to the representable range: 0001-01-01T00:00+01:00 is before any entry."""
    if t is None:
        return None
    if t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    try:
        return t.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.min if t.year == dt.MINYEAR else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)


#: Response header carrying the cursor of the next page (absent on the last page).
NEXT_CURSOR = "X-Next-Cursor"


@router.get("", response_model=list[AuditEntryOut], name="list_audit")
def list_audit(
    ctx: Ctx,
    p: Reader,
    response: Response,
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Entries after this sequence number.")
    ] = 0,
    before: Annotated[
        int,
        Query(ge=0, le=2**31 - 1, description="Entries before this sequence number (0: none)."),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Annotated[
        Literal["asc", "desc"], Query(description="Chain order (asc) or newest first (desc).")
    ] = "asc",
    action: Annotated[str | None, Query(max_length=64, description="Exact action.")] = None,
    actor: Annotated[str | None, Query(max_length=128, description="Exact actor name.")] = None,
    target: Annotated[
        str | None, Query(max_length=255, description="Targets starting with this text.")
    ] = None,
    environment: Annotated[
        str | None,
        Query(max_length=64, description="Entries concerning this environment."),
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="At or after this time.")] = None,
    until: Annotated[dt.datetime | None, Query(description="Before this time.")] = None,
) -> list[AuditEntryOut]:
    """Audit entries matching every filter given, paged by sequence number (keyset paging:
    every page costs the same, however deep): pass the ``X-Next-Cursor`` header of a page (its
    last ``seq``) as ``after`` (order asc) or ``before`` (order desc) for the next one."""
    q = audit.select_entries(
        after=after,
        before=before,
        order=order,
        limit=limit,
        action=action,
        actor=actor,
        target=target,
        environment=environment,
        since=_utc(since),
        until=_utc(until),
    )
    with ctx.db.session() as s:
        rows = audit.read_page(s, q)
        if len(rows) == limit:
            response.headers[NEXT_CURSOR] = str(rows[-1].seq)
        return [AuditEntryOut(**audit.to_dict(e)) for e in rows]


@router.get("/verify", response_model=AuditVerifyOut, name="verify_audit")
def verify_audit(ctx: Ctx, p: Reader) -> AuditVerifyOut:
    """Recompute the MAC chain and check it against the signed checkpoints kept outside the
    database; name every edited, deleted or re-sealed entry and a cut-off end."""
    with ctx.db.session() as s:
        r = audit.verify(s, checkpoint_file=ctx.settings.checkpoint_path())
        return AuditVerifyOut(
            ok=r.ok,
            checked=r.checked,
            problems=r.problems,
            warnings=r.warnings,
            checkpoints=r.checkpoints,
            seconds=round(r.seconds, 3),
            rate=round(r.rate, 1),
        )


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
